#include "services/worker_pool.h"

#include <spdlog/spdlog.h>

#include <exception>
#include <typeinfo>

namespace tributary::services {

WorkerPool::WorkerPool(unsigned threads) {
  for (unsigned i = 0; i < std::max(1u, threads); ++i) threads_.emplace_back([this] { Loop(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void WorkerPool::Submit(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  ready_.notify_one();
}

void WorkerPool::Loop() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    // A task that throws must not end the server (std::terminate) nor this thread. The message
    // is not logged: exception texts (a database error quoting a value) may carry PHI.
    try {
      task();
    } catch (const std::exception& error) {
      ++failed_tasks_;
      spdlog::error("a worker task ended with an exception ({}); it was dropped",
                    typeid(error).name());
    } catch (...) {
      ++failed_tasks_;
      spdlog::error("a worker task ended with an unknown exception; it was dropped");
    }
  }
}

}  // namespace tributary::services
