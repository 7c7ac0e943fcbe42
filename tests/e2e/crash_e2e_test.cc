// Crash safety (label `slow`): the server is killed with SIGKILL at random moments of multi-stream
// uploads, and PostgreSQL is restarted under a running upload. Afterwards every file is stored
// exactly once, every acknowledged file is present, every instance's blob exists with its recorded
// digest, and no partial blob is visible.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "common/hash.h"
#include "provenance/repository.h"
#include "tests/e2e/server_process.h"
#include "tests/unit/synthetic_dicom.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::Quote;
using testing::ReadFile;
using testing::ServerProcess;
using testing::Shell;

constexpr int kRounds = 10;
constexpr int kFilesPerRound = 40;

class CrashSafety : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("trib_crash_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "in");
    server_ = std::make_unique<ServerProcess>(dir_ / "data");
    ASSERT_TRUE(server_->Start()) << ReadFile(server_->log());
    token_ = server_->AddCentre("crashtest");
    ASSERT_FALSE(token_.empty());
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }

  // A batch of 512x512 CT slices (512 KiB each) in a study of its own.
  void WriteBatch(int batch) {
    for (int i = 0; i < kFilesPerRound; ++i) {
      tributary::testing::CtSliceSpec spec;
      spec.rows = spec.columns = 512;
      spec.patient_id = "CRASH-" + std::to_string(batch % 3);
      spec.study_uid = "1.2.826.0.1.3680043.2.1125.70." + std::to_string(batch);
      spec.series_uid = spec.study_uid + ".1";
      spec.sop_uid = spec.study_uid + ".2." + std::to_string(i);
      spec.slice_position = i;
      auto file = tributary::testing::MakeCtSlice(spec);
      testing::WriteFile(dir_ / "in" / std::to_string(batch) / ("IM" + std::to_string(i)),
                         tributary::testing::Encode(*file));
    }
  }

  std::future<CommandResult> UploadInBackground() {
    std::string command =
        server_->Cli("upload " + Quote(dir_ / "in") + " --parallel 4 --json --token " + token_);
    return std::async(std::launch::async, [command] { return Shell(command); });
  }

  std::size_t BlobCount() const {
    std::size_t n = 0;
    std::error_code error;
    for (auto it =
             fs::recursive_directory_iterator(server_->data_dir() / "blobs" / "sha256", error);
         it != fs::recursive_directory_iterator(); it.increment(error)) {
      if (error) break;
      n += it->is_regular_file();
    }
    return n;
  }

  // Waits until the server has stored something new, so that what follows lands mid-upload.
  void WaitForProgress(std::size_t before) const {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (BlobCount() <= before && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Files the CLI says are safely stored, by the SHA-256 of the original.
  void Acknowledge(const CommandResult& run) {
    nlohmann::json report;
    // Retry notices go to standard error, which Shell() interleaves: the report starts at "{".
    std::size_t start = run.out.rfind("\n{\n") == std::string::npos ? run.out.find('{')
                                                                    : run.out.rfind("\n{\n") + 1;
    try {
      report = nlohmann::json::parse(run.out.substr(start == std::string::npos ? 0 : start));
    } catch (...) {
      ADD_FAILURE() << "upload printed no JSON: " << run.out;
      return;
    }
    for (const auto& f : report["files"]) {
      std::string outcome = f["outcome"];
      if (outcome == "STORED" || outcome == "ALREADY_STORED")
        acknowledged_.insert(f["sha256"].get<std::string>());
    }
  }

  fs::path dir_;
  std::unique_ptr<ServerProcess> server_;
  std::string token_;
  std::set<std::string> acknowledged_;
};

TEST_F(CrashSafety, KilledServerAndRestartedDatabaseLoseNothing) {
  std::mt19937 random(20261126);
  std::uniform_int_distribution<int> delay_ms(0, 120);
  int interrupted = 0;
  for (int round = 0; round < kRounds; ++round) {
    WriteBatch(round);
    std::size_t before = BlobCount();
    auto upload = UploadInBackground();
    WaitForProgress(before);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(random)));
    server_->Kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ASSERT_TRUE(server_->Start()) << "round " << round << ": " << ReadFile(server_->log());
    CommandResult run = upload.get();  // the CLI retries through the restart
    EXPECT_EQ(run.exit_code, 0) << "round " << round << ": " << run.out.substr(0, 2000);
    interrupted += run.out.find("retrying") != std::string::npos;
    Acknowledge(run);
  }
  EXPECT_GE(interrupted, kRounds / 2) << "most kills should land in the middle of an upload";

  // PostgreSQL restarted under a running upload: the client sees retryable errors and retries.
  WriteBatch(kRounds);
  std::size_t before_restart = BlobCount();
  auto upload = UploadInBackground();
  WaitForProgress(before_restart);
  fs::path pgdata = server_->data_dir() / "postgres" / "pgdata";
  std::string pg_ctl;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql"))
    pg_ctl = (e.path() / "bin" / "pg_ctl").string();
  std::string as_owner = ::geteuid() == 0 ? "runuser -u postgres -- " : "";
  // -l: the restarted postmaster must not inherit (and hold open) this test's output pipe.
  CommandResult restart =
      Shell(as_owner + pg_ctl + " -D " + Quote(pgdata) + " -l " +
            Quote(server_->data_dir() / "postgres" / "postgres.log") + " -m fast -w restart");
  EXPECT_EQ(restart.exit_code, 0) << restart.out;
  CommandResult during_restart = upload.get();
  EXPECT_EQ(during_restart.exit_code, 0) << during_restart.out.substr(0, 2000);
  EXPECT_NE(during_restart.out.find("retrying"), std::string::npos)
      << "the restart should have interrupted the upload: " << during_restart.out.substr(0, 500);
  Acknowledge(during_restart);

  // A final run: everything is stored, nothing is sent twice.
  CommandResult final_run =
      Shell(server_->Cli("upload " + Quote(dir_ / "in") + " --json --token " + token_));
  ASSERT_EQ(final_run.exit_code, 0) << final_run.out.substr(0, 2000);
  auto report = nlohmann::json::parse(final_run.out);
  const int total = (kRounds + 1) * kFilesPerRound;
  EXPECT_EQ(report["summary"]["ALREADY_STORED"], total);
  EXPECT_EQ(report["bytes_sent"], 0);
  std::set<std::string> all_digests;
  for (const auto& f : report["files"]) all_digests.insert(f["sha256"].get<std::string>());
  for (const std::string& digest : acknowledged_) EXPECT_TRUE(all_digests.count(digest)) << digest;
  EXPECT_EQ(acknowledged_.size(), static_cast<std::size_t>(total));

  // The database: one instance per file; every blob it names exists whole with its digest.
  auto repository = provenance::Repository::Connect(
      "postgresql:///tributary?host=" + (server_->data_dir() / "postgres" / "run").string() +
          "&user=tributary",
      1);
  ASSERT_TRUE(repository.ok()) << repository.status();
  provenance::Principal op;
  op.role = provenance::Role::kOperator;
  auto studies = (*repository)->ListStudies(op, "", 1000);
  ASSERT_TRUE(studies.ok());
  std::int64_t instances = 0;
  for (const auto& s : *studies) instances += s.instance_count;
  EXPECT_EQ(instances, total) << "every file stored exactly once";
  auto blobs = (*repository)->ListBlobs();
  ASSERT_TRUE(blobs.ok());
  EXPECT_EQ(blobs->size(), static_cast<std::size_t>(total));
  for (const auto& [sha256, size] : *blobs) {
    fs::path path = server_->data_dir() / "blobs" / "sha256" / sha256.substr(0, 2) /
                    sha256.substr(2, 2) / sha256;
    ASSERT_TRUE(fs::exists(path)) << sha256;
    std::string bytes = ReadFile(path);
    EXPECT_EQ(static_cast<std::int64_t>(bytes.size()), size);
    EXPECT_EQ(ToHex(Sha256(bytes)), sha256);
  }
  // No partial blob: every file in the store is named by its own content (unreferenced ones may be
  // left by a kill between the blob's rename and the commit; they are whole).
  for (const auto& e : fs::recursive_directory_iterator(server_->data_dir() / "blobs" / "sha256")) {
    if (e.is_regular_file()) {
      EXPECT_EQ(ToHex(Sha256(ReadFile(e.path()))), e.path().filename().string());
    }
  }
  EXPECT_TRUE(server_->Stop());
}

}  // namespace
}  // namespace tributary
