// tributary-server --metrics-listen as Prometheus scrapes it: after uploads and harmonization jobs
// whose outcomes the test knows, every counter holds what was sent, nothing identifying appears,
// and promtool finds nothing to report.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "common/hash.h"
#include "tests/e2e/harmonization_test_support.h"
#include "tests/e2e/server_process.h"
#include "tests/unit/synthetic_dicom.h"
#include "tributary/v1/ingest.grpc.pb.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::Quote;
using testing::ReadFile;
using testing::ServerProcess;
using testing::Shell;
using testing::WriteFile;

constexpr char kCentre[] = "north-metrics";
constexpr char kPatient[] = "PID-METRICS-7";
constexpr char kUidRoot[] = "1.2.826.0.1.3680043.2.1125.77";

// One sample line per key: `name{label="value",...}` exactly as the server printed it.
std::map<std::string, double> Samples(const std::string& text) {
  std::map<std::string, double> samples;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    at = end + 1;
    if (line.empty() || line[0] == '#') continue;
    std::size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

std::string Files(const std::string& outcome, const std::string& reason) {
  return std::string("tributary_ingest_files_total{centre=\"") + kCentre + "\",outcome=\"" +
         outcome + "\",reason=\"" + reason + "\"}";
}

class MetricsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("trib_metrics_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << ReadFile(server_->log()).substr(0, 20000);
    server_.reset();
    fs::remove_all(dir_);
  }
  std::string Scrape(int port) {
    CommandResult r =
        Shell("curl -sS --fail --max-time 30 http://127.0.0.1:" + std::to_string(port) + "/metrics",
              /*with_stderr=*/false);
    EXPECT_EQ(r.exit_code, 0) << "scrape of port " << port << " failed";
    return r.out;
  }
  nlohmann::json Json(const std::string& command, int expected_exit = 0) {
    CommandResult r = Shell(server_->Cli(command + " --json"), /*with_stderr=*/false);
    EXPECT_EQ(r.exit_code, expected_exit) << command << "\n" << r.out;
    try {
      return nlohmann::json::parse(r.out);
    } catch (...) {
      ADD_FAILURE() << command << ": not JSON: " << r.out;
      return {};
    }
  }

  fs::path dir_;
  std::unique_ptr<ServerProcess> server_;
};

// Sends each (id, bytes, declared SHA-256) as one file of one upload stream; returns the outcomes.
std::map<std::string, v1::FileOutcome> RawUpload(
    const std::string& address, const std::string& token,
    const std::vector<std::tuple<std::string, std::string, std::string>>& files) {
  auto stub = v1::Ingest::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + token);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stream = stub->Upload(&context);
  for (const auto& [id, bytes, sha256] : files) {
    v1::UploadRequest header;
    header.mutable_header()->set_file_id(id);
    header.mutable_header()->set_size(bytes.size());
    header.mutable_header()->set_sha256(sha256);
    stream->Write(header);
    v1::UploadRequest chunk;
    chunk.set_chunk(bytes);
    stream->Write(chunk);
  }
  stream->WritesDone();
  std::map<std::string, v1::FileOutcome> outcomes;
  v1::UploadResponse response;
  while (stream->Read(&response)) outcomes[response.outcome().file_id()] = response.outcome();
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  return outcomes;
}

TEST_F(MetricsE2E, ScrapeCountsWhatWasSentAndPassesPromtool) {
  int port = testing::FreePort();
  server_ = std::make_unique<ServerProcess>(
      dir_ / "data",
      std::vector<std::string>{"--metrics-listen", "127.0.0.1:" + std::to_string(port),
                               "--harmonization-workers", "1"});
  ASSERT_TRUE(server_->Start()) << ReadFile(server_->log());
  std::map<std::string, double> before = Samples(Scrape(port));
  EXPECT_EQ(before["tributary_export_bytes_total"], 0);
  EXPECT_EQ(before.count(Files("stored", "none")), 0u) << "no centre has uploaded yet";
  EXPECT_EQ(before.at("tributary_jobs{state=\"queued\"}"), 0);

  std::string token = server_->AddCentre(kCentre);
  ASSERT_FALSE(token.empty());
  // 12 MR slices of one study, completed: stored, then harmonized by the worker.
  testing::WriteMrSeries(dir_ / "mr", kPatient, kUidRoot, 12);
  nlohmann::json mr = Json("upload " + Quote(dir_ / "mr") + " --complete --token " + token);
  ASSERT_EQ(mr["summary"]["STORED"], 12) << mr;
  // A DICOM instance cut in half: the CLI sends it, the server rejects it MALFORMED.
  testing::CtSliceSpec spec;
  spec.patient_id = "PID-METRICS-8";
  spec.patient_name = "BROKEN^METRICS";
  spec.study_uid = std::string(kUidRoot) + ".9.1";
  spec.series_uid = std::string(kUidRoot) + ".9.2";
  spec.sop_uid = std::string(kUidRoot) + ".9.3";
  std::string whole = testing::Encode(*testing::MakeCtSlice(spec));
  WriteFile(dir_ / "broken" / "HALF.dcm", whole.substr(0, whole.size() / 2));
  nlohmann::json broken =
      Json("upload " + Quote(dir_ / "broken") + " --token " + token, /*expected_exit=*/1);
  ASSERT_EQ(broken["summary"]["REJECTED"], 1) << broken;
  // Straight to the server (the CLI would skip both): a stored slice again, and a digest that
  // does not match.
  std::string again = ReadFile(dir_ / "mr" / "MR0.dcm");
  std::string text = "not what the header declared\n";
  auto outcomes = RawUpload(server_->address(), token,
                            {{"fid-resent", again, ToHex(Sha256(again))},
                             {"fid-wrong-digest", text, std::string(64, 'c')}});
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(v1::OutcomeStatus_Name(outcomes["fid-resent"].status()), "ALREADY_STORED");
  EXPECT_EQ(v1::RejectReason_Name(outcomes["fid-wrong-digest"].reject_reason()), "DIGEST_MISMATCH");

  CommandResult wait =
      Shell(server_->Cli("jobs wait --timeout 300 --token " + server_->operator_token()));
  ASSERT_EQ(wait.exit_code, 0) << wait.out;
  nlohmann::json jobs = Json("jobs list --token " + server_->operator_token());
  ASSERT_GE(jobs.size(), 1u);
  for (const auto& job : jobs) ASSERT_EQ(job["state"], "done") << job;

  std::string scraped = Scrape(port);
  std::map<std::string, double> s = Samples(scraped);
  EXPECT_EQ(s[Files("stored", "none")], 12);
  EXPECT_EQ(s[Files("already_stored", "none")], 1);
  EXPECT_EQ(s[Files("rejected", "malformed")], 1);
  EXPECT_EQ(s[Files("rejected", "digest_mismatch")], 1);
  EXPECT_EQ(s.count(Files("rejected", "not_dicom")), 1u) << "every outcome exists, at 0";
  double files = 0;
  for (const auto& [key, value] : s) {
    if (key.rfind("tributary_ingest_files_total{", 0) == 0) files += value;
  }
  EXPECT_EQ(files, 15) << "nothing but the 15 files sent";
  std::uint64_t bytes = mr["bytes_sent"].get<std::uint64_t>() +
                        broken["bytes_sent"].get<std::uint64_t>() + again.size() + text.size();
  EXPECT_EQ(s[std::string("tributary_ingest_received_bytes_total{centre=\"") + kCentre + "\"}"],
            static_cast<double>(bytes));
  EXPECT_EQ(s["tributary_ingest_file_duration_seconds_count"], 15);
  EXPECT_EQ(s["tributary_ingest_file_duration_seconds_bucket{le=\"+Inf\"}"], 15);
  EXPECT_GT(s["tributary_ingest_file_duration_seconds_sum"], 0);

  for (const char* state : {"queued", "running", "failed"})
    EXPECT_EQ(s.at(std::string("tributary_jobs{state=\"") + state + "\"}"), 0) << state;
  EXPECT_EQ(s["tributary_job_duration_seconds_count{outcome=\"done\"}"],
            static_cast<double>(jobs.size()));
  EXPECT_GT(s["tributary_job_duration_seconds_sum{outcome=\"done\"}"], 0);
  for (const char* outcome : {"retried", "failed", "abandoned"})
    EXPECT_EQ(
        s.at(std::string("tributary_job_duration_seconds_count{outcome=\"") + outcome + "\"}"), 0)
        << outcome;
  double failures = 0;
  for (const auto& [key, value] : s) {
    if (key.rfind("tributary_job_failures_total{", 0) == 0) failures += value;
  }
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(s.at("tributary_export_bytes_total"), 0);

  double max = s.at("tributary_database_pool_max_connections");
  double idle = s.at("tributary_database_pool_connections{state=\"idle\"}");
  double in_use = s.at("tributary_database_pool_connections{state=\"in_use\"}");
  EXPECT_GE(idle, 1);
  EXPECT_GE(in_use, 0);
  EXPECT_LE(idle + in_use, max);
  EXPECT_GE(s.at("tributary_database_pool_waits_total"), 0);
  EXPECT_EQ(s.at("tributary_metrics_database_errors_total"), 0);

  // Nothing that identifies a patient, a study, a file or a caller.
  for (const std::string& secret :
       {std::string(kPatient), std::string("MR^"), std::string("PID-METRICS"),
        std::string("BROKEN"), std::string(kUidRoot), std::string("2.25."), std::string("MR0"),
        std::string("HALF"), std::string("fid-"), token, server_->operator_token(),
        ToHex(Sha256(again))}) {
    EXPECT_EQ(scraped.find(secret), std::string::npos) << secret;
  }

  fs::path file = dir_ / "scrape.txt";
  WriteFile(file, scraped);
  CommandResult lint = Shell("promtool check metrics < " + Quote(file));
  EXPECT_EQ(lint.exit_code, 0) << lint.out;
  EXPECT_EQ(lint.out, "") << scraped;
}

TEST_F(MetricsE2E, NonLoopbackAddressNeedsInsecure) {
  int port = testing::FreePort();
  std::string address = "0.0.0.0:" + std::to_string(port);
  server_ = std::make_unique<ServerProcess>(dir_ / "refused",
                                            std::vector<std::string>{"--metrics-listen", address});
  EXPECT_FALSE(server_->Start());
  EXPECT_NE(ReadFile(server_->log()).find("refusing to serve metrics on " + address),
            std::string::npos)
      << ReadFile(server_->log());

  server_ = std::make_unique<ServerProcess>(
      dir_ / "trusted", std::vector<std::string>{"--metrics-listen", address, "--insecure"});
  ASSERT_TRUE(server_->Start()) << ReadFile(server_->log());
  EXPECT_EQ(Samples(Scrape(port)).count("tributary_export_bytes_total"), 1u);
}

TEST_F(MetricsE2E, PortInUseStopsTheServer) {
  int port = testing::FreePort();
  std::string address = "127.0.0.1:" + std::to_string(port);
  ServerProcess first(dir_ / "first", {"--metrics-listen", address});
  ASSERT_TRUE(first.Start()) << ReadFile(first.log());
  server_ = std::make_unique<ServerProcess>(dir_ / "second",
                                            std::vector<std::string>{"--metrics-listen", address});
  EXPECT_FALSE(server_->Start());
  EXPECT_NE(ReadFile(server_->log()).find("cannot serve metrics on " + address), std::string::npos)
      << ReadFile(server_->log());
}

}  // namespace
}  // namespace tributary
