#pragma once

#include <string>
#include <string_view>

namespace tributary::dicom {

// 2.25.<decimal of the first 128 bits of HMAC-SHA-256(key, "uid", centre, uid)>: the same UID from
// one centre always maps to the same new UID under one key, so references between its instances
// stay intact; the same UID sent by two centres maps to two unrelated UIDs.
std::string RemapUid(std::string_view key, std::string_view centre, std::string_view uid);

// Hex of HMAC-SHA-256(key, "instance:" + original SOP Instance UID), without the centre: equal
// when two centres send the same original instance. For operators only; never written into an
// instance and never shown to uploaders.
std::string InstanceFingerprint(std::string_view key, std::string_view sop_instance_uid);

struct PatientPseudonym {
  std::string id;       // replaces PatientID and PatientName
  int date_shift_days;  // applied to every date of the patient; never 0
};

// Derived from HMAC(key, centre, patient identity): one patient of one centre keeps one pseudonym
// and one date shift everywhere; equal identities at two centres never merge.
PatientPseudonym DerivePatientPseudonym(std::string_view key, std::string_view centre,
                                        std::string_view patient_identity);

// Date shifts lie in [-kMaxDateShiftDays, -1]: dates move back by one day to about ten years.
inline constexpr int kMaxDateShiftDays = 3652;

}  // namespace tributary::dicom
