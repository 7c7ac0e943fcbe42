#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "provenance/repository.h"

namespace tributary::services {

// The audit log's writer: entries are queued and written by one thread, each batch in one
// multi-row INSERT. Reads cost a call nothing but the queueing; a mutating call waits until its
// entry is written (RecordDurably) before it is answered, so an answered change is never missing
// from the log. A batch that fails is retried until it is written or the writer stops.
class AuditLog {
 public:
  explicit AuditLog(provenance::Repository& repository);
  ~AuditLog();  // writes what is queued (a few attempts), then stops

  void Record(provenance::AuditEntry entry);
  // Unavailable when the entry is not written within `timeout` (it stays queued).
  absl::Status RecordDurably(provenance::AuditEntry entry,
                             std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  void Run(std::stop_token stop);
  std::uint64_t Enqueue(provenance::AuditEntry entry);

  static constexpr std::size_t kBatch = 500;
  static constexpr std::size_t kMaxQueued = 200000;  // reads beyond this are dropped, counted
  provenance::Repository& repository_;
  std::mutex mutex_;
  std::condition_variable_any queued_;
  std::condition_variable written_;
  std::deque<provenance::AuditEntry> queue_;
  std::uint64_t enqueued_ = 0;  // sequence number of the last entry queued
  std::uint64_t durable_ = 0;   // every entry up to this one is written
  std::uint64_t dropped_ = 0;
  std::jthread thread_;
};

}  // namespace tributary::services
