#include "services/ingest_pipeline.h"

#include "common/hash.h"
#include "common/version.h"

namespace tributary::services {
namespace {

RejectReason FromRejection(dicom::Rejection rejection) {
  switch (rejection) {
    case dicom::Rejection::kNotDicom:
      return RejectReason::kNotDicom;
    case dicom::Rejection::kMalformed:
    case dicom::Rejection::kOther:
      return RejectReason::kMalformed;
    case dicom::Rejection::kNotStorageClass:
      return RejectReason::kNotStorageClass;
    case dicom::Rejection::kMissingAttribute:
      return RejectReason::kMissingAttribute;
    case dicom::Rejection::kBurnedInAnnotation:
      return RejectReason::kBurnedInAnnotation;
    case dicom::Rejection::kInternal:
      return RejectReason::kInternal;
  }
  return RejectReason::kMalformed;
}

// A rejection's detail as it is stored and sent: printable ASCII only. It can quote a value of the
// file (a SOP class that is not one), which PostgreSQL would refuse as text if it were not UTF-8.
std::string PrintableDetail(std::string detail) {
  for (char& c : detail) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7E) c = '?';
  }
  return detail;
}

std::string OptionsText(const dicom::DeidPolicy& policy) {
  std::string out;
  for (const auto& info : dicom::ProfileOptions()) {
    if (!policy.Has(info.option)) continue;
    if (!out.empty()) out += ",";
    out += info.name;
  }
  return out;
}

}  // namespace

const char* OutcomeName(OutcomeStatus status) {
  switch (status) {
    case OutcomeStatus::kStored:
      return "STORED";
    case OutcomeStatus::kAlreadyStored:
      return "ALREADY_STORED";
    case OutcomeStatus::kConflict:
      return "CONFLICT";
    case OutcomeStatus::kRejected:
      return "REJECTED";
  }
  return "?";
}

const char* RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kNone:
      return "";
    case RejectReason::kDigestMismatch:
      return "DIGEST_MISMATCH";
    case RejectReason::kSizeMismatch:
      return "SIZE_MISMATCH";
    case RejectReason::kTooLarge:
      return "TOO_LARGE";
    case RejectReason::kNotDicom:
      return "NOT_DICOM";
    case RejectReason::kMalformed:
      return "MALFORMED";
    case RejectReason::kNotStorageClass:
      return "NOT_STORAGE_CLASS";
    case RejectReason::kMissingAttribute:
      return "MISSING_ATTRIBUTE";
    case RejectReason::kBurnedInAnnotation:
      return "BURNED_IN_ANNOTATION";
    case RejectReason::kInternal:
      return "INTERNAL_ERROR";
  }
  return "?";
}

bool IngestPipeline::IsSha256Hex(const std::string& text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string IngestPipeline::KeyedDigest(const std::string& sha256_hex) const {
  return ToHex(HmacSha256(digest_key_, "original-sha256:" + sha256_hex));
}

absl::StatusOr<IngestOutcome> IngestPipeline::Reject(std::int64_t upload_id,
                                                     const std::string& declared_sha256,
                                                     RejectReason reason,
                                                     std::string detail) const {
  IngestOutcome outcome;
  outcome.status = OutcomeStatus::kRejected;
  outcome.reason = reason;
  outcome.detail = PrintableDetail(std::move(detail));
  TRIB_RETURN_IF_ERROR(repository_.RecordReceipt(upload_id, KeyedDigest(declared_sha256),
                                                 "REJECTED", RejectReasonName(reason),
                                                 outcome.detail));
  return outcome;
}

absl::StatusOr<IngestOutcome> IngestPipeline::Ingest(
    const provenance::Principal& principal, std::int64_t upload_id,
    const std::string& declared_sha256, const std::string& received_sha256, std::string_view bytes,
    const provenance::CentrePolicy& centre_policy) const {
  IngestOutcome outcome;
  const std::string& actual = received_sha256;
  std::string keyed = KeyedDigest(actual);
  auto reject = [&](RejectReason reason, std::string detail) -> absl::StatusOr<IngestOutcome> {
    outcome.status = OutcomeStatus::kRejected;
    outcome.reason = reason;
    outcome.detail = PrintableDetail(std::move(detail));
    TRIB_RETURN_IF_ERROR(repository_.RecordReceipt(upload_id, keyed, "REJECTED",
                                                   RejectReasonName(reason), outcome.detail));
    return outcome;
  };
  if (actual != declared_sha256) {
    // No digest in the answer or the receipt: only keyed digests are kept (docs/SERVER.md).
    return reject(RejectReason::kDigestMismatch,
                  "the SHA-256 of the received bytes is not the one the header declared");
  }

  // Re-sent file: answered from the database without de-identifying again.
  TRIB_ASSIGN_OR_RETURN(auto existing, repository_.FindInstance(principal.centre_id, keyed));
  if (existing) {
    outcome.status = OutcomeStatus::kAlreadyStored;
    outcome.study_uid = existing->study_uid;
    outcome.series_uid = existing->series_uid;
    outcome.sop_instance_uid = existing->sop_instance_uid;
    outcome.blob_sha256 = existing->blob_sha256;
    TRIB_RETURN_IF_ERROR(repository_.RecordReceipt(upload_id, keyed, "ALREADY_STORED", "", ""));
    return outcome;
  }

  dicom::SourcePolicy source;
  source.accept_burned_in_annotation = centre_policy.accept_burned_in_annotation;
  auto instance = deidentifier_.Deidentify(bytes, principal.centre_name, source);
  if (!instance.ok()) {
    RejectReason reason = FromRejection(dicom::ClassifyRejection(instance.status()));
    std::string detail(instance.status().message());
    if (reason == RejectReason::kBurnedInAnnotation) {
      // The uploader's own centre only; the remedy is an operator's decision.
      detail += " by centre " + principal.centre_name +
                "'s policy (an operator can accept such instances with `tributary centres policy " +
                principal.centre_name +
                " --accept-burned-in-annotation on` once the centre cleans their pixels)";
    }
    return reject(reason, std::move(detail));
  }
  TRIB_ASSIGN_OR_RETURN(storage::BlobStore::Stored blob,
                        blobs_.PutWithSha256(instance->bytes, instance->bytes_sha256));

  provenance::InstanceRecord record;
  record.centre_id = principal.centre_id;
  record.upload_id = upload_id;
  record.patient_pseudonym = instance->patient_pseudonym;
  record.study_uid = instance->study_instance_uid;
  record.series_uid = instance->series_instance_uid;
  record.sop_instance_uid = instance->sop_instance_uid;
  record.sop_class_uid = instance->sop_class_uid;
  record.transfer_syntax_uid = instance->transfer_syntax_uid;
  record.modality = instance->modality;
  record.blob_sha256 = blob.sha256;
  record.blob_size = static_cast<std::int64_t>(instance->bytes.size());
  record.original_digest = keyed;
  record.original_fingerprint = instance->original_fingerprint;
  record.profile_edition = dicom::Deidentifier::MethodDescription();
  record.options = OptionsText(deidentifier_.policy());
  // Lineage: this instance's pixels may show text, accepted under the centre's policy.
  if (instance->accepted_burned_in_annotation) {
    record.options += record.options.empty() ? "" : ",";
    record.options += "accepted-burned-in-annotation";
  }
  record.software_version = std::string("tributary ") + kVersion;
  record.date_shift_days = instance->date_shift_days;
  TRIB_ASSIGN_OR_RETURN(provenance::StoredInstance stored, records_->RecordInstance(record));

  switch (stored.result) {
    case provenance::RecordResult::kStored:
      outcome.status = OutcomeStatus::kStored;
      break;
    case provenance::RecordResult::kAlreadyStored:
      outcome.status = OutcomeStatus::kAlreadyStored;
      break;
    case provenance::RecordResult::kConflict:
      outcome.status = OutcomeStatus::kConflict;
      outcome.detail = "an instance with this SOP Instance UID and different content is stored";
      break;
  }
  outcome.study_uid = stored.study_uid;
  outcome.series_uid = stored.series_uid;
  outcome.sop_instance_uid = stored.sop_instance_uid;
  outcome.blob_sha256 = stored.blob_sha256;
  return outcome;
}

}  // namespace tributary::services
