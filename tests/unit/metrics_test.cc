// services::Metrics without a server: what each recording call adds to the text a scrape returns.
#include "services/metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace tributary::services {
namespace {

using std::chrono::milliseconds;

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(Metrics, EveryOutcomeOfACentreStartsAtZero) {
  Metrics metrics;
  metrics.FileAnswered("west", OutcomeStatus::kStored, RejectReason::kNone, milliseconds(20));
  std::string text = metrics.Text();
  EXPECT_TRUE(
      Has(text, R"(tributary_ingest_files_total{centre="west",outcome="stored",reason="none"} 1)"))
      << text;
  for (const char* series :
       {R"(outcome="already_stored",reason="none")", R"(outcome="conflict",reason="none")",
        R"(outcome="rejected",reason="digest_mismatch")",
        R"(outcome="rejected",reason="size_mismatch")", R"(outcome="rejected",reason="too_large")",
        R"(outcome="rejected",reason="not_dicom")", R"(outcome="rejected",reason="malformed")",
        R"(outcome="rejected",reason="not_storage_class")",
        R"(outcome="rejected",reason="missing_attribute")",
        R"(outcome="rejected",reason="burned_in_annotation")",
        R"(outcome="rejected",reason="internal_error")",
        R"(outcome="unacknowledged",reason="unavailable")"}) {
    EXPECT_TRUE(
        Has(text, std::string(R"(tributary_ingest_files_total{centre="west",)") + series + "} 0"))
        << series;
  }
  EXPECT_TRUE(Has(text, "tributary_ingest_file_duration_seconds_count 1"));
  EXPECT_TRUE(Has(text, R"(tributary_ingest_file_duration_seconds_bucket{le="0.01"} 0)"));
  EXPECT_TRUE(Has(text, R"(tributary_ingest_file_duration_seconds_bucket{le="0.025"} 1)"));
}

TEST(Metrics, RejectionsBytesAndCentresAreCountedApart) {
  Metrics metrics;
  metrics.AddReceivedBytes("west", 1000);
  metrics.AddReceivedBytes("west", 24);
  metrics.AddReceivedBytes("east", 7);
  metrics.FileAnswered("west", OutcomeStatus::kRejected, RejectReason::kNotDicom, milliseconds(1));
  metrics.FileAnswered("west", OutcomeStatus::kRejected, RejectReason::kNotDicom, milliseconds(1));
  metrics.FileAnswered("east", OutcomeStatus::kConflict, RejectReason::kNone, milliseconds(1));
  metrics.FileUnanswered("east");
  std::string text = metrics.Text();
  EXPECT_TRUE(Has(text, R"(tributary_ingest_received_bytes_total{centre="west"} 1024)")) << text;
  EXPECT_TRUE(Has(text, R"(tributary_ingest_received_bytes_total{centre="east"} 7)"));
  EXPECT_TRUE(Has(
      text,
      R"(tributary_ingest_files_total{centre="west",outcome="rejected",reason="not_dicom"} 2)"));
  EXPECT_TRUE(Has(
      text,
      R"(tributary_ingest_files_total{centre="east",outcome="rejected",reason="not_dicom"} 0)"));
  EXPECT_TRUE(Has(
      text, R"(tributary_ingest_files_total{centre="east",outcome="conflict",reason="none"} 1)"));
  EXPECT_TRUE(Has(
      text,
      R"(tributary_ingest_files_total{centre="east",outcome="unacknowledged",reason="unavailable"} 1)"));
  EXPECT_TRUE(Has(text, "tributary_ingest_file_duration_seconds_count 3"))
      << "an unanswered file has no latency";
}

TEST(Metrics, JobFailuresByKindOnlyForFailedAttempts) {
  Metrics metrics;
  metrics.JobFinished(JobOutcome::kDone, absl::StatusCode::kOk, std::chrono::seconds(3));
  metrics.JobFinished(JobOutcome::kRetried, absl::StatusCode::kUnavailable,
                      std::chrono::seconds(1));
  metrics.JobFinished(JobOutcome::kFailed, absl::StatusCode::kInvalidArgument,
                      std::chrono::seconds(1));
  metrics.JobFinished(JobOutcome::kAbandoned, absl::StatusCode::kCancelled,
                      std::chrono::seconds(1));
  std::string text = metrics.Text();
  EXPECT_TRUE(Has(text, R"(tributary_job_failures_total{kind="unavailable"} 1)")) << text;
  EXPECT_TRUE(Has(text, R"(tributary_job_failures_total{kind="invalid_argument"} 1)"));
  EXPECT_TRUE(Has(text, R"(tributary_job_failures_total{kind="cancelled"} 0)"));
  for (const char* outcome : {"done", "retried", "failed", "abandoned"})
    EXPECT_TRUE(Has(
        text, std::string(R"(tributary_job_duration_seconds_count{outcome=")") + outcome + "\"} 1"))
        << outcome;
  EXPECT_TRUE(Has(text, R"(tributary_job_duration_seconds_bucket{outcome="done",le="2"} 0)"));
  EXPECT_TRUE(Has(text, R"(tributary_job_duration_seconds_bucket{outcome="done",le="5"} 1)"));
}

TEST(Metrics, ExportBytesAddUp) {
  Metrics metrics;
  EXPECT_TRUE(Has(metrics.Text(), "tributary_export_bytes_total 0"));
  metrics.AddExportBytes(1 << 20);
  metrics.AddExportBytes(5);
  EXPECT_TRUE(Has(metrics.Text(), "tributary_export_bytes_total 1048581"));
}

// A centre name is the operator's text: quotes, backslashes and newlines are escaped, and promtool
// still finds the exposition well formed.
TEST(Metrics, CentreNamesAreEscapedAndTheTextLints) {
  Metrics metrics;
  metrics.AddReceivedBytes("st \"mary\"\\\nwest", 3);
  std::string text = metrics.Text();
  EXPECT_TRUE(Has(text, R"(tributary_ingest_received_bytes_total{centre="st \"mary\"\\\nwest"} 3)"))
      << text;
  if (std::system("command -v promtool > /dev/null") != 0) GTEST_SKIP() << "promtool is absent";
  std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("metrics_test_" + std::to_string(::getpid()));
  std::ofstream(file) << text;
  std::string command = "promtool check metrics < '" + file.string() + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  int status = ::pclose(pipe);
  std::filesystem::remove(file);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out, "") << text;
}

}  // namespace
}  // namespace tributary::services
