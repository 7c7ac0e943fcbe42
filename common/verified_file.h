#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tributary {

// A file as it lies on disk.
struct FileDigest {
  std::string sha256;  // hex
  std::uint64_t size = 0;
};

// Writes `bytes` to `path` through a temporary file in the same folder, which is read back and
// compared with `bytes` before it is renamed into place: nothing is reported written that did not
// read back. Creates the folder.
absl::StatusOr<FileDigest> WriteFileVerified(const std::string& path, std::string_view bytes);

// The SHA-256 and size of the file at `path`, read in pieces.
absl::StatusOr<FileDigest> DigestFile(const std::string& path);

}  // namespace tributary
