#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "dicom/deidentifier.h"
#include "provenance/record_batcher.h"
#include "provenance/repository.h"
#include "storage/blob_store.h"

namespace tributary::services {

enum class OutcomeStatus { kStored, kAlreadyStored, kConflict, kRejected };
enum class RejectReason {
  kNone,
  kDigestMismatch,
  kSizeMismatch,
  kTooLarge,
  kNotDicom,
  kMalformed,
  kNotStorageClass,
  kMissingAttribute,
  kBurnedInAnnotation,
  kInternal
};

const char* OutcomeName(OutcomeStatus status);
const char* RejectReasonName(RejectReason reason);

struct IngestOutcome {
  OutcomeStatus status = OutcomeStatus::kRejected;
  RejectReason reason = RejectReason::kNone;
  std::string detail;
  std::string study_uid, series_uid, sop_instance_uid, blob_sha256;
};

// One file's way in: digest check, in-memory de-identification, durable blob write, one database
// transaction. Only then is the outcome final. A non-OK status means the infrastructure failed
// (database or disk): nothing was acknowledged and the client should send the file again.
class IngestPipeline {
 public:
  IngestPipeline(const dicom::Deidentifier& deidentifier, const storage::BlobStore& blobs,
                 provenance::Repository& repository, std::string key_for_digests)
      : deidentifier_(deidentifier),
        blobs_(blobs),
        repository_(repository),
        records_(std::make_unique<provenance::RecordBatcher>(repository)),
        digest_key_(std::move(key_for_digests)) {}

  // `received_sha256` is the SHA-256 (lower-case hex) of `bytes`, computed as they arrived; it is
  // checked against the declared one. `centre_policy` is the uploading centre's, as read when its
  // upload stream started.
  absl::StatusOr<IngestOutcome> Ingest(const provenance::Principal& principal,
                                       std::int64_t upload_id, const std::string& declared_sha256,
                                       const std::string& received_sha256, std::string_view bytes,
                                       const provenance::CentrePolicy& centre_policy = {}) const;

  // Records a file refused before its bytes could be checked (too large, incomplete).
  absl::StatusOr<IngestOutcome> Reject(std::int64_t upload_id, const std::string& declared_sha256,
                                       RejectReason reason, std::string detail) const;

  // HMAC(key, SHA-256 hex of the original): what the database keeps instead of the original's
  // digest.
  std::string KeyedDigest(const std::string& sha256_hex) const;
  static bool IsSha256Hex(const std::string& text);

 private:
  const dicom::Deidentifier& deidentifier_;
  const storage::BlobStore& blobs_;
  provenance::Repository& repository_;
  // Concurrent files' instance records share commits; each file is answered after its own.
  std::unique_ptr<provenance::RecordBatcher> records_;
  std::string digest_key_;
};

}  // namespace tributary::services
