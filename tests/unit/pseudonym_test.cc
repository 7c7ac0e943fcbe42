#include "dicom/pseudonym.h"

#include <gtest/gtest.h>

#include <set>

namespace tributary::dicom {
namespace {

const std::string kKey(32, '\x42');

TEST(RemapUid, IsDeterministicValidAndKeyed) {
  std::string a = RemapUid(kKey, "c", "1.2.3.4");
  EXPECT_EQ(a, RemapUid(kKey, "c", "1.2.3.4"));
  EXPECT_NE(a, RemapUid(kKey, "c", "1.2.3.5"));
  EXPECT_NE(a, RemapUid(std::string(32, '\x43'), "c", "1.2.3.4"));
  ASSERT_EQ(a.rfind("2.25.", 0), 0u);
  EXPECT_LE(a.size(), 64u);
  std::string digits = a.substr(5);
  EXPECT_TRUE(digits == "0" || digits[0] != '0') << "no leading zero in a UID component";
  for (char c : digits) EXPECT_TRUE(c >= '0' && c <= '9');
  // 128 bits: at most 39 decimal digits.
  EXPECT_LE(digits.size(), 39u);
}

TEST(RemapUid, IsKeyedByCentreWithUnambiguousFields) {
  std::string a = RemapUid(kKey, "centre-a", "1.2.3.4");
  EXPECT_EQ(a, RemapUid(kKey, "centre-a", "1.2.3.4"));
  EXPECT_NE(a, RemapUid(kKey, "centre-b", "1.2.3.4"));
  EXPECT_NE(RemapUid(kKey, "c1", "2.3"), RemapUid(kKey, "c", "12.3"));
}

TEST(InstanceFingerprint, IgnoresTheCentreAndDiffersFromTheRemappedUid) {
  std::string f = InstanceFingerprint(kKey, "1.2.3.4");
  EXPECT_EQ(f, InstanceFingerprint(kKey, "1.2.3.4"));
  EXPECT_NE(f, InstanceFingerprint(kKey, "1.2.3.5"));
  EXPECT_NE(f, InstanceFingerprint(std::string(32, '\x43'), "1.2.3.4"));
  EXPECT_EQ(f.size(), 64u);
  EXPECT_EQ(RemapUid(kKey, "c", "1.2.3.4").find(f.substr(0, 8)), std::string::npos);
}

TEST(PatientPseudonym, StableWithinCentreDistinctAcrossCentres) {
  PatientPseudonym a = DerivePatientPseudonym(kKey, "centre-a", "id:12345");
  PatientPseudonym again = DerivePatientPseudonym(kKey, "centre-a", "id:12345");
  PatientPseudonym other_centre = DerivePatientPseudonym(kKey, "centre-b", "id:12345");
  EXPECT_EQ(a.id, again.id);
  EXPECT_EQ(a.date_shift_days, again.date_shift_days);
  EXPECT_NE(a.id, other_centre.id);
  // Field boundaries are unambiguous: ("ab", "c") and ("a", "bc") differ.
  EXPECT_NE(DerivePatientPseudonym(kKey, "ab", "c").id, DerivePatientPseudonym(kKey, "a", "bc").id);
}

TEST(PatientPseudonym, DateShiftIsNeverZeroAndWithinRange) {
  std::set<int> shifts;
  for (int i = 0; i < 2000; ++i) {
    int shift = DerivePatientPseudonym(kKey, "c", "id:" + std::to_string(i)).date_shift_days;
    EXPECT_LT(shift, 0);
    EXPECT_GE(shift, -kMaxDateShiftDays);
    shifts.insert(shift);
  }
  EXPECT_GT(shifts.size(), 1000u) << "shifts should be spread out";
}

}  // namespace
}  // namespace tributary::dicom
