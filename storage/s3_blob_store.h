#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "storage/blob_store.h"
#include "storage/sigv4.h"

namespace tributary::storage {

// Blobs in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, OpenStack Swift's s3api):
// objects PREFIX/sha256/ab/cd/<sha256> in one bucket, path-style URLs
// (ENDPOINT/BUCKET/KEY), every request signed with AWS Signature V4 over the payload's SHA-256
// (so the store itself checks the bytes it received). Blobs above the multipart threshold go up
// in parts. Requests that fail in a way a retry can cure (connection, timeout, 5xx, 429) are
// retried with exponential back-off; a Put returns only once the store answered 200 (and, for a
// multipart upload, the object's size was read back). libcurl, one connection per thread reused.
class S3BlobStore final : public BlobStore {
 public:
  struct Location {
    std::string endpoint;  // scheme://host[:port], no trailing '/'
    std::string bucket;
    std::string prefix;  // "" or ending in '/'
    std::string region;
  };
  // Checks the bucket can be listed with the credentials (PermissionDenied with the store's
  // error code otherwise; Unavailable when it cannot be reached).
  static absl::StatusOr<std::unique_ptr<S3BlobStore>> Open(Location location,
                                                           SigV4Credentials credentials,
                                                           std::size_t multipart_threshold,
                                                           std::size_t part_size);
  ~S3BlobStore() override;

  absl::StatusOr<Stored> Put(std::string_view bytes) const override;
  absl::StatusOr<std::string> Read(const std::string& sha256) const override;
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenReader(const std::string& sha256) const override;
  std::string Describe() const override;

  // One request (signed, retried); public for the reader and tests.
  struct Response {
    long status = 0;
    std::string body;
    std::string etag;
    long long content_length = -1;
  };
  absl::StatusOr<Response> Request(const std::string& method, const std::string& key,
                                   const std::map<std::string, std::string>& query,
                                   std::string_view body, const std::string& body_sha256,
                                   const std::map<std::string, std::string>& headers = {}) const;
  std::string KeyOf(const std::string& sha256) const;

 private:
  S3BlobStore(Location location, SigV4Credentials credentials, std::size_t multipart_threshold,
              std::size_t part_size);
  absl::StatusOr<Stored> PutMultipart(const std::string& key, std::string_view bytes,
                                      Stored stored) const;

  Location location_;
  SigV4Credentials credentials_;
  std::size_t multipart_threshold_;
  std::size_t part_size_;
  std::string host_;  // the Host header
};

// "s3://BUCKET[/PREFIX]" into bucket and prefix ("" or ending in '/'). InvalidArgument otherwise.
absl::StatusOr<std::pair<std::string, std::string>> ParseS3Url(const std::string& url);

// Credentials from an AWS shared-credentials file (owner-only, [default] or the first profile) or,
// with an empty path, from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
absl::StatusOr<SigV4Credentials> LoadS3Credentials(const std::string& credentials_file);

}  // namespace tributary::storage
