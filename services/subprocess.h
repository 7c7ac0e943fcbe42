#pragma once

#include <string>
#include <vector>

namespace tributary::services {

struct ProcessResult {
  int exit_code = -1;  // -1: could not start or killed by a signal
  std::string output;  // standard output and standard error together
};

// Runs a program (no shell) and waits for it.
ProcessResult RunProcess(const std::vector<std::string>& argv);

}  // namespace tributary::services
