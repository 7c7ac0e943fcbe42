#include "cli/input_files.h"

#include <algorithm>

namespace tributary::cli {

namespace fs = std::filesystem;

std::vector<fs::path> ListInputFiles(const std::vector<std::string>& inputs,
                                     const fs::path& exclude, std::vector<MissingInput>& missing) {
  std::vector<fs::path> files;
  fs::path excluded = exclude.empty() ? fs::path() : fs::weakly_canonical(exclude);
  auto is_excluded = [&](const fs::path& p) {
    if (excluded.empty()) return false;
    auto rel = fs::weakly_canonical(p).lexically_relative(excluded);
    return !rel.empty() && *rel.begin() != "..";
  };
  for (const std::string& input : inputs) {
    std::error_code error;
    if (fs::is_directory(input, error)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(
               input, fs::directory_options::skip_permission_denied, error);
           it != fs::recursive_directory_iterator(); it.increment(error)) {
        if (error) break;
        if (it->is_directory() && is_excluded(it->path())) {
          it.disable_recursion_pending();
          continue;
        }
        if (it->is_regular_file()) found.push_back(it->path());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(input, error)) {
      files.emplace_back(input);
    } else {
      missing.push_back({input, "no such file or directory"});
    }
  }
  return files;
}

}  // namespace tributary::cli
