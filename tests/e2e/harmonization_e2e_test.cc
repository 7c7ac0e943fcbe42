// Harmonization through the service as operators run it: a real tributary-server (embedded
// PostgreSQL, one worker thread), the CLI, nibabel reading what was downloaded.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/hash.h"
#include "tests/e2e/harmonization_test_support.h"
#include "tests/e2e/server_process.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::Quote;
using testing::ReadFile;
using testing::ServerProcess;
using testing::Shell;
using testing::WriteFile;

const fs::path kShared = TRIBUTARY_SHARED_DIR;
const fs::path kCtSeries = kShared / "data" / "dicom" / "dcm_qa_ct_subset" / "In";

class HarmonizationE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("trib_h" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    server_ = std::make_unique<ServerProcess>(dir_ / "data");
    ASSERT_TRUE(server_->Start()) << ReadFile(server_->log());
    token_ = server_->AddCentre("north");
    ASSERT_FALSE(token_.empty());
  }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << ReadFile(server_->log()).substr(0, 20000);
    server_.reset();
    fs::remove_all(dir_);
  }
  // The CLI as the operator; the output parsed as JSON (null when it is not).
  nlohmann::json Json(const std::string& args, int expected_exit = 0) {
    CommandResult r = Shell(server_->Cli(args + " --json --token " + server_->operator_token()),
                            /*with_stderr=*/false);
    EXPECT_EQ(r.exit_code, expected_exit) << args << "\n" << r.out;
    try {
      return nlohmann::json::parse(r.out);
    } catch (...) {
      ADD_FAILURE() << args << ": not JSON: " << r.out;
      return {};
    }
  }
  void Upload(const fs::path& path) {
    CommandResult r =
        Shell(server_->Cli("upload " + Quote(path) + " --complete --token " + token_));
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }
  CommandResult Op(const std::string& args) {
    return Shell(server_->Cli(args + " --token " + server_->operator_token()));
  }
  // The one series of a modality.
  nlohmann::json SeriesOf(const std::string& modality) {
    for (const auto& s : Json("series list")) {
      if (s["modality"] == modality) return s;
    }
    ADD_FAILURE() << "no " << modality << " series";
    return {};
  }

  fs::path dir_;
  std::unique_ptr<ServerProcess> server_;
  std::string token_;
};

TEST_F(HarmonizationE2E, CompletedCtStudyIsHarmonizedWithCtDefaultAndDownloads) {
  if (!fs::exists(kCtSeries)) GTEST_SKIP() << kCtSeries << " is absent (../shared not mounted)";
  Upload(kCtSeries);
  CommandResult wait = Op("jobs wait --timeout 300");
  ASSERT_EQ(wait.exit_code, 0) << wait.out;

  nlohmann::json series = SeriesOf("CT");
  nlohmann::json shown = Json("series show " + std::to_string(series["id"].get<int>()) +
                              " --download " + Quote(dir_ / "dl"));
  ASSERT_EQ(shown["derivations"].size(), 1u) << shown;
  const auto& derivation = shown["derivations"][0];
  EXPECT_EQ(derivation["recipe"], "ct-default");
  EXPECT_EQ(derivation["inputs"], series["instances"]);
  EXPECT_FALSE(derivation["worker"].get<std::string>().empty());
  EXPECT_TRUE(derivation["software_versions"].contains("tributary")) << derivation;
  std::set<std::string> roles;
  fs::path nifti;
  for (const auto& output : derivation["outputs"]) {
    roles.insert(output["role"].get<std::string>());
    fs::path path = dir_ / "dl" / output["name"].get<std::string>();
    ASSERT_TRUE(fs::exists(path)) << path;
    EXPECT_EQ(ToHex(Sha256(ReadFile(path))), output["sha256"].get<std::string>()) << path;
    if (output["role"] == "nifti") nifti = path;
  }
  EXPECT_EQ(roles, (std::set<std::string>{"nifti", "sidecar", "qc_png"}));
  ASSERT_EQ(nifti.extension(), ".gz");

  // An independent reader: 1 mm isotropic, the RAS+ canonical affine, HU clipped to the recipe.
  CommandResult nib = Shell(
      "/usr/bin/python3 -c \"import sys, nibabel as nib, numpy as np; i = nib.load(sys.argv[1]); "
      "z = i.header.get_zooms()[:3]; a = i.affine; d = np.asarray(i.dataobj); "
      "assert np.allclose(z, 1, atol=1e-4), z; "
      "assert nib.aff2axcodes(a) == ('R', 'A', 'S'), nib.aff2axcodes(a); "
      "assert np.allclose(a[:3, :3], np.eye(3), atol=1e-4), a; "
      "assert d.min() >= -1024 and d.max() <= 3071, (d.min(), d.max()); print('ok')\" " +
      Quote(nifti));
  if (nib.out.find("No module named") != std::string::npos) {
    GTEST_SKIP() << "nibabel is not installed for /usr/bin/python3";
  }
  EXPECT_EQ(nib.exit_code, 0) << nib.out;

  // The same study completed again queues nothing new: the derivation exists.
  Upload(kCtSeries);
  EXPECT_EQ(Json("jobs list").size(), 1u);
}

TEST_F(HarmonizationE2E, SyntheticMrGetsMrDefault) {
  testing::WriteMrSeries(dir_ / "mr", "PID-MR", "1.2.826.0.1.3680043.2.1125.70");
  Upload(dir_ / "mr");
  CommandResult wait = Op("jobs wait --timeout 300");
  ASSERT_EQ(wait.exit_code, 0) << wait.out << Op("jobs list").out;
  nlohmann::json series = SeriesOf("MR");
  nlohmann::json shown = Json("series show " + std::to_string(series["id"].get<int>()));
  ASSERT_EQ(shown["derivations"].size(), 1u) << shown;
  EXPECT_EQ(shown["derivations"][0]["recipe"], "mr-default");
  // Nothing derived names the patient.
  for (const auto& e : fs::recursive_directory_iterator(server_->data_dir() / "blobs")) {
    if (!e.is_regular_file()) continue;
    EXPECT_EQ(ReadFile(e.path()).find("PID-MR"), std::string::npos) << e.path();
  }
  EXPECT_EQ(ReadFile(server_->log()).find("PID-MR"), std::string::npos);
}

TEST_F(HarmonizationE2E, FailedJobIsRetriedAndBadRecipeNamesTheField) {
  // A centre assignment that cannot apply: mr-default for this centre's CT.
  CommandResult assign = Op("recipes assign --centre north --modality CT mr-default");
  ASSERT_EQ(assign.exit_code, 0) << assign.out;
  testing::CtSliceSpec spec;
  for (int i = 0; i < 8; ++i) {
    spec.sop_uid = "1.2.826.0.1.3680043.2.1125.80.3." + std::to_string(i);
    spec.slice_position = i;
    auto file = testing::MakeCtSlice(spec);
    WriteFile(dir_ / "ct" / ("IM" + std::to_string(i)), testing::Encode(*file));
  }
  Upload(dir_ / "ct");
  CommandResult wait = Op("jobs wait --timeout 300");
  EXPECT_EQ(wait.exit_code, 1) << "a failed job makes `jobs wait` fail: " << wait.out;
  nlohmann::json failed = Json("jobs list --state failed");
  ASSERT_EQ(failed.size(), 1u) << Op("jobs list").out;
  EXPECT_EQ(failed[0]["recipe"], "mr-default");
  EXPECT_NE(failed[0]["last_error"].get<std::string>().find("MR"), std::string::npos) << failed;

  nlohmann::json retried = Json("jobs retry " + std::to_string(failed[0]["id"].get<int>()));
  EXPECT_EQ(retried["retried"], 1);
  nlohmann::json jobs = Json("jobs list");
  ASSERT_EQ(jobs.size(), 1u);
  // Re-queued: still waiting or running, or, as an idle worker polls every 0.5 s, already tried
  // again after the first failure (ISO times compare as text).
  EXPECT_TRUE(jobs[0]["state"] != "failed" || jobs[0]["started_at"].get<std::string>() >
                                                  failed[0]["finished_at"].get<std::string>())
      << "re-queued: " << jobs << " first failure: " << failed;
  EXPECT_EQ(Op("jobs wait --timeout 300").exit_code, 1) << "and it fails again, for good";

  // Reprocessing with the right recipe derives the series.
  nlohmann::json series = SeriesOf("CT");
  nlohmann::json queued =
      Json("reprocess --recipe ct-default --series " + std::to_string(series["id"].get<int>()));
  EXPECT_EQ(queued["job_ids"].size(), 1u) << queued;
  Op("jobs wait --timeout 300");
  nlohmann::json shown = Json("series show " + std::to_string(series["id"].get<int>()));
  ASSERT_EQ(shown["derivations"].size(), 1u) << shown;
  EXPECT_EQ(shown["derivations"][0]["recipe"], "ct-default");

  WriteFile(
      dir_ / "bad.json",
      R"({"name": "broken", "version": 1, "modality": "CT", "spacing": {"target_mm": [1, 0, 1]}})");
  CommandResult bad = Op("recipes add " + Quote(dir_ / "bad.json"));
  EXPECT_NE(bad.exit_code, 0) << bad.out;
  EXPECT_NE(bad.out.find("spacing.target_mm"), std::string::npos) << bad.out;

  WriteFile(dir_ / "good.json",
            R"({"name": "ct-2mm", "version": 1, "modality": "CT",
                "spacing": {"target_mm": [2, 2, 2]}})");
  nlohmann::json added = Json("recipes add " + Quote(dir_ / "good.json"));
  EXPECT_EQ(added["name"], "ct-2mm");
  bool listed = false;
  for (const auto& r : Json("recipes list")) listed |= r["sha256"] == added["sha256"];
  EXPECT_TRUE(listed);
  CommandResult show = Op("recipes show ct-2mm");
  EXPECT_EQ(show.exit_code, 0) << show.out;
  EXPECT_NE(show.out.find(added["sha256"].get<std::string>()), std::string::npos) << show.out;
}

}  // namespace
}  // namespace tributary
