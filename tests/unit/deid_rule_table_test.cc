#include "dicom/deid_rule_table.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/unit/csv_table.h"

namespace tributary::dicom {
namespace {

const std::string kDeidDir = std::string(TRIBUTARY_SHARED_DIR) + "/data/deid";

std::string BasicCode(BasicAction action) {
  switch (action) {
    case BasicAction::kD:
      return "D";
    case BasicAction::kZ:
      return "Z";
    case BasicAction::kX:
      return "X";
    case BasicAction::kK:
      return "K";
    case BasicAction::kC:
      return "C";
    case BasicAction::kU:
      return "U";
    case BasicAction::kZD:
      return "Z/D";
    case BasicAction::kXZ:
      return "X/Z";
    case BasicAction::kXD:
      return "X/D";
    case BasicAction::kXZD:
      return "X/Z/D";
    case BasicAction::kXZU:
      return "X/Z/U*";
  }
  return "?";
}

std::string OptionCode(OptionAction action) {
  return action == OptionAction::kK ? "K" : action == OptionAction::kC ? "C" : "";
}

std::string TagText(const DeidTableRow& row) {
  if (row.match == TagMatch::kPrivate) return "GGGG,EEEE";
  auto part = [](std::uint16_t value, std::uint16_t mask) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (int shift = 12; shift >= 0; shift -= 4) {
      out.push_back(((mask >> shift) & 0xF) == 0 ? 'X' : kHex[(value >> shift) & 0xF]);
    }
    return out;
  };
  return part(row.group, row.group_mask) + "," + part(row.element, row.element_mask);
}

// The compiled-in rule table must say exactly what the standard's Table E.1-1 says.
TEST(DeidRuleTable, MatchesStandardCsvWhenPresent) {
  const char* files[] = {"ps315_table_e1_1_2024b.csv", "ps315_table_e1_1_2026d_additions.csv"};
  if (!std::filesystem::exists(kDeidDir + "/" + files[0])) {
    GTEST_SKIP() << "reference tables not found at " << kDeidDir << " (../shared absent)";
  }
  std::map<std::string, const DeidTableRow*> ours;
  for (const DeidTableRow& row : DeidTableRows()) ours[TagText(row)] = &row;

  std::size_t csv_rows = 0;
  for (const char* name : files) {
    std::ifstream in(kDeidDir + "/" + name);
    std::string line;
    std::getline(in, line);
    std::vector<std::string> header = testing::CsvFields(line);
    ASSERT_EQ(header.size(), 16u) << name;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      std::vector<std::string> f = testing::CsvFields(line);
      ASSERT_EQ(f.size(), 16u) << line;
      ++csv_rows;
      std::string tag = f[0];
      for (char& c : tag) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      auto it = ours.find(tag);
      ASSERT_NE(it, ours.end()) << "missing from rule table: " << tag << " " << f[1];
      const DeidTableRow& row = *it->second;
      EXPECT_EQ(BasicCode(row.basic), f[5]) << tag;
      for (std::size_t o = 0; o < kProfileOptionCount; ++o) {
        EXPECT_EQ(OptionCode(row.options[o]), f[6 + o])
            << tag << " option column " << header[6 + o];
      }
    }
  }
  EXPECT_EQ(csv_rows, DeidTableRows().size());
  EXPECT_EQ(csv_rows, 621u + 36u);
}

TEST(DeidRuleTable, HasEveryEditionRow) {
  std::size_t additions = 0;
  for (const DeidTableRow& row : DeidTableRows()) additions += std::string(row.edition) == "2026d";
  EXPECT_EQ(additions, 36u);
}

struct ResolveCase {
  std::uint16_t group, element;
  std::set<ProfileOption> options;
  Action expected;
};

// Declarative: (attribute, options) -> resolved action, one row per action code and option.
TEST(DeidRuleTable, ResolvesActionCodesAndOptions) {
  using O = ProfileOption;
  const ResolveCase cases[] = {
      {0x0008, 0x0050, {}, Action::kEmpty},     // AccessionNumber: Z
      {0x0010, 0x1000, {}, Action::kRemove},    // OtherPatientIDs: X
      {0x0008, 0x0018, {}, Action::kRemapUid},  // SOPInstanceUID: U
      {0x0008, 0x0018, {O::kRetainUids}, Action::kKeep},
      {0x0008, 0x1140, {}, Action::kRemapUid},  // ReferencedImageSequence: X/Z/U*
      {0x0008, 0x0022, {}, Action::kEmpty},     // AcquisitionDate: X/Z
      {0x0008, 0x0022, {O::kRetainLongitudinalFullDates}, Action::kKeep},
      {0x0008, 0x0022, {O::kRetainLongitudinalModifiedDates}, Action::kClean},
      {0x0008, 0x1010, {}, Action::kDummy},  // StationName: X/Z/D
      {0x0008, 0x1010, {O::kRetainDeviceIdentity}, Action::kKeep},
      {0x0008, 0x0080, {}, Action::kDummy},  // InstitutionName: X/Z/D
      {0x0008, 0x0080, {O::kRetainInstitutionIdentity}, Action::kKeep},
      {0x0010, 0x1010, {}, Action::kRemove},  // PatientAge: X
      {0x0010, 0x1010, {O::kRetainPatientCharacteristics}, Action::kKeep},
      {0x0010, 0x2110, {O::kRetainPatientCharacteristics}, Action::kClean},  // Allergies
      {0x0008, 0x103E, {}, Action::kRemove},                                 // SeriesDescription: X
      {0x0008, 0x103E, {O::kCleanDescriptors}, Action::kClean},
      {0x0040, 0xA730, {}, Action::kDummy},  // ContentSequence: D
      {0x0040, 0xA730, {O::kCleanStructuredContent}, Action::kClean},
      {0x0070, 0x0001, {O::kCleanGraphics}, Action::kClean},  // GraphicAnnotationSequence
      {0x6002, 0x3000, {}, Action::kRemove},                  // OverlayData, repeating group 60xx
      {0x6002, 0x3000, {O::kCleanGraphics}, Action::kClean},
      {0x5010, 0x0005, {}, Action::kRemove},  // curve data 50xx,xxxx
      {0x0010, 0x0020, {}, Action::kDummy},   // PatientID: Z/D
      {0x0008, 0x0021, {}, Action::kDummy},   // SeriesDate: X/D
  };
  for (const ResolveCase& c : cases) {
    DeidPolicy policy;
    policy.options = c.options;
    DeidRuleTable table(policy);
    auto action = table.Find(c.group, c.element);
    ASSERT_TRUE(action.has_value()) << std::hex << c.group << "," << c.element;
    EXPECT_EQ(ActionName(*action), std::string(ActionName(c.expected)))
        << std::hex << c.group << "," << c.element;
  }
  DeidPolicy safe;
  safe.options = {ProfileOption::kRetainSafePrivate};
  EXPECT_EQ(DeidRuleTable(safe).private_action(), Action::kClean);
  EXPECT_EQ(DeidRuleTable(DeidPolicy{}).private_action(), Action::kRemove);
  EXPECT_FALSE(DeidRuleTable(DeidPolicy{}).Find(0x0028, 0x0010).has_value());  // Rows: not listed
}

TEST(DeidPolicy, FromNames) {
  auto research = DeidPolicy::FromNames("research", {});
  ASSERT_TRUE(research.ok());
  EXPECT_EQ(research->options, DeidPolicy::ResearchDefault().options);
  auto full_dates = DeidPolicy::FromNames("research", {"retain-full-dates", "retain-uids"});
  ASSERT_TRUE(full_dates.ok());
  EXPECT_EQ(full_dates->options,
            (std::set<ProfileOption>{
                ProfileOption::kRetainSafePrivate, ProfileOption::kRetainPatientCharacteristics,
                ProfileOption::kRetainLongitudinalFullDates, ProfileOption::kRetainUids}));
  EXPECT_TRUE(DeidPolicy::FromNames("basic", {}).value().options.empty());
  EXPECT_EQ(DeidPolicy::FromNames("strict", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DeidPolicy::FromNames("basic", {"retain-all"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tributary::dicom
