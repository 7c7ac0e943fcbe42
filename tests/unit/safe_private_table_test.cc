// PS3.15 Table E.3.10-1 (Safe Private Attributes): the generated table against the standard's CSV,
// and the default research profile keeping exactly those private attributes.
#include "dicom/safe_private_table.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcvr.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include "dicom/deidentifier.h"
#include "tests/unit/csv_table.h"
#include "tests/unit/synthetic_dicom.h"

namespace tributary::dicom {
namespace {

using Key = std::tuple<std::string, std::uint16_t, std::uint8_t>;  // creator, group, element

// A row of tools/ps315_table_e3_10_1.csv, read here with its own parser.
struct CsvRow {
  std::string creator;
  std::uint16_t group;
  std::uint8_t element;
  std::string vr;
};

std::vector<CsvRow> StandardRows() {
  std::ifstream in(std::string(TRIBUTARY_SOURCE_DIR) + "/dicom/tools/ps315_table_e3_10_1.csv");
  EXPECT_TRUE(in.good()) << "dicom/tools/ps315_table_e3_10_1.csv missing";
  std::vector<CsvRow> rows;
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "data_element,private_creator,vr,vm,meaning");
  while (std::getline(in, line)) {
    std::vector<std::string> f = testing::CsvFields(line);
    EXPECT_EQ(f.size(), 5u) << line;
    if (f.size() != 5) continue;
    // "GGGG,xxEE"
    rows.push_back({f[1], static_cast<std::uint16_t>(std::stoul(f[0].substr(0, 4), nullptr, 16)),
                    static_cast<std::uint8_t>(std::stoul(f[0].substr(7, 2), nullptr, 16)), f[2]});
  }
  return rows;
}

TEST(SafePrivateTable, HoldsEveryRowOfTheStandardsTableInOrder) {
  std::vector<CsvRow> expected = StandardRows();
  ASSERT_EQ(expected.size(), 479u);  // the 2026d table (20 creators)
  auto rows = SafePrivateTableRows();
  ASSERT_EQ(rows.size(), expected.size());
  std::set<std::string> creators;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].creator, expected[i].creator) << i;
    EXPECT_EQ(rows[i].group, expected[i].group) << i;
    EXPECT_EQ(rows[i].element, expected[i].element) << i;
    EXPECT_EQ(rows[i].vr, expected[i].vr) << i;
    creators.insert(rows[i].creator);
  }
  EXPECT_EQ(creators.size(), 20u);
}

TEST(SafePrivateTable, IsTheResearchProfilesSafeList) {
  DeidPolicy policy = DeidPolicy::ResearchDefault();
  EXPECT_TRUE(policy.Has(ProfileOption::kRetainSafePrivate));
  std::set<Key> listed;
  for (const CsvRow& row : StandardRows()) listed.insert({row.creator, row.group, row.element});
  std::set<Key> used;
  for (const SafePrivateTag& tag : policy.safe_private)
    used.insert({tag.creator, tag.group, tag.element});
  EXPECT_EQ(used, listed);
}

DcmEVR PlantVr(const std::string& vr) {
  if (vr.empty() || vr.find('/') != std::string::npos || vr == "AT") return EVR_OB;
  DcmVR parsed(vr.c_str());
  return parsed.getEVR() == EVR_UNKNOWN ? EVR_OB : parsed.getEVR();
}

// A value a safe attribute of this VR can hold; never the PHI marker.
bool PutSafe(DcmItem& item, const DcmTag& tag, DcmEVR vr) {
  if (vr == EVR_SQ) {
    DcmItem* nested = nullptr;
    if (item.findOrCreateSequenceItem(tag, nested, -2).bad() || nested == nullptr) return false;
    // What a kept private sequence holds is still de-identified.
    return nested->putAndInsertString(DCM_PatientName, "PHIPLANT^INSIDE^SAFE^SEQUENCE").good() &&
           nested->putAndInsertString(DCM_Modality, "MR").good();
  }
  if (vr == EVR_OW) {
    const Uint16 words[2] = {1, 2};
    return item.putAndInsertUint16Array(tag, words, 2).good();
  }
  if (vr == EVR_OB || vr == EVR_UN || vr == EVR_OF || vr == EVR_OD || vr == EVR_OL) {
    const Uint8 bytes[4] = {1, 2, 3, 4};
    return item.putAndInsertUint8Array(tag, bytes, 4).good();
  }
  DcmVR info(vr);
  const char* value = "7";
  if (vr == EVR_UI) value = "1.2.3.4";
  if (vr == EVR_DA) value = "20200101";
  if (vr == EVR_TM) value = "101010";
  if (vr == EVR_DT) value = "20200101101010";
  if (vr == EVR_AS) value = "030Y";
  if (info.isaString() && vr != EVR_DS && vr != EVR_IS && vr != EVR_UI && vr != EVR_DA &&
      vr != EVR_TM && vr != EVR_DT && vr != EVR_AS) {
    value = "SAFEVALUE";
  }
  return item.putAndInsertString(tag, value).good();
}

// Every block that Table E.3.10-1 names is planted whole: its listed attributes with harmless
// values, and every other element number of the block (0x00-0xFF) with a PHI-like string. The
// research profile must keep the former and none of the latter.
TEST(SafePrivateTable, ResearchProfileKeepsListedAttributesAndNothingElseOfTheirBlocks) {
  std::map<std::pair<std::uint16_t, std::string>, std::map<std::uint8_t, std::string>> blocks;
  for (const CsvRow& row : StandardRows()) blocks[{row.group, row.creator}][row.element] = row.vr;

  auto file = testing::MakeCtSlice();
  DcmDataset& d = *file->getDataset();
  std::map<std::uint16_t, std::uint16_t> next_block;  // per group, from 0x10
  struct Expected {
    DcmTagKey tag;
    std::string creator;
  };
  std::vector<Expected> kept;
  std::size_t planted = 0;
  for (const auto& [where, listed] : blocks) {
    auto [group, creator] = where;
    std::uint16_t block = next_block.emplace(group, 0x10).first->second++;
    ASSERT_TRUE(d.putAndInsertString(DcmTag(group, block, EVR_LO), creator.c_str()).good());
    for (int e = 0; e <= 0xFF; ++e) {
      auto number = static_cast<std::uint16_t>((block << 8) | e);
      DcmTag tag(group, number, creator.c_str());
      auto it = listed.find(static_cast<std::uint8_t>(e));
      if (it != listed.end()) {
        DcmEVR vr = PlantVr(it->second);
        tag.setVR(DcmVR(vr));
        ASSERT_TRUE(PutSafe(d, tag, vr)) << creator << " " << tag.toString();
        kept.push_back({DcmTagKey(group, number), creator});
        continue;
      }
      tag.setVR(DcmVR(EVR_LO));
      std::string phi = "PHIPLANT" + std::to_string(planted++);
      ASSERT_TRUE(d.putAndInsertString(tag, phi.c_str()).good());
    }
  }
  ASSERT_EQ(kept.size(), 479u);
  std::string input = testing::Encode(*file);
  ASSERT_FALSE(input.empty());
  ASSERT_NE(input.find("PHIPLANT"), std::string::npos);

  auto deidentifier = Deidentifier::Create(SecretKey::FromHex(std::string(64, '7')).value(),
                                           DeidPolicy::ResearchDefault());
  ASSERT_TRUE(deidentifier.ok());
  auto out = deidentifier->Deidentify(input, "c");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->bytes.find("PHIPLANT"), std::string::npos) << "an unlisted private value survived";

  auto parsed = testing::Decode(out->bytes);
  ASSERT_NE(parsed, nullptr);
  DcmDataset& result = *parsed->getDataset();
  for (const Expected& e : kept) {
    EXPECT_TRUE(result.tagExists(e.tag)) << e.creator << " " << DcmTag(e.tag).toString() << " lost";
    DcmTagKey reservation(e.tag.getGroup(), e.tag.getElement() >> 8);
    EXPECT_EQ(testing::GetString(result, reservation), e.creator);
  }
  // Only those: the private elements left are the listed ones and their creators.
  std::size_t private_elements = 0;
  for (DcmObject* o = result.nextInContainer(nullptr); o != nullptr;
       o = result.nextInContainer(o)) {
    if (o->getTag().isPrivate() && !o->getTag().isPrivateReservation()) ++private_elements;
  }
  EXPECT_EQ(private_elements, kept.size());
}

}  // namespace
}  // namespace tributary::dicom
