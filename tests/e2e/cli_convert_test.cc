// End-to-end: `tributary convert` on series written here with DCMTK; the NIfTI files are read back
// by an independent reader (nibabel, from Debian's /usr/bin/python3) and every DICOM pixel must sit
// where its headers put it.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/e2e/server_process.h"
#include "tests/unit/synthetic_dicom.h"
#include "tests/unit/synthetic_series.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;
using testing::SliceTruth;

using testing::Quote;
using ProcessRun = testing::CommandResult;

ProcessRun Execute(const std::string& command) { return testing::Shell(command, false); }

bool HaveNibabel() { return Execute("/usr/bin/python3 -c 'import nibabel'").exit_code == 0; }

// Reads a NIfTI file with nibabel into a float32 volume in LPS, with the header's xform codes.
struct NibabelImage {
  common::Volume volume;
  int qform_code = 0;
  int sform_code = 0;
  double max_qform_sform_difference = 0;
};

NibabelImage ReadWithNibabel(const fs::path& path) {
  const char* script = R"(
import json, sys, nibabel, numpy
img = nibabel.load(sys.argv[1])
data = numpy.asarray(img.dataobj, dtype=numpy.float64)
if data.ndim == 3: data = data[..., numpy.newaxis]
h = img.header
print(json.dumps({"shape": list(data.shape), "sform": img.get_sform().tolist(),
  "qform": img.get_qform().tolist(), "qcode": int(h["qform_code"]), "scode": int(h["sform_code"]),
  "data": data.flatten(order="F").tolist()}))
)";
  fs::path script_path =
      fs::temp_directory_path() / ("trib_nib_" + std::to_string(::getpid()) + ".py");
  std::ofstream(script_path) << script;
  ProcessRun run = Execute("/usr/bin/python3 " + Quote(script_path) + " " + Quote(path));
  fs::remove(script_path);
  NibabelImage image;
  EXPECT_EQ(run.exit_code, 0) << run.out;
  if (run.exit_code != 0) return image;
  nlohmann::json json = nlohmann::json::parse(run.out);
  image.qform_code = json["qcode"];
  image.sform_code = json["scode"];
  common::Volume& v = image.volume;
  for (int d = 0; d < 4; ++d) v.size[d] = json["shape"][d];
  const double flip[3] = {-1, -1, 1};  // RAS -> LPS
  for (int c = 0; c < 3; ++c) {
    double norm = 0;
    for (int r = 0; r < 3; ++r) norm += std::pow(json["sform"][r][c].get<double>(), 2);
    v.spacing[c] = std::sqrt(norm);
    for (int r = 0; r < 3; ++r)
      v.direction[3 * r + c] = flip[r] * json["sform"][r][c].get<double>() / v.spacing[c];
  }
  for (int r = 0; r < 3; ++r) v.origin[r] = flip[r] * json["sform"][r][3].get<double>();
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) {
      image.max_qform_sform_difference =
          std::max(image.max_qform_sform_difference,
                   std::abs(json["sform"][r][c].get<double>() - json["qform"][r][c].get<double>()));
    }
  }
  v.pixel_type = common::PixelType::kFloat32;
  std::vector<float> values;
  for (const auto& value : json["data"]) values.push_back(static_cast<float>(value.get<double>()));
  v.voxels.resize(values.size() * sizeof(float));
  std::memcpy(v.voxels.data(), values.data(), v.voxels.size());
  return image;
}

class CliConvert : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("trib_convert_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "in");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void WriteSeries(const std::vector<SliceTruth>& slices, const std::string& folder) {
    for (std::size_t i = 0; i < slices.size(); ++i) {
      auto file = testing::MakeSeriesSlice(slices[i], static_cast<int>(i));
      fs::create_directories(dir_ / "in" / folder);
      std::ofstream(dir_ / "in" / folder / ("IM" + std::to_string(i)), std::ios::binary)
          << testing::Encode(*file);
    }
  }

  fs::path dir_;
};

// An oblique 4D series: 3 positions x 2 time points.
std::vector<SliceTruth> Oblique4D() {
  double a = 25 * M_PI / 180;
  std::array<double, 3> row = {std::cos(a), 0, std::sin(a)};
  std::array<double, 3> col = {0, 1, 0};
  std::array<double, 3> normal = {-std::sin(a), 0, std::cos(a)};
  std::vector<SliceTruth> slices;
  for (std::size_t t = 0; t < 2; ++t) {
    for (int k = 0; k < 3; ++k) {
      SliceTruth s;
      s.protocol = "obl fmri/run 1";
      s.orientation = {row[0], row[1], row[2], col[0], col[1], col[2]};
      for (int i = 0; i < 3; ++i) s.position[i] = 10.0 * (i - 1) + 2.5 * k * normal[i];
      s.dx = 1.5;
      s.dy = 1.25;
      s.time = t;
      s.instance_number = static_cast<int>(t * 3 + k + 1);
      testing::FillPattern(s, static_cast<int>(t * 3 + k));
      slices.push_back(s);
    }
  }
  return slices;
}

TEST(CliConvertHelp, DocumentsEveryOption) {
  ProcessRun run = Execute(std::string(TRIBUTARY_CLI) + " convert --help");
  EXPECT_EQ(run.exit_code, 0);
  for (const char* option : {"--out", "--no-compress", "--json", "--quiet"}) {
    EXPECT_NE(run.out.find(option), std::string::npos) << option;
  }
}

TEST_F(CliConvert, WritesNiftiThatNibabelReadsWherePixelsBelong) {
  std::vector<SliceTruth> slices = Oblique4D();
  WriteSeries(slices, "obl");
  std::ofstream(dir_ / "in" / "notes.txt") << "not an image";
  ProcessRun run = Execute(std::string(TRIBUTARY_CLI) + " convert " + Quote(dir_ / "in") +
                           " --out " + Quote(dir_ / "out") + " --json");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  nlohmann::json report = nlohmann::json::parse(run.out);
  ASSERT_EQ(report["series"].size(), 1u);
  EXPECT_EQ(report["series"][0]["outcome"], "converted");
  EXPECT_EQ(report["summary"]["skipped_files"], 1);
  fs::path image = dir_ / "out" / "obl_fmri_run_1_2.nii.gz";
  ASSERT_TRUE(fs::exists(image));
  ASSERT_TRUE(fs::exists(dir_ / "out" / "obl_fmri_run_1_2.json"));
  nlohmann::json sidecar =
      nlohmann::json::parse(std::ifstream(dir_ / "out" / "obl_fmri_run_1_2.json"));
  EXPECT_EQ(sidecar["ProtocolName"], "obl fmri/run 1");
  EXPECT_DOUBLE_EQ(sidecar["RepetitionTime"].get<double>(), 2.0);
  EXPECT_TRUE(sidecar["TributaryReconstruction"].contains("FourD"));
  if (!HaveNibabel()) GTEST_SKIP() << "python3-nibabel is not installed for /usr/bin/python3";
  NibabelImage read = ReadWithNibabel(image);
  EXPECT_EQ(read.qform_code, 1);
  EXPECT_EQ(read.sform_code, 1);
  EXPECT_LT(read.max_qform_sform_difference, 1e-4);
  EXPECT_EQ(read.volume.size, (std::array<std::size_t, 4>{10, 8, 3, 2}));
  // Every pixel of the 6 slices (10 x 8 each) was found where its headers put it.
  EXPECT_EQ(testing::ExpectVoxelsWhereHeadersPutThem(read.volume, slices, 0), 6u * 10 * 8);
}

TEST_F(CliConvert, NoCompressWritesNiiAndFailedSeriesMakeTheExitNonZero) {
  std::vector<SliceTruth> good;
  for (int k = 0; k < 3; ++k) {
    SliceTruth s;
    s.protocol = "tilted";
    s.position = {0, 1.0 * k, 3.0 * k};  // gantry tilt: one row per slice
    testing::FillPattern(s, k);
    good.push_back(s);
  }
  WriteSeries(good, "tilted");
  std::vector<SliceTruth> bad = good;
  for (SliceTruth& s : bad) {
    s.series_uid = "1.2.826.0.1.3680043.2.1125.9.2";
    s.protocol = "broken";
  }
  bad.push_back(bad.front());  // a position repeated once only
  bad.back().instance_number = 7;
  WriteSeries(bad, "broken");
  ProcessRun run = Execute(std::string(TRIBUTARY_CLI) + " convert " + Quote(dir_ / "in") +
                           " --out " + Quote(dir_ / "out") + " --no-compress");
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_NE(run.out.find("converted  tilted_2"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("failed  broken_2"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("1 series converted, 1 failed"), std::string::npos) << run.out;
  ASSERT_TRUE(fs::exists(dir_ / "out" / "tilted_2.nii"));
  nlohmann::json sidecar = nlohmann::json::parse(std::ifstream(dir_ / "out" / "tilted_2.json"));
  EXPECT_TRUE(sidecar["TributaryReconstruction"].contains("Resampled"));
  EXPECT_TRUE(sidecar["TributaryReconstruction"].contains("GantryTiltDetectedDegrees"));
  if (!HaveNibabel()) GTEST_SKIP() << "python3-nibabel is not installed for /usr/bin/python3";
  NibabelImage read = ReadWithNibabel(dir_ / "out" / "tilted_2.nii");
  // Each slice is shifted one more row out of the first slice's field of view: 8, 7 and 6 rows
  // of 10 pixels stay on the grid.
  EXPECT_EQ(testing::ExpectVoxelsWhereHeadersPutThem(read.volume, good, 1e-3, true),
            10u * (8 + 7 + 6));
}

TEST_F(CliConvert, AMissingInputMakesTheExitNonZero) {
  WriteSeries({Oblique4D().front()}, "one");
  ProcessRun run = Execute(std::string(TRIBUTARY_CLI) + " convert " + Quote(dir_ / "in") + " " +
                           Quote(dir_ / "absent") + " --out " + Quote(dir_ / "out"));
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_NE(run.out.find("no such file or directory"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("1 series converted, 0 failed"), std::string::npos) << run.out;
}

// A folder the walk cannot read is reported and makes the run fail: a partial input set never
// looks complete. Root reads any folder, so then the CLI runs as `nobody` (setpriv).
TEST_F(CliConvert, AnUnreadableFolderIsReportedAndMakesTheExitNonZero) {
  WriteSeries({Oblique4D().front()}, "readable");
  WriteSeries({Oblique4D()[1]}, "locked");
  std::string as_user;
  if (::geteuid() == 0) {
    if (Execute("command -v setpriv").exit_code != 0) GTEST_SKIP() << "setpriv is not installed";
    as_user = "setpriv --reuid=nobody --regid=nogroup --clear-groups ";
    fs::permissions(dir_, fs::perms::all);  // nobody writes the output here
    for (const fs::path& p : {dir_ / "in", dir_ / "in" / "readable"}) {
      fs::permissions(p, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);
    }
    fs::permissions(dir_ / "in" / "readable" / "IM0",
                    fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  }
  fs::permissions(dir_ / "in" / "locked", fs::perms::none);
  ProcessRun run = Execute(as_user + TRIBUTARY_CLI + " convert " + Quote(dir_ / "in") + " --out " +
                           Quote(dir_ / "out"));
  fs::permissions(dir_ / "in" / "locked", fs::perms::owner_all);
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_NE(run.out.find("cannot read the folder"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("1 series converted, 0 failed"), std::string::npos) << run.out;
}

// --no-descriptions: free text from the scanner (here with a name in it) reaches neither the file
// names nor any output byte.
TEST_F(CliConvert, NoDescriptionsKeepsFreeTextOutOfNamesAndSidecars) {
  std::vector<SliceTruth> slices = Oblique4D();
  for (SliceTruth& s : slices) s.protocol = "SMITH^JOHN follow-up";
  WriteSeries(slices, "named");
  ProcessRun run = Execute(std::string(TRIBUTARY_CLI) + " convert " + Quote(dir_ / "in") +
                           " --out " + Quote(dir_ / "out") + " --no-descriptions");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  EXPECT_EQ(run.out.find("SMITH"), std::string::npos) << run.out;
  std::size_t outputs = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "out")) {
    ++outputs;
    EXPECT_EQ(entry.path().filename().string().rfind("series_2", 0), 0u) << entry.path();
    std::string bytes = testing::ReadFile(entry.path());
    if (entry.path().extension() == ".gz") {
      bytes = Execute("gzip -dc " + Quote(entry.path())).out;
    }
    EXPECT_EQ(bytes.find("SMITH"), std::string::npos) << entry.path();
  }
  EXPECT_EQ(outputs, 2u);  // .nii.gz and .json
  nlohmann::json sidecar = nlohmann::json::parse(std::ifstream(dir_ / "out" / "series_2.json"));
  EXPECT_FALSE(sidecar.contains("ProtocolName"));
  EXPECT_FALSE(sidecar.contains("SeriesDescription"));
  EXPECT_EQ(sidecar["SeriesNumber"], 2);
}

TEST_F(CliConvert, NothingToConvertIsAnError) {
  std::ofstream(dir_ / "in" / "readme.txt") << "no images here";
  ProcessRun run = Execute(std::string(TRIBUTARY_CLI) + " convert " + Quote(dir_ / "in") +
                           " --out " + Quote(dir_ / "out"));
  EXPECT_EQ(run.exit_code, 1) << run.out;
}

}  // namespace
}  // namespace tributary
