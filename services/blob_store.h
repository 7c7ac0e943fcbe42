#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tributary::services {

// Content-addressed files: ROOT/sha256/ab/cd/<sha256>. A blob appears whole or not at all: it is
// written to ROOT/tmp, fsynced, renamed into place, and its folder fsynced.
class BlobStore {
 public:
  static absl::StatusOr<BlobStore> Open(const std::string& root);

  struct Stored {
    std::string sha256;
    bool existed = false;
  };
  absl::StatusOr<Stored> Put(std::string_view bytes) const;
  std::string PathOf(const std::string& sha256) const;
  absl::StatusOr<std::string> Read(const std::string& sha256) const;

 private:
  struct Folders;
  explicit BlobStore(std::string root);
  absl::Status EnsureFolders(const std::string& sha256) const;

  std::string root_;
  std::shared_ptr<Folders> folders_;  // fan-out folders known to be durable, shared by copies
};

}  // namespace tributary::services
