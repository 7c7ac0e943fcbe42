#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <vector>

#include "common/status.h"
#include "provenance/repository.h"

namespace tributary::provenance {

// Group commit in front of Repository::RecordInstance: concurrent callers' records are written in
// one transaction, and each caller returns only after the commit that holds its record. A record
// that arrives when no batch is being collected waits at most `max_wait` for companions. When a
// batch fails for anything but the database being out of reach, its records are recorded one by
// one, so that one bad record fails only its own caller. Thread-safe.
class RecordBatcher {
 public:
  struct Options {
    std::size_t max_batch = 32;
    std::chrono::microseconds max_wait{2000};
    int max_concurrent_batches = 2;
  };
  RecordBatcher(Repository& repository, Options options)
      : repository_(repository), options_(options) {}
  explicit RecordBatcher(Repository& repository) : RecordBatcher(repository, Options()) {}

  // What Repository::RecordInstance(record) answers, from one commit shared with others.
  absl::StatusOr<StoredInstance> RecordInstance(const InstanceRecord& record);

 private:
  struct Waiter {
    explicit Waiter(const InstanceRecord* r) : record(r) {}
    const InstanceRecord* record;
    absl::StatusOr<StoredInstance> result = absl::UnknownError("not recorded yet");
    bool done = false;
    bool queued = true;            // in queue_, not yet taken into a batch
    bool lead = false;             // asked to lead the next batch
    std::condition_variable wake;  // its own, so that a commit wakes only its callers
  };
  void Run(const std::vector<Waiter*>& batch);

  Repository& repository_;
  const Options options_;
  std::mutex mutex_;
  std::condition_variable companions_;  // a leader waiting for more records
  std::vector<Waiter*> queue_;          // not yet in a batch, oldest first
  int collecting_ = 0;                  // leaders collecting or committing a batch
};

}  // namespace tributary::provenance
