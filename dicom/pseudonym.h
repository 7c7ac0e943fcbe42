#pragma once

#include <string>
#include <string_view>

namespace tributary::dicom {

// 2.25.<decimal of the first 128 bits of HMAC-SHA-256(key, "uid:" + uid)>: the same UID always
// maps to the same new UID under one key, so references between instances stay intact.
std::string RemapUid(std::string_view key, std::string_view uid);

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
