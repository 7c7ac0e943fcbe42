#include "cli/input_files.h"

#include <algorithm>

namespace tributary::cli {
namespace {

namespace fs = std::filesystem;

// Every regular file under `folder`, walked one folder at a time so that a folder that cannot be
// read is reported (and the walk goes on with its siblings) rather than ending the walk silently.
void Walk(const fs::path& folder, const std::function<bool(const fs::path&)>& is_excluded,
          std::vector<fs::path>& found, std::vector<MissingInput>& problems) {
  std::error_code error;
  fs::directory_iterator it(folder, error);
  if (error) {
    problems.push_back({folder.string(), "cannot read the folder: " + error.message()});
    return;
  }
  std::vector<fs::path> folders;
  for (; it != fs::directory_iterator(); it.increment(error)) {
    if (error) break;
    std::error_code type_error;
    fs::file_status status = it->status(type_error);
    if (type_error) {
      problems.push_back({it->path().string(), "cannot read: " + type_error.message()});
      continue;
    }
    if (fs::is_directory(status)) {
      if (!is_excluded(it->path())) folders.push_back(it->path());
    } else if (fs::is_regular_file(status)) {
      found.push_back(it->path());
    }
  }
  if (error) {
    problems.push_back(
        {folder.string(), "the folder could not be read to its end: " + error.message()});
  }
  std::sort(folders.begin(), folders.end());
  for (const fs::path& sub : folders) Walk(sub, is_excluded, found, problems);
}

}  // namespace

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
      Walk(input, is_excluded, found, missing);
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
