// Issue 12, many servers and workers: one PostgreSQL, one S3 object store (Debian's Swift with
// s3api), two servers and two separate worker processes. Uploads go through both servers, jobs
// spread over both workers; one server and one worker are SIGKILLed part-way. At the end every
// acknowledged file is stored once, every job is done exactly once and nothing is left leased; a
// cohort exported through the surviving server streams its files from the object store.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "provenance/repository.h"
#include "services/postgres_cluster.h"
#include "tests/e2e/harmonization_test_support.h"
#include "tests/e2e/server_process.h"
#include "tests/support/swift_s3_server.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::Quote;
using testing::ReadFile;
using testing::ServerProcess;
using testing::Shell;
using testing::WriteFile;

constexpr int kStudies = 8, kSlices = 24;

class ScaleOutE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("trib_scale_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto cluster = services::PostgresCluster::Start((dir_ / "pg").string());
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    auto swift = test_support::SwiftS3Server::Start();
    ASSERT_TRUE(swift.ok()) << swift.status();
    swift_ = std::move(*swift);
    ASSERT_TRUE(swift_->CreateBucket("tributary").ok()) << swift_->LogTail();
    credentials_ = dir_ / "s3.credentials";
    WriteFile(credentials_, "[default]\naws_access_key_id = " + swift_->access_key() +
                                "\naws_secret_access_key = " + swift_->secret_key() + "\n");
    fs::permissions(credentials_, fs::perms::owner_read | fs::perms::owner_write);
    key_ = dir_ / "deid.key";
    CommandResult keygen = Shell(std::string(TRIBUTARY_CLI) + " keygen --out " + Quote(key_));
    ASSERT_EQ(keygen.exit_code, 0) << keygen.out;
  }
  void TearDown() override {
    for (pid_t pid : workers_) {
      if (pid <= 0) continue;
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
    if (HasFailure()) {
      for (auto* s : {a_.get(), b_.get()})
        if (s) std::cerr << ReadFile(s->log()).substr(0, 8000);
      for (int w = 0; w < 2; ++w)
        std::cerr << ReadFile(dir_ / ("worker" + std::to_string(w) + ".log")).substr(0, 8000);
    }
    a_.reset();
    b_.reset();
    swift_.reset();
    cluster_.reset();
    fs::remove_all(dir_);
  }
  // The options every server and worker shares: the database, the object store, the key.
  std::vector<std::string> Shared() const {
    return {"--database-url",        cluster_->url(),       "--blob-store", "s3://tributary/blobs",
            "--s3-endpoint",         swift_->endpoint(),    "--s3-region",  swift_->region(),
            "--s3-credentials-file", credentials_.string(), "--key-file",   key_.string()};
  }
  std::unique_ptr<ServerProcess> StartServer(const std::string& name) {
    std::vector<std::string> args = Shared();
    args.insert(args.end(), {"--harmonization-workers", "0"});
    auto server = std::make_unique<ServerProcess>(dir_ / name, args);
    EXPECT_TRUE(server->Start()) << ReadFile(server->log());
    return server;
  }
  pid_t StartWorker(int w) {
    pid_t pid = ::fork();
    if (pid == 0) {
      std::string log = (dir_ / ("worker" + std::to_string(w) + ".log")).string();
      if (!freopen(log.c_str(), "w", stdout) || !freopen(log.c_str(), "a", stderr)) ::_exit(126);
      std::vector<std::string> args = {TRIBUTARY_SERVER,
                                       "--role",
                                       "worker",
                                       "--data-dir",
                                       (dir_ / ("w" + std::to_string(w))).string(),
                                       "--job-lease",
                                       "4s",
                                       "--harmonization-workers",
                                       "1"};
      for (const auto& a : Shared()) args.push_back(a);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    return pid;
  }
  std::unique_ptr<provenance::Repository> Connect() {
    auto repository = provenance::Repository::Connect(cluster_->url(), 2);
    EXPECT_TRUE(repository.ok()) << repository.status();
    return repository.ok() ? std::move(*repository) : nullptr;
  }
  nlohmann::json Json(const ServerProcess& server, const std::string& args) {
    CommandResult r = Shell(server.Cli(args + " --json"), false);
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << Shell(server.Cli(args)).out;
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  fs::path TokenFile(const std::string& name, const std::string& token) {
    fs::path path = dir_ / (name + ".token");
    WriteFile(path, token + "\n");
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
    return path;
  }

  fs::path dir_, credentials_, key_;
  std::unique_ptr<services::PostgresCluster> cluster_;
  std::unique_ptr<test_support::SwiftS3Server> swift_;
  std::unique_ptr<ServerProcess> a_, b_;
  std::vector<pid_t> workers_;
};

TEST_F(ScaleOutE2E, TwoServersTwoWorkersSurviveKills) {
  // Both start at once on the empty database: the schema migrations run under an advisory lock.
  std::thread start_a([&] { a_ = StartServer("a"); });
  b_ = StartServer("b");
  start_a.join();
  ASSERT_TRUE(a_ && b_);
  ASSERT_FALSE(HasFailure());
  fs::path north = TokenFile("north", a_->AddCentre("north"));
  fs::path south = TokenFile("south", b_->AddCentre("south"));
  for (int s = 0; s < kStudies; ++s) {
    std::string folder = s < kStudies / 2 ? "north" : "south";
    testing::WriteMrSeries(dir_ / folder / ("study" + std::to_string(s)),
                           "PID-" + std::to_string(s),
                           "1.2.826.0.1.3680043.2.1125.6" + std::to_string(s), kSlices);
  }
  workers_ = {StartWorker(0), StartWorker(1)};

  // North uploads through server A, which is killed part-way; south through server B meanwhile.
  pid_t uploader = ::fork();
  if (uploader == 0) {
    std::string command = "exec " +
                          a_->Cli("upload " + Quote(dir_ / "north") +
                                  " --parallel 2 --complete --token-file " + Quote(north)) +
                          " > /dev/null 2>&1";
    ::execl("/bin/sh", "sh", "-c", command.c_str(), nullptr);
    ::_exit(127);
  }
  std::thread south_upload([&] {
    CommandResult r = Shell(b_->Cli("upload " + Quote(dir_ / "south") +
                                    " --parallel 2 --complete --json --token-file " + Quote(south)),
                            false);
    EXPECT_EQ(r.exit_code, 0) << r.out;
  });
  auto repository = Connect();
  ASSERT_TRUE(repository);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::int64_t north_stored = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto centres = repository->ListCentres();
    ASSERT_TRUE(centres.ok());
    for (const auto& c : *centres)
      if (c.name == "north") north_stored = c.instance_count;
    if (north_stored >= 10) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  a_->Kill();
  ::kill(uploader, SIGKILL);  // its gateway gives up on A and turns to B
  ::waitpid(uploader, nullptr, 0);
  south_upload.join();
  ASSERT_GE(north_stored, 10) << "server A stored nothing before it was killed";

  // The gateway sends the whole folder again through B: what A acknowledged is not sent again.
  nlohmann::json resumed =
      Json(*b_, "upload " + Quote(dir_ / "north") + " --complete --token-file " + Quote(north));
  const int stored_again = resumed["summary"].value("STORED", 0);
  const int already = resumed["summary"].value("ALREADY_STORED", 0);
  EXPECT_EQ(stored_again + already, kStudies / 2 * kSlices) << resumed;
  EXPECT_GE(already, north_stored) << "every file A stored is known to B: " << resumed;

  // Kill worker 0 while it holds a job, once it has finished one.
  bool killed = false;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  const std::string worker0 = ":" + std::to_string(workers_[0]) + ":";
  while (!killed && std::chrono::steady_clock::now() < deadline) {
    auto jobs = repository->ListJobs(std::nullopt);
    ASSERT_TRUE(jobs.ok());
    bool done_by_0 = false, running_on_0 = false;
    for (const auto& job : *jobs) {
      if (job.state == provenance::JobState::kRunning &&
          job.lease_owner.find(worker0) != std::string::npos)
        running_on_0 = true;
      if (job.state == provenance::JobState::kDone) {
        auto derivations = repository->ListDerivations(job.series_id);
        for (const auto& d : derivations.value())
          done_by_0 |= d.worker.find(worker0) != std::string::npos;
      }
    }
    if (done_by_0 && running_on_0) {
      ::kill(workers_[0], SIGKILL);
      ::waitpid(workers_[0], nullptr, 0);
      workers_[0] = -1;
      killed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(killed) << "worker 0 never held a job after finishing one";

  CommandResult wait = Shell(
      b_->Cli("jobs wait --timeout 300 --token-file " + Quote(b_->data_dir() / "operator.token")));
  ASSERT_EQ(wait.exit_code, 0) << wait.out;

  // Every file stored once; every job done once, by both workers, nothing leased.
  auto centres = repository->ListCentres();
  ASSERT_TRUE(centres.ok());
  std::int64_t instances = 0;
  for (const auto& c : *centres) instances += c.instance_count;
  EXPECT_EQ(instances, kStudies * kSlices);
  auto jobs = repository->ListJobs(std::nullopt);
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->size(), static_cast<std::size_t>(kStudies));
  std::set<std::string> processes;
  std::set<std::string> blobs;
  for (const auto& job : *jobs) {
    EXPECT_EQ(job.state, provenance::JobState::kDone) << job.id << ": " << job.last_error;
    EXPECT_TRUE(job.lease_owner.empty()) << job.id << " still leased to " << job.lease_owner;
    auto derivations = repository->ListDerivations(job.series_id);
    ASSERT_TRUE(derivations.ok());
    EXPECT_EQ(derivations->size(), 1u) << "series " << job.series_id;
    for (const auto& d : *derivations) {
      processes.insert(d.worker.substr(0, d.worker.rfind('/')));
      for (const auto& o : d.outputs) blobs.insert(o.blob_sha256);
    }
  }
  EXPECT_EQ(processes.size(), 2u) << "jobs spread over both worker processes";

  // The object store holds every blob the database names, and nothing under tmp names.
  auto listing = swift_->Curl("/tributary?list-type=2&max-keys=1000&prefix=blobs", {});
  ASSERT_EQ(listing.http_status, 200) << listing.body;
  std::size_t keys = 0;
  for (std::size_t at = listing.body.find("<Key>"); at != std::string::npos;
       at = listing.body.find("<Key>", at + 1))
    ++keys;
  EXPECT_EQ(keys, static_cast<std::size_t>(kStudies * kSlices) + blobs.size())
      << listing.body.substr(0, 2000);
  for (const std::string& sha : blobs) {
    EXPECT_NE(listing.body.find("<Key>blobs/sha256/" + sha.substr(0, 2) + "/" + sha.substr(2, 2) +
                                "/" + sha + "</Key>"),
              std::string::npos)
        << sha;
  }

  // A researcher's cohort through the surviving server, streamed from the object store.
  nlohmann::json token = Json(*b_, "tokens create --role researcher --name lab --token-file " +
                                       Quote(b_->data_dir() / "operator.token"));
  fs::path lab = TokenFile("lab", token.value("secret", ""));
  nlohmann::json cohort = Json(*b_, "cohorts create --name everything --token-file " + Quote(lab));
  EXPECT_EQ(cohort["volumes"], kStudies);
  nlohmann::json exported =
      Json(*b_, "cohorts export " + std::to_string(cohort["id"].get<int>()) + " --out " +
                    Quote(dir_ / "export") + " --token-file " + Quote(lab));
  EXPECT_EQ(exported["files_sent"], cohort["files"]);
  CommandResult check =
      Shell("cd " + Quote(dir_ / "export") + " && sha256sum -c --quiet manifest.sha256");
  EXPECT_EQ(check.exit_code, 0) << check.out;
}

}  // namespace
}  // namespace tributary
