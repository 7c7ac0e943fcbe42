#include "provenance/record_batcher.h"

#include <algorithm>

namespace tributary::provenance {

absl::StatusOr<StoredInstance> RecordBatcher::RecordInstance(const InstanceRecord& record) {
  Waiter self(&record);
  std::unique_lock lock(mutex_);
  queue_.push_back(&self);
  if (collecting_ > 0) companions_.notify_all();  // at most max_concurrent_batches wake
  while (!self.done) {
    if (!self.queued || (!self.lead && collecting_ >= options_.max_concurrent_batches)) {
      self.wake.wait(lock);
      continue;
    }
    // This thread leads the next batch: the oldest records, after a short wait for more.
    self.lead = false;
    ++collecting_;
    companions_.wait_for(lock, options_.max_wait,
                         [&] { return queue_.size() >= options_.max_batch; });
    std::size_t n = std::min(queue_.size(), options_.max_batch);
    std::vector<Waiter*> batch(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    for (Waiter* waiter : batch) waiter->queued = false;
    lock.unlock();
    Run(batch);
    lock.lock();
    for (Waiter* waiter : batch) {
      waiter->done = true;
      if (waiter != &self) waiter->wake.notify_one();
    }
    --collecting_;
    // Records that came meanwhile: the oldest one's caller leads them (unless it is this one).
    if (!queue_.empty() && queue_.front() != &self) {
      queue_.front()->lead = true;
      queue_.front()->wake.notify_one();
    }
  }
  return std::move(self.result);
}

void RecordBatcher::Run(const std::vector<Waiter*>& batch) {
  if (batch.empty()) return;
  if (batch.size() == 1) {
    batch[0]->result = repository_.RecordInstance(*batch[0]->record);
    return;
  }
  std::vector<const InstanceRecord*> records;
  records.reserve(batch.size());
  for (const Waiter* waiter : batch) records.push_back(waiter->record);
  absl::StatusOr<std::vector<StoredInstance>> stored = repository_.RecordInstances(records);
  if (stored.ok()) {
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->result = std::move((*stored)[i]);
    return;
  }
  // Out of reach, or the commit's outcome unknown: each record alone would have been told the same.
  if (absl::IsUnavailable(stored.status())) {
    for (Waiter* waiter : batch) waiter->result = stored.status();
    return;
  }
  // Nothing of the batch was committed: one record's error (or a deadlock with another
  // transaction) must not fail the others.
  for (Waiter* waiter : batch) waiter->result = repository_.RecordInstance(*waiter->record);
}

}  // namespace tributary::provenance
