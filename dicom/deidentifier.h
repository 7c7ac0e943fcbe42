#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/secret_key.h"
#include "common/status.h"
#include "dicom/deid_profile.h"

namespace tributary::dicom {

// What a de-identified instance is, in plain types; nothing here is identifying.
struct DeidentifiedInstance {
  std::string bytes;         // DICOM Part 10 file, same transfer syntax as the input
  std::string bytes_sha256;  // SHA-256 of `bytes` (lower-case hex), hashed as they were encoded
  std::string sop_class_uid;
  std::string sop_instance_uid;     // remapped
  std::string study_instance_uid;   // remapped
  std::string series_instance_uid;  // remapped
  std::string transfer_syntax_uid;
  std::string modality;
  std::string patient_pseudonym;
  int date_shift_days = 0;  // 0 when dates were not shifted
  // BurnedInAnnotation was YES and the source policy accepted it (recorded in provenance).
  bool accepted_burned_in_annotation = false;
  // InstanceFingerprint of the original SOP Instance UID: the same at every centre. Operators'
  // eyes only: never in `bytes`, never shown to an uploader.
  std::string original_fingerprint;
};

// What a byte string is, before any de-identification is attempted.
enum class DicomKind { kNotDicom, kDicomDir, kInstance };
DicomKind ProbeDicom(std::string_view bytes);

// Why an instance was refused, for callers that report reasons as codes.
enum class Rejection {
  kNotDicom,
  kMalformed,
  kNotStorageClass,
  kMissingAttribute,
  kBurnedInAnnotation,
  kInternal,  // the engine failed (e.g. the encoded instance did not read back): not the file's
              // fault
  kOther
};
Rejection ClassifyRejection(const absl::Status& status);

// PS3.15 Annex E de-identification of single instances held in memory. Thread-safe: one
// Deidentifier serves any number of threads.
//
// Errors: InvalidArgument for input that is not a readable DICOM storage instance (the message says
// why), FailedPrecondition for an instance the source policy refuses (burned-in annotation; the
// message names no remedy, which depends on the caller: a centre policy or a command-line flag).
class Deidentifier {
 public:
  static absl::StatusOr<Deidentifier> Create(SecretKey key, DeidPolicy policy);
  Deidentifier(Deidentifier&&) noexcept;
  Deidentifier& operator=(Deidentifier&&) noexcept;
  ~Deidentifier();

  absl::StatusOr<DeidentifiedInstance> Deidentify(std::string_view part10, std::string_view centre,
                                                  const SourcePolicy& source = {}) const;

  const DeidPolicy& policy() const;
  // The value written to DeidentificationMethod (0012,0063), first value.
  static std::string MethodDescription();

 private:
  struct Impl;
  explicit Deidentifier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tributary::dicom
