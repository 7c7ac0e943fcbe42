#include "dicom/pseudonym.h"

#include <algorithm>

#include "common/hash.h"

namespace tributary::dicom {
namespace {

std::string Decimal(unsigned __int128 value) {
  if (value == 0) return "0";
  std::string digits;
  while (value != 0) {
    digits.push_back(static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  }
  std::reverse(digits.begin(), digits.end());
  return digits;
}

std::string Message(std::string_view domain, std::string_view centre, std::string_view identity) {
  std::string message(domain);
  message.push_back('\0');
  message.append(centre);
  message.push_back('\0');
  message.append(identity);
  return message;
}

}  // namespace

std::string RemapUid(std::string_view key, std::string_view centre, std::string_view uid) {
  Digest digest = HmacSha256(key, Message("uid", centre, uid));
  unsigned __int128 value = 0;
  for (int i = 0; i < 16; ++i) value = (value << 8) | digest[i];
  return "2.25." + Decimal(value);
}

std::string InstanceFingerprint(std::string_view key, std::string_view sop_instance_uid) {
  std::string message = "instance:";
  message.append(sop_instance_uid);
  return ToHex(HmacSha256(key, message));
}

PatientPseudonym DerivePatientPseudonym(std::string_view key, std::string_view centre,
                                        std::string_view patient_identity) {
  Digest id_digest = HmacSha256(key, Message("patient", centre, patient_identity));
  std::string hex = ToHex(id_digest).substr(0, 20);
  std::transform(hex.begin(), hex.end(), hex.begin(), [](char c) { return std::toupper(c); });

  Digest shift_digest = HmacSha256(key, Message("date-shift", centre, patient_identity));
  std::uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) bits = (bits << 8) | shift_digest[i];
  int shift = -1 - static_cast<int>(bits % kMaxDateShiftDays);
  return {"TRB" + hex, shift};
}

}  // namespace tributary::dicom
