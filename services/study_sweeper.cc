#include "services/study_sweeper.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>

namespace tributary::services {

StudySweeper::StudySweeper(provenance::Repository& repository, std::chrono::milliseconds quiet,
                           std::chrono::milliseconds interval)
    : repository_(repository),
      quiet_(quiet),
      interval_(interval),
      thread_([this](std::stop_token stop) { Run(stop); }) {}

void StudySweeper::Run(std::stop_token stop) {
  std::mutex mutex;
  std::condition_variable_any wake;
  bool caught_up = false;
  while (!stop.stop_requested()) {
    if (!caught_up) {
      auto queued = repository_.EnqueueForCompletedStudy(0);
      if (queued.ok()) {
        caught_up = true;
        if (!queued->empty())
          spdlog::info("queued {} jobs for completed studies that had none", queued->size());
      } else {
        spdlog::warn("queueing jobs of completed studies: {}", queued.status().ToString());
      }
    }
    auto completed = repository_.CompleteQuietStudies(quiet_);
    if (!completed.ok()) {
      spdlog::warn("quiet-period sweep: {}", completed.status().ToString());
    } else {
      for (std::int64_t study : *completed) {
        auto queued = repository_.EnqueueForCompletedStudy(study);
        if (!queued.ok()) {
          // Caught up by the next round: EnqueueForCompletedStudy(0).
          spdlog::warn("study {}: completed after its quiet period, queueing failed: {}", study,
                       queued.status().ToString());
          caught_up = false;
          continue;
        }
        spdlog::info("study {}: completed after its quiet period, {} jobs queued", study,
                     queued->size());
      }
    }
    std::unique_lock lock(mutex);
    wake.wait_for(lock, stop, interval_, [] { return false; });
  }
}

}  // namespace tributary::services
