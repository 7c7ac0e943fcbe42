#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace tributary::cli {

struct MissingInput {
  std::string path;
  std::string reason;
};

// Files named on the command line, folders expanded recursively in sorted order (so runs are
// reproducible). Anything under `exclude` (an output folder inside an input) is left out; inputs
// that do not exist are reported in `missing`.
std::vector<std::filesystem::path> ListInputFiles(const std::vector<std::string>& inputs,
                                                  const std::filesystem::path& exclude,
                                                  std::vector<MissingInput>& missing);

}  // namespace tributary::cli
