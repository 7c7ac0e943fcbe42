#include "dicom/date_shift.h"

#include <gtest/gtest.h>

namespace tributary::dicom {
namespace {

struct DateCase {
  const char* input;
  int days;
  const char* expected;  // nullptr: refused
};

TEST(ShiftDate, Cases) {
  const DateCase cases[] = {
      {"20240315", -1, "20240314"},
      {"20240301", -1, "20240229"},  // leap year
      {"20230301", -1, "20230228"},
      {"20000101", -365, "19990101"},
      {"20240315", 0, "20240315"},
      {"20240315\\20240316", -10, "20240305\\20240306"},
      {"20240101-20240131", -1, "20231231-20240130"},
      {"-20240131", -1, "-20240130"},
      {"2024.03.15", -1, "20240314"},  // ACR-NEMA form
      {"", -5, ""},
      {"20241315", -1, nullptr},  // month 13
      {"2024031", -1, nullptr},
      {"ABCDEFGH", -1, nullptr},
  };
  for (const DateCase& c : cases) {
    auto shifted = ShiftDate(c.input, c.days);
    if (c.expected == nullptr) {
      EXPECT_FALSE(shifted.has_value()) << c.input;
    } else {
      ASSERT_TRUE(shifted.has_value()) << c.input;
      EXPECT_EQ(*shifted, c.expected) << c.input;
    }
  }
}

TEST(ShiftDateTime, KeepsTimeAndOffset) {
  EXPECT_EQ(ShiftDateTime("20240315101530.123456+0100", -20).value(), "20240224101530.123456+0100");
  EXPECT_EQ(ShiftDateTime("20240315", -1).value(), "20240314");
  EXPECT_FALSE(ShiftDateTime("2024", -1).has_value());
}

}  // namespace
}  // namespace tributary::dicom
