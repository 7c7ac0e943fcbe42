// What the service derives, it derives from what it stores: the de-identified instances of a real
// CT and a real GE 3D T1, uploaded through the server, harmonized as they lie in the blob store,
// agree with the originals' converted volume at random world points (nibabel + scipy).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/e2e/server_process.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::Quote;
using testing::Shell;

const fs::path kShared = TRIBUTARY_SHARED_DIR;
const fs::path kCompare = fs::path(TRIBUTARY_SOURCE_DIR) / "tests/e2e/compare_world_points.py";

TEST(ServerHarmonize, StoredInstancesHarmonizeLikeTheOriginals) {
  if (Shell("/usr/bin/python3 -c 'import nibabel, scipy'", false).exit_code != 0)
    GTEST_SKIP() << "python3-nibabel or python3-scipy is missing";
  fs::path dir = fs::temp_directory_path() / ("trib_srv_harm_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  int compared = 0;
  for (auto [dataset, modality] :
       {std::pair{"dcm_qa_ct_subset", "CT"}, std::pair{"dcm_qa_deident", "MR"}}) {
    fs::path in = kShared / "data/dicom" / dataset / "In";
    if (!fs::exists(in)) continue;
    SCOPED_TRACE(dataset);
    fs::path work = dir / dataset;
    testing::ServerProcess server(work / "data");
    ASSERT_TRUE(server.Start()) << testing::ReadFile(server.log());
    std::string token = server.AddCentre("site");
    CommandResult upload =
        Shell(server.Cli("upload " + Quote(in) + " --json --token " + token), false);
    ASSERT_EQ(upload.exit_code, 0) << upload.out;
    // Geometry only, no anti-aliasing: the harmonized voxels are then the converted volume
    // linearly interpolated at their world positions.
    testing::WriteFile(work / "recipe.json",
                       std::string(R"({"name": "geometry-only", "version": 1, "modality": ")") +
                           modality + R"(", "orientation": {"mode": "lossless"},
        "spacing": {"target_mm": 1, "interpolator": "linear", "anti_alias": false},
        "intensity": {"method": "none"}})");
    CommandResult harmonized =
        Shell(std::string(TRIBUTARY_CLI) + " harmonize " +
                  Quote(server.data_dir() / "blobs" / "sha256") + " --recipe " +
                  Quote(work / "recipe.json") + " --out " + Quote(work / "harmonized") + " --json",
              false);
    ASSERT_EQ(harmonized.exit_code, 0) << harmonized.out;
    nlohmann::json report = nlohmann::json::parse(harmonized.out);
    ASSERT_EQ(report["summary"]["harmonized"], 1) << harmonized.out;
    std::string nifti = report["series"][0]["volumes"][0]["outputs"][0]["path"];
    CommandResult converted = Shell(std::string(TRIBUTARY_CLI) + " convert " + Quote(in) +
                                        " --out " + Quote(work / "converted") + " --no-compress -q",
                                    false);
    ASSERT_EQ(converted.exit_code, 0) << converted.out;
    fs::path original;
    for (const auto& entry : fs::directory_iterator(work / "converted")) {
      if (entry.path().extension() == ".nii") original = entry.path();
    }
    CommandResult check =
        Shell("/usr/bin/python3 " + Quote(kCompare) + " " + Quote(nifti) + " " + Quote(original));
    EXPECT_EQ(check.exit_code, 0) << check.out;
    ++compared;
  }
  fs::remove_all(dir);
  if (compared == 0) GTEST_SKIP() << "reference data absent under " << kShared;
}

}  // namespace
}  // namespace tributary
