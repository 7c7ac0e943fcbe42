#include "storage/blob_store.h"

#include "storage/file_blob_store.h"
#include "storage/s3_blob_store.h"

namespace tributary::storage {

absl::StatusOr<std::unique_ptr<BlobStore>> OpenBlobStore(const BlobStoreOptions& options) {
  if (options.location.rfind("s3://", 0) != 0) {
    if (!options.s3_endpoint.empty() || !options.s3_credentials_file.empty())
      return absl::InvalidArgumentError(
          "--s3-endpoint and --s3-credentials-file need --blob-store s3://BUCKET[/PREFIX]");
    TRIB_ASSIGN_OR_RETURN(auto store, FileBlobStore::Open(options.location));
    return std::unique_ptr<BlobStore>(std::move(store));
  }
  TRIB_ASSIGN_OR_RETURN(auto bucket_prefix, ParseS3Url(options.location));
  if (options.s3_endpoint.empty())
    return absl::InvalidArgumentError("--blob-store s3://... needs --s3-endpoint URL");
  TRIB_ASSIGN_OR_RETURN(SigV4Credentials credentials,
                        LoadS3Credentials(options.s3_credentials_file));
  S3BlobStore::Location location{options.s3_endpoint, bucket_prefix.first, bucket_prefix.second,
                                 options.s3_region};
  TRIB_ASSIGN_OR_RETURN(auto store,
                        S3BlobStore::Open(std::move(location), std::move(credentials),
                                          options.multipart_threshold, options.part_size));
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace tributary::storage
