#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "services/ingest_pipeline.h"

namespace tributary::provenance {
class Repository;
}

namespace tributary::services {

// How one attempt at a harmonization job ended.
enum class JobOutcome {
  kDone,       // derivation recorded
  kRetried,    // failed, queued again after a back-off
  kFailed,     // failed for good (permanent error or last attempt)
  kAbandoned,  // shutdown, lease lost, or the failure could not be recorded: the lease expires
};

// The process's Prometheus metrics (docs/SERVER.md, "Metrics"), behind plain types: prometheus-cpp
// appears in metrics.cc only. Recording is thread-safe and cheap; nothing is served until Listen.
// Labels hold outcome and reason codes, status codes and centre names (chosen by operators), never
// patients, UIDs, file names, digests or tokens.
class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Ingest: bytes of file chunks received on upload streams, and each file's outcome with the
  // time from its header to its outcome.
  void AddReceivedBytes(std::string_view centre, std::uint64_t bytes);
  void FileAnswered(std::string_view centre, OutcomeStatus status, RejectReason reason,
                    std::chrono::steady_clock::duration latency);
  // A file left without an outcome because its stream failed (database unavailable): the gateway
  // sends it again.
  void FileUnanswered(std::string_view centre);

  // Harmonization workers: one call per claimed job attempt. `failure` is the reason of an
  // attempt that was retried or failed (ignored otherwise).
  void JobFinished(JobOutcome outcome, absl::StatusCode failure,
                   std::chrono::steady_clock::duration duration);

  // Cohort export: bytes of exported files sent to clients. For the export handler.
  void AddExportBytes(std::uint64_t bytes);

  // Reads the job queue depth and the connection pool's counters from `repository` at every
  // scrape. `repository` must outlive this object.
  void ObserveRepository(provenance::Repository& repository);

  // Serves GET /metrics (Prometheus text format, plain HTTP) on `address` (IPV4:PORT or
  // localhost:PORT; port 0 picks a free one) until this object is destroyed. Returns
  // the port.
  absl::StatusOr<int> Listen(const std::string& address);

  // The text a scrape returns, without the HTTP server's own metrics.
  std::string Text() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tributary::services
