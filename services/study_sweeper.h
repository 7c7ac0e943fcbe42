#pragma once

#include <chrono>
#include <stop_token>
#include <thread>

#include "provenance/repository.h"

namespace tributary::services {

// The quiet-period fallback for studies the gateway never completes: every `interval`, marks
// complete the studies that received nothing for `quiet` and queues their jobs. The first sweep
// also queues what completed studies miss (a crash between completion and queueing).
class StudySweeper {
 public:
  StudySweeper(provenance::Repository& repository, std::chrono::milliseconds quiet,
               std::chrono::milliseconds interval);

 private:
  void Run(std::stop_token stop);

  provenance::Repository& repository_;
  std::chrono::milliseconds quiet_;
  std::chrono::milliseconds interval_;
  std::jthread thread_;  // last: started once the rest is set, stopped first
};

}  // namespace tributary::services
