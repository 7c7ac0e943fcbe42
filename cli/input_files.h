#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace tributary::cli {

struct MissingInput {
  std::string path;
  std::string reason;
};

// Files named on the command line, folders expanded recursively in sorted order (so runs are
// reproducible). Anything under `exclude` (an output folder inside an input) is left out. Inputs
// that do not exist, and folders that cannot be read (or only in part), are reported in `missing`
// with the reason, so a run over a partial input set never looks complete.
std::vector<std::filesystem::path> ListInputFiles(const std::vector<std::string>& inputs,
                                                  const std::filesystem::path& exclude,
                                                  std::vector<MissingInput>& missing);

}  // namespace tributary::cli
