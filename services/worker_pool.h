#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tributary::services {

// Fixed threads taking tasks in order: where heavy work (de-identification, fsync, SQL) runs, off
// gRPC's own threads.
class WorkerPool {
 public:
  explicit WorkerPool(unsigned threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(std::function<void()> task);
  // Tasks that ended with an exception (logged and dropped; the pool goes on).
  std::size_t failed_tasks() const { return failed_tasks_; }

 private:
  void Loop();
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::atomic<std::size_t> failed_tasks_{0};
  std::vector<std::thread> threads_;
};

}  // namespace tributary::services
