#pragma once

#include <cstdint>
#include <string>

// Plain records exchanged with the repository; nothing here is identifying.
namespace tributary::provenance {

enum class Role { kOperator, kUploader, kResearcher };

struct Principal {
  Role role = Role::kUploader;
  std::int64_t token_id = 0;
  std::int64_t centre_id = 0;  // 0 for operators
  std::string centre_name;
  std::int64_t expires_at_unix = 0;  // 0: never
};

// What an operator trusts one centre with (dicom::SourcePolicy, as stored).
struct CentrePolicy {
  bool accept_burned_in_annotation = false;
};

struct CentreSummary {
  std::int64_t id = 0;
  std::string name;
  std::string created_at;
  std::int64_t study_count = 0;
  std::int64_t instance_count = 0;
  CentrePolicy policy;
  std::string policy_changed_at;  // RFC 3339; empty while the defaults apply
};

// Everything recorded for one stored, de-identified instance.
struct InstanceRecord {
  std::int64_t centre_id = 0;
  std::int64_t upload_id = 0;
  std::string patient_pseudonym;
  std::string study_uid;
  std::string series_uid;
  std::string sop_instance_uid;
  std::string sop_class_uid;
  std::string transfer_syntax_uid;
  std::string modality;
  std::string blob_sha256;
  std::int64_t blob_size = 0;
  std::string original_digest;  // keyed
  // Keyed digest of the original SOP Instance UID without the centre (dicom::InstanceFingerprint);
  // empty: none recorded. Never returned to uploaders.
  std::string original_fingerprint;
  std::string profile_edition;
  std::string options;
  std::string software_version;
  int date_shift_days = 0;
};

enum class RecordResult { kStored, kAlreadyStored, kConflict };

struct StoredInstance {
  RecordResult result = RecordResult::kStored;
  std::string study_uid;
  std::string series_uid;
  std::string sop_instance_uid;
  std::string blob_sha256;
};

struct StudySummary {
  std::int64_t id = 0;
  std::string centre;
  std::string patient_pseudonym;
  std::string study_uid;
  std::int64_t series_count = 0;
  std::int64_t instance_count = 0;
  std::int64_t bytes = 0;
  std::string first_received_at;
  std::string completed_at;
  std::int64_t expected_instance_count = 0;
};

struct SeriesSummary {
  std::string series_uid;
  std::string modality;
  std::int64_t instance_count = 0;
  std::int64_t bytes = 0;
};

struct StudyCompletion {
  std::int64_t study_id = 0;
  std::int64_t stored_instance_count = 0;
  bool complete = false;
};

}  // namespace tributary::provenance
