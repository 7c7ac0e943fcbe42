#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tributary::storage {

// Reads one blob in pieces (exports stream blobs larger than memory should hold).
class BlobReader {
 public:
  virtual ~BlobReader() = default;
  // Up to `max` bytes into `buffer`; 0 at the end.
  virtual absl::StatusOr<std::size_t> Read(char* buffer, std::size_t max) = 0;
};

// The content-addressed blob store: every blob is named by the SHA-256 of its bytes
// (sha256/ab/cd/<sha256>). Implementations: FileBlobStore (a local folder) and S3BlobStore (an
// S3-compatible object store). Thread-safe.
class BlobStore {
 public:
  virtual ~BlobStore() = default;

  struct Stored {
    std::string sha256;
    bool existed = false;  // the same bytes were stored before
  };
  // Returns only once the store has confirmed the whole blob durable. Errors: ResourceExhausted
  // (disk full), Unavailable (the store could not be reached, after retries), PermissionDenied
  // (credentials refused), Internal.
  virtual absl::StatusOr<Stored> Put(std::string_view bytes) const = 0;
  // Put for a caller that hashed `bytes` while producing them: `sha256` (lower-case hex) must be
  // their SHA-256; a backend may then skip its own pass over them. The name returned is the one to
  // record. By default the backend hashes anyway.
  virtual absl::StatusOr<Stored> PutWithSha256(std::string_view bytes,
                                               const std::string& /*sha256*/) const {
    return Put(bytes);
  }
  // The whole blob, checked against its name. NotFound; DataLoss when the bytes do not match.
  virtual absl::StatusOr<std::string> Read(const std::string& sha256) const = 0;
  virtual absl::StatusOr<std::unique_ptr<BlobReader>> OpenReader(
      const std::string& sha256) const = 0;
  // Where the blobs are, for logs and messages: never a credential.
  virtual std::string Describe() const = 0;
};

// Where blobs go, from the server's options.
struct BlobStoreOptions {
  std::string location;     // a folder, or s3://BUCKET[/PREFIX]
  std::string s3_endpoint;  // https://host[:port] (path-style addressing)
  std::string s3_region = "us-east-1";
  // AWS shared-credentials file ([default] aws_access_key_id / aws_secret_access_key), mode 0600;
  // empty: the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).
  std::string s3_credentials_file;
  std::size_t multipart_threshold = 64u << 20;  // larger blobs go up in parts
  std::size_t part_size = 16u << 20;            // at least 5 MiB (S3's minimum)
};

// InvalidArgument for a malformed location or options; the backend's own errors otherwise.
absl::StatusOr<std::unique_ptr<BlobStore>> OpenBlobStore(const BlobStoreOptions& options);

}  // namespace tributary::storage
