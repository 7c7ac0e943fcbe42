#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "storage/blob_store.h"

namespace tributary::storage {

// Blobs in a local folder: ROOT/sha256/ab/cd/<sha256>. A blob appears whole or not at all: it is
// written to ROOT/tmp, fsynced, renamed into place, and its folder fsynced.
class FileBlobStore final : public BlobStore {
 public:
  static absl::StatusOr<std::unique_ptr<FileBlobStore>> Open(const std::string& root);

  absl::StatusOr<Stored> Put(std::string_view bytes) const override;
  absl::StatusOr<Stored> PutWithSha256(std::string_view bytes,
                                       const std::string& sha256) const override;
  absl::StatusOr<std::string> Read(const std::string& sha256) const override;
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenReader(const std::string& sha256) const override;
  std::string Describe() const override { return root_; }

  std::string PathOf(const std::string& sha256) const;

 private:
  struct Folders;
  explicit FileBlobStore(std::string root);
  absl::Status EnsureFolders(const std::string& sha256) const;

  std::string root_;
  std::shared_ptr<Folders> folders_;  // fan-out folders known to be durable
};

}  // namespace tributary::storage
