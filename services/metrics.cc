#include "services/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <atomic>
#include <cctype>
#include <map>
#include <mutex>

#include "common/version.h"
#include "provenance/repository.h"

namespace tributary::services {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// tributary_ingest_files_total series of one centre: stored, already_stored, conflict, one per
// rejection reason, and files left unacknowledged.
constexpr int kFirstReason = static_cast<int>(RejectReason::kDigestMismatch);
constexpr int kLastReason = static_cast<int>(RejectReason::kInternal);
constexpr int kRejectedSeries = 3;
constexpr int kUnacknowledgedSeries = kRejectedSeries + kLastReason - kFirstReason + 1;
constexpr int kFileSeries = kUnacknowledgedSeries + 1;

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

int FileSeries(OutcomeStatus status, RejectReason reason) {
  switch (status) {
    case OutcomeStatus::kStored:
      return 0;
    case OutcomeStatus::kAlreadyStored:
      return 1;
    case OutcomeStatus::kConflict:
      return 2;
    case OutcomeStatus::kRejected:
      break;
  }
  if (reason == RejectReason::kNone) reason = RejectReason::kInternal;
  return kRejectedSeries + static_cast<int>(reason) - kFirstReason;
}

prometheus::Labels FileSeriesLabels(int series) {
  if (series == kUnacknowledgedSeries)
    return {{"outcome", "unacknowledged"}, {"reason", "unavailable"}};
  if (series < kRejectedSeries) {
    return {{"outcome", Lower(OutcomeName(static_cast<OutcomeStatus>(series)))},
            {"reason", "none"}};
  }
  auto reason = static_cast<RejectReason>(series - kRejectedSeries + kFirstReason);
  return {{"outcome", "rejected"}, {"reason", Lower(RejectReasonName(reason))}};
}

const char* JobOutcomeName(JobOutcome outcome) {
  switch (outcome) {
    case JobOutcome::kDone:
      return "done";
    case JobOutcome::kRetried:
      return "retried";
    case JobOutcome::kFailed:
      return "failed";
    case JobOutcome::kAbandoned:
      return "abandoned";
  }
  return "abandoned";
}

constexpr JobOutcome kJobOutcomes[] = {JobOutcome::kDone, JobOutcome::kRetried, JobOutcome::kFailed,
                                       JobOutcome::kAbandoned};
constexpr int kStatusCodes = static_cast<int>(absl::StatusCode::kUnauthenticated) + 1;

double Seconds(std::chrono::steady_clock::duration duration) {
  return std::chrono::duration<double>(duration).count();
}

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

ClientMetric Sample(double value, MetricType type, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric metric;
  metric.label = std::move(labels);
  if (type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return metric;
}

// What is read at scrape time: the connection pool's counters (memory) and the job queue depth
// (one indexed query).
class RepositoryCollector final : public prometheus::Collectable {
 public:
  explicit RepositoryCollector(provenance::Repository& repository) : repository_(repository) {}

  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> families;
    provenance::PoolStats pool = repository_.GetPoolStats();
    families.push_back(Family("tributary_database_pool_waits_total",
                              "Database transactions that waited for a pooled connection",
                              MetricType::Counter));
    families.back().metric.push_back(Sample(static_cast<double>(pool.waits), MetricType::Counter));
    families.push_back(Family("tributary_database_pool_wait_seconds_total",
                              "Time spent waiting for a pooled database connection",
                              MetricType::Counter));
    families.back().metric.push_back(Sample(pool.wait_seconds_total, MetricType::Counter));
    families.push_back(Family("tributary_database_pool_connections",
                              "Open database connections of the pool by state", MetricType::Gauge));
    families.back().metric.push_back(Sample(pool.idle, MetricType::Gauge, {{"state", "idle"}}));
    families.back().metric.push_back(
        Sample(pool.open - pool.idle, MetricType::Gauge, {{"state", "in_use"}}));
    families.push_back(Family("tributary_database_pool_max_connections",
                              "Size limit of the database connection pool", MetricType::Gauge));
    families.back().metric.push_back(Sample(pool.max, MetricType::Gauge));

    absl::StatusOr<provenance::JobCounts> depth = repository_.QueueDepth();
    if (depth.ok()) {
      families.push_back(Family("tributary_jobs",
                                "Harmonization jobs in the shared queue by state (done ones are "
                                "not counted)",
                                MetricType::Gauge));
      auto& metric = families.back().metric;
      metric.push_back(
          Sample(static_cast<double>(depth->queued), MetricType::Gauge, {{"state", "queued"}}));
      metric.push_back(
          Sample(static_cast<double>(depth->running), MetricType::Gauge, {{"state", "running"}}));
      metric.push_back(
          Sample(static_cast<double>(depth->failed), MetricType::Gauge, {{"state", "failed"}}));
    } else {
      ++query_errors_;
    }
    families.push_back(Family("tributary_metrics_database_errors_total",
                              "Scrapes that could not read the job queue depth from the database",
                              MetricType::Counter));
    families.back().metric.push_back(
        Sample(static_cast<double>(query_errors_.load()), MetricType::Counter));
    return families;
  }

 private:
  provenance::Repository& repository_;
  mutable std::atomic<std::int64_t> query_errors_{0};
};

}  // namespace

struct Metrics::Impl {
  struct CentreSeries {
    std::array<prometheus::Counter*, kFileSeries> files{};
    prometheus::Counter* bytes = nullptr;
  };

  Impl()
      : registry(std::make_shared<prometheus::Registry>()),
        files(prometheus::BuildCounter()
                  .Name("tributary_ingest_files_total")
                  .Help("Uploaded files by centre, outcome and rejection reason")
                  .Register(*registry)),
        received_bytes(prometheus::BuildCounter()
                           .Name("tributary_ingest_received_bytes_total")
                           .Help("Bytes of file chunks received on upload streams, by centre")
                           .Register(*registry)),
        file_duration(
            prometheus::BuildHistogram()
                .Name("tributary_ingest_file_duration_seconds")
                .Help("Time from a file's header to its outcome (receiving, de-identification, "
                      "blob write, commit)")
                .Register(*registry)
                .Add({},
                     prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                             0.5, 1, 2.5, 5, 10, 30, 60})),
        job_duration(prometheus::BuildHistogram()
                         .Name("tributary_job_duration_seconds")
                         .Help("Harmonization job attempts of this process by outcome")
                         .Register(*registry)),
        job_failures(prometheus::BuildCounter()
                         .Name("tributary_job_failures_total")
                         .Help("Failed harmonization job attempts (retried or failed for good) "
                               "by status code")
                         .Register(*registry)),
        export_bytes(prometheus::BuildCounter()
                         .Name("tributary_export_bytes_total")
                         .Help("Bytes of exported cohort files sent to clients")
                         .Register(*registry)
                         .Add({})) {
    prometheus::BuildGauge()
        .Name("tributary_build_info")
        .Help("The running version of Tributary")
        .Register(*registry)
        .Add({{"version", kVersion}})
        .Set(1);
    for (JobOutcome outcome : kJobOutcomes) {
      job_durations[static_cast<int>(outcome)] = &job_duration.Add(
          {{"outcome", JobOutcomeName(outcome)}},
          prometheus::Histogram::BucketBoundaries{1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600});
    }
    for (int code = 1; code < kStatusCodes; ++code) {
      failures[code] = &job_failures.Add(
          {{"kind", Lower(absl::StatusCodeToString(static_cast<absl::StatusCode>(code)))}});
    }
  }

  // A centre's series, every outcome made (at 0) the first time the centre is seen.
  CentreSeries& ForCentre(std::string_view centre) {
    std::lock_guard lock(mutex);
    auto it = centres.find(centre);
    if (it != centres.end()) return it->second;
    CentreSeries& series = centres[std::string(centre)];
    for (int i = 0; i < kFileSeries; ++i) {
      prometheus::Labels labels = FileSeriesLabels(i);
      labels["centre"] = std::string(centre);
      series.files[i] = &files.Add(labels);
    }
    series.bytes = &received_bytes.Add({{"centre", std::string(centre)}});
    return series;
  }

  std::vector<MetricFamily> Collect() const {
    std::vector<MetricFamily> families = registry->Collect();
    if (collector) {
      for (MetricFamily& family : collector->Collect()) families.push_back(std::move(family));
    }
    return families;
  }

  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Family<prometheus::Counter>& files;
  prometheus::Family<prometheus::Counter>& received_bytes;
  prometheus::Histogram& file_duration;
  prometheus::Family<prometheus::Histogram>& job_duration;
  prometheus::Family<prometheus::Counter>& job_failures;
  prometheus::Counter& export_bytes;
  std::array<prometheus::Histogram*, std::size(kJobOutcomes)> job_durations{};
  std::array<prometheus::Counter*, kStatusCodes> failures{};
  std::mutex mutex;
  std::map<std::string, CentreSeries, std::less<>> centres;
  std::shared_ptr<RepositoryCollector> collector;
  std::unique_ptr<prometheus::Exposer> exposer;  // last: stops serving before the rest goes
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

void Metrics::AddReceivedBytes(std::string_view centre, std::uint64_t bytes) {
  impl_->ForCentre(centre).bytes->Increment(static_cast<double>(bytes));
}

void Metrics::FileAnswered(std::string_view centre, OutcomeStatus status, RejectReason reason,
                           std::chrono::steady_clock::duration latency) {
  impl_->ForCentre(centre).files[FileSeries(status, reason)]->Increment();
  impl_->file_duration.Observe(Seconds(latency));
}

void Metrics::FileUnanswered(std::string_view centre) {
  impl_->ForCentre(centre).files[kUnacknowledgedSeries]->Increment();
}

void Metrics::JobFinished(JobOutcome outcome, absl::StatusCode failure,
                          std::chrono::steady_clock::duration duration) {
  impl_->job_durations[static_cast<int>(outcome)]->Observe(Seconds(duration));
  if (outcome != JobOutcome::kRetried && outcome != JobOutcome::kFailed) return;
  int code = static_cast<int>(failure);
  if (code <= 0 || code >= kStatusCodes) code = static_cast<int>(absl::StatusCode::kUnknown);
  impl_->failures[code]->Increment();
}

void Metrics::AddExportBytes(std::uint64_t bytes) {
  impl_->export_bytes.Increment(static_cast<double>(bytes));
}

void Metrics::ObserveRepository(provenance::Repository& repository) {
  impl_->collector = std::make_shared<RepositoryCollector>(repository);
  if (impl_->exposer) impl_->exposer->RegisterCollectable(impl_->collector);
}

absl::StatusOr<int> Metrics::Listen(const std::string& address) {
  if (impl_->exposer) return absl::FailedPreconditionError("metrics are served already");
  try {
    impl_->exposer = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return absl::UnavailableError("cannot serve metrics on " + address + ": " + e.what());
  }
  impl_->exposer->RegisterCollectable(impl_->registry);
  if (impl_->collector) impl_->exposer->RegisterCollectable(impl_->collector);
  std::vector<int> ports = impl_->exposer->GetListeningPorts();
  if (ports.empty()) return absl::UnavailableError("cannot serve metrics on " + address);
  return ports.front();
}

std::string Metrics::Text() const {
  return prometheus::TextSerializer().Serialize(impl_->Collect());
}

}  // namespace tributary::services
