#include "services/audit_log.h"

#include <spdlog/spdlog.h>

namespace tributary::services {

AuditLog::AuditLog(provenance::Repository& repository)
    : repository_(repository), thread_([this](std::stop_token stop) { Run(stop); }) {}

AuditLog::~AuditLog() {
  thread_.request_stop();
  queued_.notify_all();
  thread_.join();
}

std::uint64_t AuditLog::Enqueue(provenance::AuditEntry entry) {
  std::lock_guard lock(mutex_);
  queue_.push_back(std::move(entry));
  ++enqueued_;
  queued_.notify_one();
  return enqueued_;
}

void AuditLog::Record(provenance::AuditEntry entry) {
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= kMaxQueued) {
      if (dropped_++ % 10000 == 0)
        spdlog::error("audit log: the database is not keeping up; {} read entries dropped",
                      dropped_);
      return;
    }
  }
  Enqueue(std::move(entry));
}

absl::Status AuditLog::RecordDurably(provenance::AuditEntry entry,
                                     std::chrono::milliseconds timeout) {
  std::uint64_t sequence = Enqueue(std::move(entry));
  std::unique_lock lock(mutex_);
  if (written_.wait_for(lock, timeout, [&] { return durable_ >= sequence; }))
    return absl::OkStatus();
  return absl::UnavailableError("the audit log could not be written");
}

void AuditLog::Run(std::stop_token stop) {
  int failures = 0;
  while (true) {
    std::vector<provenance::AuditEntry> batch;
    std::uint64_t last = 0;
    {
      std::unique_lock lock(mutex_);
      queued_.wait(lock, stop, [&] { return !queue_.empty(); });
      if (queue_.empty()) return;  // stopped with nothing left
      std::size_t n = std::min(kBatch, queue_.size());
      batch.assign(std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
      last = durable_ + n;
    }
    absl::Status written = repository_.AppendAudit(batch);
    std::unique_lock lock(mutex_);
    if (written.ok()) {
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(batch.size()));
      durable_ = last;
      failures = 0;
      written_.notify_all();
      continue;
    }
    ++failures;
    spdlog::error("audit log: {} entries not written yet: {}", queue_.size(), written.ToString());
    if (stop.stop_requested() && failures >= 3) {
      spdlog::error("audit log: {} entries lost at shutdown", queue_.size());
      return;
    }
    // Back off, then retry the same batch; stopping cuts the wait short.
    queued_.wait_for(lock, stop, std::chrono::milliseconds(200 * std::min(failures, 25)),
                     [] { return false; });
  }
}

}  // namespace tributary::services
