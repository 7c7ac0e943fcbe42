// End-to-end: `tributary harmonize`, `models train` and `recipes show` as users run them; outputs
// read back by independent readers (nibabel, scipy and Python's hashlib from Debian's
// /usr/bin/python3).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/hash.h"
#include "tests/e2e/server_process.h"
#include "tests/unit/synthetic_dicom.h"
#include "tests/unit/synthetic_series.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::Quote;
using testing::Shell;

const fs::path kShared = TRIBUTARY_SHARED_DIR;
const fs::path kCompare = fs::path(TRIBUTARY_SOURCE_DIR) / "tests/e2e/compare_world_points.py";

bool HavePythonReaders() {
  return Shell("/usr/bin/python3 -c 'import nibabel, scipy'", false).exit_code == 0;
}

class CliHarmonize : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("trib_harm_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  CommandResult Cli(const std::string& args, bool with_stderr = true) const {
    return Shell(std::string(TRIBUTARY_CLI) + " " + args, with_stderr);
  }

  // A recipe without anti-aliasing or intensity step: harmonized voxels are then the converted
  // volume linearly interpolated at their world positions.
  fs::path GeometryOnlyRecipe(const std::string& modality) const {
    fs::path path = dir_ / ("geometry_" + modality + ".json");
    testing::WriteFile(path, R"({"name": "geometry-only", "version": 1, "modality": ")" + modality +
                                 R"(", "orientation": {"mode": "lossless"},
      "spacing": {"target_mm": 1, "interpolator": "linear", "anti_alias": false},
      "intensity": {"method": "none"}})");
    return path;
  }

  // Two synthetic MR series (different gain), 10 x 8 x 6 voxels each.
  void WriteMrSeries(const fs::path& folder, int series, double gain) const {
    for (int k = 0; k < 6; ++k) {
      testing::SliceTruth s;
      s.series_uid = "1.2.826.0.1.3680043.2.1125.11." + std::to_string(series);
      s.protocol = "t1_site" + std::to_string(series);
      s.position = {-5, -4, 2.0 * k};
      s.instance_number = k + 1;
      s.stored.assign(s.rows * s.columns, 0);
      for (unsigned r = 0; r < s.rows; ++r) {
        for (unsigned c = 0; c < s.columns; ++c) {
          bool inside = r > 1 && r < 6 && c > 1 && c < 8;
          s.stored[r * s.columns + c] =
              static_cast<int>(gain * (inside ? 100 + 3 * ((13 * r + 7 * c + 5 * k) % 50) : 2));
        }
      }
      auto file = testing::MakeSeriesSlice(s, k + 100 * series);
      testing::WriteFile(folder / ("s" + std::to_string(series) + "_" + std::to_string(k) + ".dcm"),
                         testing::Encode(*file));
    }
  }

  fs::path dir_;
};

// On the real CT and GE 3D T1: every sampled voxel of the harmonized volume equals the converted
// volume interpolated at the same world point, and the output is 1 mm RAS+.
TEST_F(CliHarmonize, RealSeriesAgreeWithTheConvertedVolumeAtWorldPoints) {
  if (!HavePythonReaders()) GTEST_SKIP() << "python3-nibabel or python3-scipy is missing";
  int compared = 0;
  for (auto [dataset, modality] :
       {std::pair{"dcm_qa_ct_subset", "CT"}, std::pair{"dcm_qa_deident", "MR"}}) {
    fs::path in = kShared / "data/dicom" / dataset / "In";
    if (!fs::exists(in)) continue;
    SCOPED_TRACE(dataset);
    fs::path harmonized = dir_ / dataset / "harmonized", converted = dir_ / dataset / "converted";
    CommandResult h =
        Cli("harmonize " + Quote(in) + " --recipe " + Quote(GeometryOnlyRecipe(modality)) +
                " --out " + Quote(harmonized) + " --json",
            false);
    ASSERT_EQ(h.exit_code, 0) << h.out;
    CommandResult c =
        Cli("convert " + Quote(in) + " --out " + Quote(converted) + " --no-compress -q", false);
    ASSERT_EQ(c.exit_code, 0) << c.out;
    nlohmann::json report = nlohmann::json::parse(h.out);
    ASSERT_EQ(report["summary"]["harmonized"], 1);
    std::string nifti = report["series"][0]["volumes"][0]["outputs"][0]["path"];
    std::string stem = report["series"][0]["volumes"][0]["stem"];
    CommandResult check = Shell("/usr/bin/python3 " + Quote(kCompare) + " " + Quote(nifti) + " " +
                                Quote(converted / (stem + ".nii")));
    EXPECT_EQ(check.exit_code, 0) << check.out;
    nlohmann::json figures = nlohmann::json::parse(check.out.substr(check.out.find('{')));
    EXPECT_GE(figures["points"].get<int>(), 500);
    CommandResult axes = Shell(
        "/usr/bin/python3 -c 'import nibabel, sys; i = nibabel.load(sys.argv[1]); "
        "print(\"\".join(nibabel.aff2axcodes(i.affine)), "
        "*[round(float(z), 6) for z in i.header.get_zooms()[:3]])' " +
            Quote(nifti),
        false);
    EXPECT_EQ(axes.out, "RAS 1.0 1.0 1.0\n");
    ++compared;
  }
  if (compared == 0) GTEST_SKIP() << "reference data absent under " << kShared;
}

// ct-default: canonical, 1 mm, HU within the clip range, every output listed with the SHA-256 of
// the file on disk, the sidecar naming the recipe by the hash `recipes show` prints.
TEST_F(CliHarmonize, CtDefaultOutputsAreListedDigestedAndDocumented) {
  fs::path in = kShared / "data/dicom/dcm_qa_ct_subset/In";
  if (!fs::exists(in)) GTEST_SKIP() << "reference data absent: " << in;
  if (!HavePythonReaders()) GTEST_SKIP() << "python3-nibabel or python3-scipy is missing";
  CommandResult h = Cli(
      "harmonize " + Quote(in) + " --recipe ct-default --out " + Quote(dir_ / "out") + " --json",
      false);
  ASSERT_EQ(h.exit_code, 0) << h.out;
  nlohmann::json volume = nlohmann::json::parse(h.out)["series"][0]["volumes"][0];
  std::map<std::string, std::string> paths;
  for (const nlohmann::json& file : volume["outputs"]) {
    std::string path = file["path"];
    EXPECT_EQ(file["sha256"], ToHex(Sha256(testing::ReadFile(path)))) << path;
    paths[file["role"]] = path;
  }
  ASSERT_EQ(paths.size(), 3u);  // nifti, qc, sidecar
  CommandResult range = Shell(
      "/usr/bin/python3 -c 'import nibabel, sys; i = nibabel.load(sys.argv[1]); d = i.get_fdata(); "
      "print(\"\".join(nibabel.aff2axcodes(i.affine)), d.min() >= -1024, d.max() <= 3071, "
      "int(i.header[\"qform_code\"]), int(i.header[\"sform_code\"]))' " +
          Quote(paths["nifti"]),
      false);
  EXPECT_EQ(range.out, "RAS True True 1 1\n");
  nlohmann::json sidecar = nlohmann::json::parse(testing::ReadFile(paths["sidecar"]));
  const nlohmann::json& about = sidecar["TributaryHarmonization"];
  CommandResult show = Cli("recipes show ct-default", false);
  ASSERT_EQ(show.exit_code, 0);
  std::string sha = show.out.substr(show.out.find("sha256: ") + 8, 64);
  EXPECT_EQ(about["RecipeSHA256"], sha);
  EXPECT_EQ(about["Recipe"]["name"], "ct-default");
  EXPECT_TRUE(about["Software"].contains("itk"));
  EXPECT_TRUE(about["Software"].contains("dcmtk"));
  EXPECT_EQ(about["QC"]["SpacingAfter"], nlohmann::json::array({1.0, 1.0, 1.0}));
  EXPECT_EQ(about["QC"]["SizeBefore"], nlohmann::json::array({512.0, 512.0, 28.0, 1.0}));
}

// The hash `recipes show` prints is the SHA-256 of the canonical document (sorted keys, no
// whitespace), as Python computes it from the shown JSON.
TEST_F(CliHarmonize, RecipeHashIsTheSha256OfTheCanonicalDocument) {
  for (const char* name : {"ct-default", "mr-default", "pet-default"}) {
    CommandResult show = Cli(std::string("recipes show ") + name, false);
    ASSERT_EQ(show.exit_code, 0) << show.out;
    std::size_t at = show.out.find("sha256: ");
    ASSERT_NE(at, std::string::npos);
    testing::WriteFile(dir_ / "shown.json", show.out.substr(0, at));
    CommandResult python = Shell(
        "/usr/bin/python3 -c 'import hashlib, json, sys; d = json.load(open(sys.argv[1])); "
        "print(hashlib.sha256(json.dumps(d, sort_keys=True, separators=(\",\", \":\"))"
        ".encode()).hexdigest())' " +
            Quote(dir_ / "shown.json"),
        false);
    EXPECT_EQ(python.out, show.out.substr(at + 8, 64) + "\n") << name;
  }
  CommandResult list = Cli("recipes list", false);
  EXPECT_NE(list.out.find("mr-default"), std::string::npos);
}

TEST_F(CliHarmonize, InvalidRecipeIsRefusedNamingTheField) {
  testing::WriteFile(
      dir_ / "bad.json",
      R"({"name": "bad", "version": 1, "modality": "MR", "spacing": {"target_mm": -1}})");
  WriteMrSeries(dir_ / "in", 1, 1.0);
  CommandResult h = Cli("harmonize " + Quote(dir_ / "in") + " --recipe " +
                        Quote(dir_ / "bad.json") + " --out " + Quote(dir_ / "out"));
  EXPECT_EQ(h.exit_code, 2) << h.out;
  EXPECT_NE(h.out.find("spacing.target_mm"), std::string::npos) << h.out;
  CommandResult show = Cli("recipes show " + Quote(dir_ / "bad.json"));
  EXPECT_NE(show.exit_code, 0);
  EXPECT_NE(show.out.find("spacing.target_mm"), std::string::npos) << show.out;
}

// models train: one series is refused with the reason; two train a model whose file's SHA-256 is
// its id, and harmonizing with it names it in the sidecar.
TEST_F(CliHarmonize, NyulModelTrainsOnTwoSeriesAndIsUsedByHarmonize) {
  WriteMrSeries(dir_ / "one", 1, 1.0);
  CommandResult refused = Cli("models train --method nyul --recipe mr-default --out " +
                              Quote(dir_ / "refused.json") + " " + Quote(dir_ / "one"));
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_NE(refused.out.find("at least two"), std::string::npos) << refused.out;
  EXPECT_FALSE(fs::exists(dir_ / "refused.json"));

  WriteMrSeries(dir_ / "two", 1, 1.0);
  WriteMrSeries(dir_ / "two", 2, 2.5);
  CommandResult trained = Cli("models train --method nyul --recipe mr-default --out " +
                              Quote(dir_ / "model.json") + " " + Quote(dir_ / "two"));
  ASSERT_EQ(trained.exit_code, 0) << trained.out;
  std::string digest = ToHex(Sha256(testing::ReadFile(dir_ / "model.json")));
  EXPECT_NE(trained.out.find("model " + digest), std::string::npos) << trained.out;
  nlohmann::json model = nlohmann::json::parse(testing::ReadFile(dir_ / "model.json"));
  EXPECT_EQ(model["method"], "nyul");
  EXPECT_EQ(model["training_series"].size(), 2u);

  CommandResult h =
      Cli("harmonize " + Quote(dir_ / "one") + " --recipe mr-default --model " +
              Quote(dir_ / "model.json") + " --out " + Quote(dir_ / "out") + " --json",
          false);
  ASSERT_EQ(h.exit_code, 0) << h.out;
  nlohmann::json volume = nlohmann::json::parse(h.out)["series"][0]["volumes"][0];
  std::string sidecar_path;
  for (const nlohmann::json& file : volume["outputs"]) {
    if (file["role"] == "sidecar") sidecar_path = file["path"];
  }
  nlohmann::json sidecar = nlohmann::json::parse(testing::ReadFile(sidecar_path));
  EXPECT_EQ(sidecar["TributaryHarmonization"]["ModelSHA256"], digest);
  EXPECT_EQ(sidecar["TributaryReconstruction"]["IntensityMethod"], "nyul");
  // The recipe is recorded as given (mr-default, z-score), the one its SHA-256 names.
  const nlohmann::json& recipe = sidecar["TributaryHarmonization"]["Recipe"];
  EXPECT_EQ(recipe["intensity"]["method"], "zscore");
  EXPECT_EQ(sidecar["TributaryHarmonization"]["RecipeSHA256"],
            ToHex(Sha256(recipe.dump(-1, ' ', false))))
      << "the hash of the recorded canonical recipe";
}

}  // namespace
}  // namespace tributary
