// Harmonization under failure and scale-out: a server killed with SIGKILL while jobs run finishes
// the queue after a restart; two `--role worker` processes on one database share the jobs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "provenance/repository.h"
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

class HarmonizationSlowE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("trib_hs" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    for (pid_t pid : workers_) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
    if (HasFailure() && server_) std::cerr << ReadFile(server_->log()).substr(0, 20000);
    server_.reset();
    fs::remove_all(dir_);
  }
  // Six studies of one series each (three MR, three CT), uploaded and completed.
  void UploadStudies() {
    std::string token = server_->AddCentre("east");
    ASSERT_FALSE(token.empty());
    for (int s = 0; s < 3; ++s) {
      testing::WriteMrSeries(dir_ / "in" / ("mr" + std::to_string(s)), "PID-" + std::to_string(s),
                             "1.2.826.0.1.3680043.2.1125.9" + std::to_string(s), 24);
      testing::CtSliceSpec spec;
      spec.patient_id = "PID-CT" + std::to_string(s);
      std::string root = "1.2.826.0.1.3680043.2.1125.8" + std::to_string(s);
      spec.study_uid = root + ".1";
      spec.series_uid = root + ".2";
      spec.frame_of_reference_uid = root + ".4";
      for (int i = 0; i < 24; ++i) {
        spec.sop_uid = root + ".3." + std::to_string(i);
        spec.slice_position = i;
        auto file = testing::MakeCtSlice(spec);
        testing::WriteFile(dir_ / "in" / ("ct" + std::to_string(s)) / ("IM" + std::to_string(i)),
                           testing::Encode(*file));
      }
    }
    CommandResult r =
        Shell(server_->Cli("upload " + Quote(dir_ / "in") + " --complete --token " + token));
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }
  std::unique_ptr<provenance::Repository> Connect() {
    auto repository = provenance::Repository::Connect(DatabaseUrl(), 2);
    EXPECT_TRUE(repository.ok()) << repository.status();
    return repository.ok() ? std::move(*repository) : nullptr;
  }
  std::string DatabaseUrl() const {
    return "postgresql:///tributary?host=" + (server_->data_dir() / "postgres" / "run").string() +
           "&user=tributary";
  }
  // Every job done, with one derivation per series; returns the workers that derived them.
  std::map<std::string, int> ExpectEachJobDoneOnce() {
    std::map<std::string, int> by_worker;
    auto repository = Connect();
    if (!repository) return by_worker;
    auto jobs = repository->ListJobs(std::nullopt);
    EXPECT_TRUE(jobs.ok());
    EXPECT_EQ(jobs->size(), 6u);
    for (const auto& job : *jobs) {
      EXPECT_EQ(job.state, provenance::JobState::kDone) << job.id << ": " << job.last_error;
      auto derivations = repository->ListDerivations(job.series_id);
      EXPECT_TRUE(derivations.ok());
      EXPECT_EQ(derivations->size(), 1u) << "series " << job.series_id;
      for (const auto& d : *derivations) ++by_worker[d.worker];
    }
    return by_worker;
  }

  fs::path dir_;
  std::unique_ptr<ServerProcess> server_;
  std::vector<pid_t> workers_;
};

TEST_F(HarmonizationSlowE2E, KilledServerFinishesTheQueueAfterRestart) {
  server_ =
      std::make_unique<ServerProcess>(dir_ / "data", std::vector<std::string>{"--job-lease", "6s"});
  ASSERT_TRUE(server_->Start()) << ReadFile(server_->log());
  UploadStudies();
  // Kill it while a job runs.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool running = false;
  while (!running && std::chrono::steady_clock::now() < deadline) {
    CommandResult r =
        Shell(server_->Cli("jobs list --state running --json --token " + server_->operator_token()),
              false);
    running = r.exit_code == 0 && nlohmann::json::parse(r.out).size() > 0;
    if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(running) << "no job ran";
  server_->Kill();

  ASSERT_TRUE(server_->Start()) << ReadFile(server_->log());
  CommandResult wait =
      Shell(server_->Cli("jobs wait --timeout 300 --token " + server_->operator_token()));
  EXPECT_EQ(wait.exit_code, 0) << wait.out;
  ExpectEachJobDoneOnce();
  EXPECT_TRUE(fs::is_empty(server_->data_dir() / "blobs" / "tmp"));
}

TEST_F(HarmonizationSlowE2E, TwoWorkerProcessesShareOneQueue) {
  server_ = std::make_unique<ServerProcess>(
      dir_ / "data", std::vector<std::string>{"--harmonization-workers", "0"});
  ASSERT_TRUE(server_->Start()) << ReadFile(server_->log());
  UploadStudies();
  for (int w = 0; w < 2; ++w) {
    pid_t pid = ::fork();
    if (pid == 0) {
      std::string log = (dir_ / ("worker" + std::to_string(w) + ".log")).string();
      freopen(log.c_str(), "w", stdout);
      freopen(log.c_str(), "a", stderr);
      std::string url = DatabaseUrl();
      std::string data = server_->data_dir().string();
      ::execl(TRIBUTARY_SERVER, TRIBUTARY_SERVER, "--role", "worker", "--database-url", url.c_str(),
              "--data-dir", data.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    workers_.push_back(pid);
  }
  CommandResult wait =
      Shell(server_->Cli("jobs wait --timeout 300 --token " + server_->operator_token()));
  EXPECT_EQ(wait.exit_code, 0) << wait.out << ReadFile(dir_ / "worker0.log");
  std::map<std::string, int> by_worker = ExpectEachJobDoneOnce();
  std::set<std::string> processes;
  for (const auto& [worker, count] : by_worker)
    processes.insert(worker.substr(0, worker.rfind('/')));
  EXPECT_EQ(processes.size(), 2u) << "both worker processes took jobs";
  for (pid_t pid : workers_) {
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "clean exit on SIGTERM";
  }
  workers_.clear();
}

}  // namespace
}  // namespace tributary
