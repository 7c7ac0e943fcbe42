#include "dicom/deidentifier.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcvr.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/hash.h"
#include "dicom/deid_rule_table.h"
#include "dicom/pseudonym.h"
#include "tests/unit/csv_table.h"
#include "tests/unit/synthetic_dicom.h"

namespace tributary::dicom {
namespace {

using testing::Decode;
using testing::Encode;
using testing::GetString;
using testing::MakeCtSlice;

const std::string kKeyHex(64, '7');

SecretKey TestKey() { return SecretKey::FromHex(kKeyHex).value(); }

Deidentifier Make(DeidPolicy policy = DeidPolicy::ResearchDefault()) {
  auto deidentifier = Deidentifier::Create(TestKey(), std::move(policy));
  EXPECT_TRUE(deidentifier.ok()) << deidentifier.status();
  return std::move(*deidentifier);
}

DeidPolicy PolicyWith(std::set<ProfileOption> options) {
  DeidPolicy policy;
  policy.options = std::move(options);
  return policy;
}

std::string Fixed(const char* prefix, std::size_t index, const char* suffix = "X") {
  std::string digits = std::to_string(index % 10000);
  return std::string(prefix) + std::string(4 - digits.size(), '0') + digits + suffix;
}

DcmTag PrivateTag(Uint16 group, Uint16 element, const char* creator, DcmEVR vr) {
  DcmTag tag(group, element, creator);
  tag.setVR(DcmVR(vr));
  return tag;
}

// A planted value: distinctive text where the VR allows one, otherwise checked by reading back.
struct Plant {
  DcmTagKey tag;
  DcmEVR vr;
  std::string value;
  std::string code;  // Table E.1-1's action code for this policy (from the CSV)
  bool searchable;   // value must not occur anywhere in the output bytes
};

const std::string kDeidCsvDir = std::string(TRIBUTARY_SHARED_DIR) + "/data/deid/";

// The option columns of the CSV, in ProfileOption order.
constexpr const char* kOptionColumns[kProfileOptionCount] = {"retain_safe_private",
                                                             "retain_uids",
                                                             "retain_device_identity",
                                                             "retain_institution_identity",
                                                             "retain_patient_characteristics",
                                                             "retain_long_full_dates",
                                                             "retain_long_modified_dates",
                                                             "clean_descriptors",
                                                             "clean_structured_content",
                                                             "clean_graphics"};

// The action PS3.15 Table E.1-1 gives a row under `policy`, read from the standard's CSV rather
// than the engine: an option's K wins over an option's C, either over the basic action.
std::string TableCode(const std::map<std::string, std::string>& row, const DeidPolicy& policy) {
  std::string code = row.at("basic_action");
  bool clean = false;
  for (std::size_t o = 0; o < kProfileOptionCount; ++o) {
    if (!policy.Has(static_cast<ProfileOption>(o))) continue;
    const std::string& cell = row.at(kOptionColumns[o]);
    if (cell == "K") return "K";
    if (cell == "C") clean = true;
  }
  return clean ? "C" : code;
}

// YYYYMMDD moved by `days`.
std::string ShiftedDate(const std::string& date, int days) {
  using namespace std::chrono;
  year_month_day ymd{year(std::stoi(date.substr(0, 4))),
                     month(static_cast<unsigned>(std::stoi(date.substr(4, 2)))),
                     day(static_cast<unsigned>(std::stoi(date.substr(6, 2))))};
  year_month_day moved{sys_days(ymd) + std::chrono::days(days)};
  char out[32];
  std::snprintf(out, sizeof(out), "%04d%02u%02u", static_cast<int>(moved.year()),
                static_cast<unsigned>(moved.month()), static_cast<unsigned>(moved.day()));
  return out;
}

std::string PlantValue(DcmEVR vr, std::size_t i, const char* prefix, bool& searchable) {
  searchable = true;
  switch (vr) {
    case EVR_UI:
      return Fixed("1.2.826.0.1.3680043.10.9999.1", i, prefix[2] == 'N' ? ".2" : ".1");
    case EVR_DA: {
      searchable = false;
      std::string month = std::to_string(i % 12 + 1);  // a valid date: 1951-MM-15
      return "1951" + std::string(2 - month.size(), '0') + month + "15";
    }
    case EVR_DT:
      searchable = false;
      return "19510615123000";
    case EVR_TM:
      searchable = false;
      return "123456";
    case EVR_AS:
      searchable = false;
      return "042Y";
    case EVR_DS:
    case EVR_IS:
      return Fixed(prefix[2] == 'N' ? "8" : "9", i, "7");
    case EVR_PN:
      return Fixed(prefix, i) + "^GIVEN";
    case EVR_CS:
    case EVR_AE:
    case EVR_SH:
    case EVR_LO:
    case EVR_LT:
    case EVR_ST:
    case EVR_UT:
    case EVR_UC:
    case EVR_UR:
      return Fixed(prefix, i);
    case EVR_OB:
    case EVR_OW:
    case EVR_UN:
      return Fixed(prefix, i, "BINARYVAL");  // even length, stored as raw bytes
    default:
      searchable = false;
      return "4242";
  }
}

// Puts a planted value into `item`; returns false where DCMTK cannot hold that VR as planted.
bool PutPlant(DcmItem& item, const DcmTagKey& key, DcmEVR vr, const std::string& value) {
  DcmTag tag(key);
  if (vr == EVR_SQ) {
    DcmItem* nested = nullptr;
    if (item.findOrCreateSequenceItem(key, nested, -2).bad()) return false;
    return nested->putAndInsertString(DCM_InstitutionName, value.c_str()).good();
  }
  if (vr == EVR_OB || vr == EVR_OW || vr == EVR_UN) {
    return item
        .putAndInsertUint8Array(key, reinterpret_cast<const Uint8*>(value.data()), value.size())
        .good();
  }
  return item.putAndInsertString(key, value.c_str()).good();
}

// Every attribute of Table E.1-1 (and private blocks, overlays, curves, nested sequences) gets a
// distinctive value; after de-identification none that the profile does not keep may be found.
class PlantedValues : public ::testing::TestWithParam<const char*> {};

TEST_P(PlantedValues, NoneOfTheRemovedValuesSurviveAnywhere) {
  std::vector<std::map<std::string, std::string>> table =
      testing::ReadCsv(kDeidCsvDir + "ps315_table_e1_1_2024b.csv");
  for (auto& row : testing::ReadCsv(kDeidCsvDir + "ps315_table_e1_1_2026d_additions.csv"))
    table.push_back(std::move(row));
  if (table.empty()) GTEST_SKIP() << "Table E.1-1 CSV not found under " << kDeidCsvDir;
  DeidPolicy policy =
      std::string(GetParam()) == "research" ? DeidPolicy::ResearchDefault() : DeidPolicy{};
  DeidRuleTable rules(policy);
  auto file = MakeCtSlice();
  DcmDataset& dataset = *file->getDataset();
  std::vector<Plant> plants;

  DcmItem* nested_level1 = nullptr;
  DcmItem* nested_level2 = nullptr;
  ASSERT_FALSE(rules.Find(0x0040, 0x9096).has_value());  // RealWorldValueMappingSequence: unlisted
  ASSERT_FALSE(rules.Find(0x0028, 0x9110).has_value());  // PixelMeasuresSequence: unlisted
  ASSERT_TRUE(dataset.findOrCreateSequenceItem(DCM_RealWorldValueMappingSequence, nested_level1, -2)
                  .good());
  ASSERT_TRUE(
      nested_level1->findOrCreateSequenceItem(DCM_PixelMeasuresSequence, nested_level2, -2).good());

  std::size_t index = 0;
  struct CleanedDate {
    DcmTagKey tag;
    std::string planted;
  };
  std::vector<CleanedDate> cleaned_dates;  // shifted dates, checked against the shift
  for (const auto& row : table) {
    ++index;
    const std::string& tag_text = row.at("tag");  // "gggg,eeee"; patterns have x digits
    if (tag_text.size() != 9 || tag_text[4] != ',' ||
        tag_text.find_first_not_of("0123456789abcdefABCDEF,") != std::string::npos) {
      continue;  // GGGG,EEEE (private) and repeating groups (50xx, 60xx) are planted below
    }
    DcmTagKey key(static_cast<Uint16>(std::stoul(tag_text.substr(0, 4), nullptr, 16)),
                  static_cast<Uint16>(std::stoul(tag_text.substr(5, 4), nullptr, 16)));
    if (key == DCM_PixelData || key.getGroup() == 0x0002 || key.getGroup() == 0xFFFA ||
        key.getGroup() == 0xFFFC)
      continue;
    DcmTag tag(key);
    DcmEVR vr = tag.getEVR();
    if (vr == EVR_UNKNOWN || vr == EVR_UNKNOWN2B || vr == EVR_na) continue;
    if (vr == EVR_ox || vr == EVR_xs || vr == EVR_lt || vr == EVR_px || vr == EVR_up) vr = EVR_OB;
    std::string code = TableCode(row, policy);
    for (const char* prefix : {"PHI", "PHN"}) {
      bool searchable = false;
      std::string value = PlantValue(vr, index, prefix, searchable);
      DcmItem& target =
          std::string(prefix) == "PHI" ? static_cast<DcmItem&>(dataset) : *nested_level2;
      if (!PutPlant(target, key, vr, value)) continue;
      bool keeps = code == "K" || (code == "C" && vr != EVR_SQ);
      if (key == DCM_PatientID || key == DCM_PatientName) keeps = false;
      if (vr == EVR_SQ) {
        keeps = false;  // the nested InstitutionName marker is removed whatever the sequence's fate
        searchable = !policy.Has(ProfileOption::kRetainInstitutionIdentity);
      }
      if (code == "C" && vr == EVR_DA && std::string(prefix) == "PHI") {
        cleaned_dates.push_back({key, value});
      }
      if (!keeps) plants.push_back({key, vr, value, code, searchable});
    }
  }
  ASSERT_GT(plants.size(), 300u);

  // Private blocks (with a nested private sequence), overlays, curves.
  dataset.putAndInsertString(DcmTag(0x0009, 0x0010, EVR_LO), "ACME PHI CREATOR");
  dataset.putAndInsertString(PrivateTag(0x0009, 0x1001, "ACME PHI CREATOR", EVR_LO),
                             "PHIPRIVATE01X");
  DcmItem* private_item = nullptr;
  dataset.findOrCreateSequenceItem(PrivateTag(0x0009, 0x1002, "ACME PHI CREATOR", EVR_SQ),
                                   private_item, -2);
  ASSERT_NE(private_item, nullptr);
  private_item->putAndInsertString(DCM_PatientName, "PHIPRIVATESEQNAME^X");
  nested_level2->putAndInsertString(DcmTag(0x0011, 0x0010, EVR_LO), "ACME NESTED");
  nested_level2->putAndInsertString(PrivateTag(0x0011, 0x1001, "ACME NESTED", EVR_LO),
                                    "PHIPRIVATENESTEDX");
  dataset.putAndInsertString(DcmTag(0x6000, 0x4000, EVR_LT), "PHIOVERLAYCOMMENTX");
  std::string overlay = "PHIOVERLAYDATABITSX";
  dataset.putAndInsertUint8Array(DcmTag(0x6000, 0x3000, EVR_OB),
                                 reinterpret_cast<const Uint8*>(overlay.data()),
                                 overlay.size() + 1);
  dataset.putAndInsertString(DcmTag(0x5000, 0x2500, EVR_LO), "PHICURVELABELX");
  for (const char* marker :
       {"PHIPRIVATE01X", "PHIPRIVATESEQNAME", "PHIPRIVATENESTEDX", "PHIOVERLAYCOMMENTX",
        "PHIOVERLAYDATABITSX", "PHICURVELABELX", "ACME PHI CREATOR", "ACME NESTED"}) {
    plants.push_back({DCM_PixelData, EVR_LO, marker, "X", true});
  }

  std::string input = Encode(*file);
  ASSERT_FALSE(input.empty());
  for (const Plant& plant : plants) {
    if (plant.searchable) {
      ASSERT_NE(input.find(plant.value), std::string::npos) << plant.value << " not planted";
    }
  }
  auto result = Make(policy).Deidentify(input, "centre-a");
  ASSERT_TRUE(result.ok()) << result.status();
  const std::string& output = result->bytes;

  auto parsed = Decode(output);
  ASSERT_NE(parsed, nullptr);
  std::size_t searched = 0;
  for (const Plant& plant : plants) {
    if (plant.searchable) {
      ++searched;
      EXPECT_EQ(output.find(plant.value), std::string::npos)
          << DcmTag(plant.tag).getTagName() << " " << plant.tag.toString() << " value "
          << plant.value << " survived (" << plant.code << ")";
      continue;
    }
    // Not searchable as bytes: read it back at the top level.
    OFString now;
    DcmElement* element = nullptr;
    if (parsed->getDataset()->findAndGetElement(plant.tag, element).bad()) continue;  // removed
    if (element->getLength() == 0) continue;                                          // emptied
    element->getOFStringArray(now);
    if (plant.vr == EVR_TM && plant.code == "C") continue;
    EXPECT_NE(std::string(now.c_str()), plant.value)
        << DcmTag(plant.tag).getTagName() << " kept its value (" << plant.code << ")";
  }
  EXPECT_GT(searched, 250u);
  // Cleaned dates (modified dates): moved by the patient's shift, exactly.
  if (policy.Has(ProfileOption::kRetainLongitudinalModifiedDates)) {
    EXPECT_GT(cleaned_dates.size(), 20u);
    EXPECT_NE(result->date_shift_days, 0);
    for (const CleanedDate& date : cleaned_dates) {
      OFString now;
      ASSERT_TRUE(parsed->getDataset()->findAndGetOFString(date.tag, now).good())
          << DcmTag(date.tag).getTagName() << " (C) was removed instead of shifted";
      EXPECT_EQ(std::string(now.c_str()), ShiftedDate(date.planted, result->date_shift_days))
          << DcmTag(date.tag).getTagName();
    }
  }
  // The identifying values of the synthetic slice itself.
  for (const char* phi : {"DOE", "PID-12345", "19650312", "1.2.826.0.1.3680043.2.1125.1."}) {
    EXPECT_EQ(output.find(phi), std::string::npos) << phi;
  }
}

INSTANTIATE_TEST_SUITE_P(Profiles, PlantedValues, ::testing::Values("research", "basic"));

TEST(Deidentifier, UidReferencesStayConsistentAcrossInstances) {
  Deidentifier deidentifier = Make();
  testing::CtSliceSpec first_spec;
  testing::CtSliceSpec second_spec;
  second_spec.sop_uid = "1.2.826.0.1.3680043.2.1125.1.33";
  auto first = MakeCtSlice(first_spec);
  auto second = MakeCtSlice(second_spec);
  DcmItem* reference = nullptr;
  ASSERT_TRUE(second->getDataset()
                  ->findOrCreateSequenceItem(DCM_ReferencedImageSequence, reference, -2)
                  .good());
  reference->putAndInsertString(DCM_ReferencedSOPClassUID, UID_CTImageStorage);
  reference->putAndInsertString(DCM_ReferencedSOPInstanceUID, first_spec.sop_uid.c_str());

  auto a = deidentifier.Deidentify(Encode(*first), "centre-a");
  auto b = deidentifier.Deidentify(Encode(*second), "centre-a");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->study_instance_uid, b->study_instance_uid);
  EXPECT_EQ(a->series_instance_uid, b->series_instance_uid);
  EXPECT_NE(a->sop_instance_uid, b->sop_instance_uid);
  EXPECT_EQ(a->sop_instance_uid, RemapUid(TestKey().bytes(), "centre-a", first_spec.sop_uid));
  EXPECT_EQ(a->sop_instance_uid.rfind("2.25.", 0), 0u);

  auto parsed_a = Decode(a->bytes);
  auto parsed_b = Decode(b->bytes);
  ASSERT_TRUE(parsed_a && parsed_b);
  EXPECT_EQ(GetString(*parsed_a->getMetaInfo(), DCM_MediaStorageSOPInstanceUID),
            a->sop_instance_uid);
  EXPECT_EQ(GetString(*parsed_a->getDataset(), DCM_FrameOfReferenceUID),
            GetString(*parsed_b->getDataset(), DCM_FrameOfReferenceUID));
  DcmItem* out_reference = nullptr;
  ASSERT_TRUE(parsed_b->getDataset()
                  ->findAndGetSequenceItem(DCM_ReferencedImageSequence, out_reference, 0)
                  .good());
  EXPECT_EQ(GetString(*out_reference, DCM_ReferencedSOPInstanceUID), a->sop_instance_uid);
  EXPECT_EQ(GetString(*out_reference, DCM_ReferencedSOPClassUID), UID_CTImageStorage);
  EXPECT_EQ(GetString(*parsed_b->getDataset(), DCM_SOPClassUID), UID_CTImageStorage);
}

TEST(Deidentifier, TwoCentresGetDisjointUidsForTheSameOriginal) {
  Deidentifier deidentifier = Make();
  testing::CtSliceSpec spec;
  std::string input = Encode(*MakeCtSlice(spec));
  auto a = deidentifier.Deidentify(input, "centre-a");
  auto again = deidentifier.Deidentify(input, "centre-a");
  auto b = deidentifier.Deidentify(input, "centre-b");
  ASSERT_TRUE(a.ok() && again.ok() && b.ok());
  EXPECT_EQ(a->sop_instance_uid, again->sop_instance_uid);
  EXPECT_NE(a->study_instance_uid, b->study_instance_uid);
  EXPECT_NE(a->series_instance_uid, b->series_instance_uid);
  EXPECT_NE(a->sop_instance_uid, b->sop_instance_uid);
  EXPECT_NE(a->patient_pseudonym, b->patient_pseudonym);
  auto parsed_a = Decode(a->bytes);
  auto parsed_b = Decode(b->bytes);
  ASSERT_TRUE(parsed_a && parsed_b);
  std::string frame_a = GetString(*parsed_a->getDataset(), DCM_FrameOfReferenceUID);
  std::string frame_b = GetString(*parsed_b->getDataset(), DCM_FrameOfReferenceUID);
  EXPECT_EQ(frame_a.rfind("2.25.", 0), 0u);
  EXPECT_NE(frame_a, frame_b);
  // Nothing in one centre's output is a UID of the other's.
  for (const std::string& uid :
       {b->study_instance_uid, b->series_instance_uid, b->sop_instance_uid, frame_b}) {
    EXPECT_EQ(a->bytes.find(uid), std::string::npos) << uid;
  }
}

TEST(Deidentifier, CrossCentreFingerprintIsTheSameAtEveryCentreAndNotInTheOutput) {
  Deidentifier deidentifier = Make();
  testing::CtSliceSpec spec;
  testing::CtSliceSpec other;
  other.sop_uid = "1.2.826.0.1.3680043.2.1125.1.34";
  auto a = deidentifier.Deidentify(Encode(*MakeCtSlice(spec)), "centre-a");
  auto b = deidentifier.Deidentify(Encode(*MakeCtSlice(spec)), "centre-b");
  auto c = deidentifier.Deidentify(Encode(*MakeCtSlice(other)), "centre-a");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->original_fingerprint.size(), 64u);
  EXPECT_EQ(a->original_fingerprint, b->original_fingerprint);
  EXPECT_NE(a->original_fingerprint, c->original_fingerprint);
  EXPECT_EQ(a->original_fingerprint, InstanceFingerprint(TestKey().bytes(), spec.sop_uid));
  EXPECT_EQ(a->bytes.find(a->original_fingerprint), std::string::npos);
}

TEST(Deidentifier, BytesSha256IsTheDigestOfTheReturnedBytes) {
  Deidentifier deidentifier = Make();
  auto out = deidentifier.Deidentify(Encode(*MakeCtSlice({})), "centre-a");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->bytes_sha256, ToHex(Sha256(out->bytes)));
}

TEST(Deidentifier, IssuerOfPatientIdIsPartOfThePatientKey) {
  Deidentifier deidentifier = Make();
  auto with_issuer = [&](const char* issuer, const char* sop) {
    testing::CtSliceSpec spec;
    spec.sop_uid = sop;
    auto file = MakeCtSlice(spec);
    if (issuer != nullptr) file->getDataset()->putAndInsertString(DCM_IssuerOfPatientID, issuer);
    return deidentifier.Deidentify(Encode(*file), "centre-a");
  };
  auto hospital = with_issuer("HOSPITAL-NORTH", "1.2.826.0.1.3680043.2.1125.1.41");
  auto hospital_again = with_issuer("HOSPITAL-NORTH", "1.2.826.0.1.3680043.2.1125.1.42");
  auto clinic = with_issuer("CLINIC-SOUTH", "1.2.826.0.1.3680043.2.1125.1.43");
  auto none = with_issuer(nullptr, "1.2.826.0.1.3680043.2.1125.1.44");
  ASSERT_TRUE(hospital.ok() && hospital_again.ok() && clinic.ok() && none.ok());
  EXPECT_EQ(hospital->patient_pseudonym, hospital_again->patient_pseudonym);
  EXPECT_EQ(hospital->date_shift_days, hospital_again->date_shift_days);
  EXPECT_NE(hospital->patient_pseudonym, clinic->patient_pseudonym);
  EXPECT_NE(hospital->patient_pseudonym, none->patient_pseudonym);
  // The date shift follows the same key: that of each patient.
  EXPECT_EQ(clinic->date_shift_days,
            DerivePatientPseudonym(TestKey().bytes(), "centre-a",
                                   std::string("id:PID-12345") + '\0' + "issuer:CLINIC-SOUTH")
                .date_shift_days);
  // Without an issuer the key is what it always was: earlier pseudonyms stay valid.
  EXPECT_EQ(none->patient_pseudonym,
            DerivePatientPseudonym(TestKey().bytes(), "centre-a", "id:PID-12345").id);
  auto parsed = Decode(hospital->bytes);
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(parsed->getDataset()->tagExists(DCM_IssuerOfPatientID));
}

TEST(Deidentifier, PatientPseudonymAndDateShiftFollowThePatientNotTheFile) {
  Deidentifier deidentifier = Make();
  testing::CtSliceSpec study1;
  testing::CtSliceSpec study2;
  study2.study_uid = "1.2.826.0.1.3680043.2.1125.9.1";
  study2.sop_uid = "1.2.826.0.1.3680043.2.1125.9.3";
  study2.study_date = "20250101";
  auto a = deidentifier.Deidentify(Encode(*MakeCtSlice(study1)), "centre-a");
  auto b = deidentifier.Deidentify(Encode(*MakeCtSlice(study2)), "centre-a");
  auto other_centre = deidentifier.Deidentify(Encode(*MakeCtSlice(study1)), "centre-b");
  ASSERT_TRUE(a.ok() && b.ok() && other_centre.ok());
  EXPECT_EQ(a->patient_pseudonym, b->patient_pseudonym);
  EXPECT_NE(a->patient_pseudonym, other_centre->patient_pseudonym);
  EXPECT_EQ(a->date_shift_days, b->date_shift_days);
  EXPECT_NE(a->date_shift_days, 0);

  auto parsed_a = Decode(a->bytes);
  auto parsed_b = Decode(b->bytes);
  DcmDataset& da = *parsed_a->getDataset();
  EXPECT_EQ(GetString(da, DCM_PatientID), a->patient_pseudonym);
  EXPECT_EQ(GetString(da, DCM_PatientName), a->patient_pseudonym);
  // The interval between the two studies (2024-03-15 -> 2025-01-01: 292 days) is preserved.
  auto days = [](const std::string& ymd) {
    std::tm tm{};
    tm.tm_year = std::stoi(ymd.substr(0, 4)) - 1900;
    tm.tm_mon = std::stoi(ymd.substr(4, 2)) - 1;
    tm.tm_mday = std::stoi(ymd.substr(6, 2));
    return static_cast<long>(timegm(&tm) / 86400);
  };
  std::string shifted_a = GetString(da, DCM_StudyDate);
  std::string shifted_b = GetString(*parsed_b->getDataset(), DCM_StudyDate);
  EXPECT_EQ(days(shifted_a) - days("20240315"), a->date_shift_days);
  EXPECT_EQ(days(shifted_b) - days(shifted_a), 292);
  EXPECT_EQ(GetString(da, DCM_StudyTime), "101530");  // whole-day shifts keep times
  EXPECT_EQ(GetString(da, DCM_LongitudinalTemporalInformationModified), "MODIFIED");
  EXPECT_EQ(GetString(da, DCM_PatientBirthDate), "");  // Z even with modified dates
  EXPECT_EQ(GetString(da, DCM_PatientSex), "M");       // patient characteristics retained
  EXPECT_EQ(GetString(da, DCM_PatientAge), "059Y");
  EXPECT_EQ(GetString(da, DCM_PatientWeight), "81.5");
}

TEST(Deidentifier, RecordsMethodAndOptionCodes) {
  auto result = Make().Deidentify(Encode(*MakeCtSlice()), "centre-a");
  ASSERT_TRUE(result.ok());
  auto parsed = Decode(result->bytes);
  DcmDataset& d = *parsed->getDataset();
  EXPECT_EQ(GetString(d, DCM_PatientIdentityRemoved), "YES");
  EXPECT_NE(GetString(d, DCM_DeidentificationMethod).find("PS3.15"), std::string::npos);
  std::set<std::string> codes;
  DcmItem* item = nullptr;
  for (int i = 0; d.findAndGetSequenceItem(DCM_DeidentificationMethodCodeSequence, item, i).good();
       ++i) {
    codes.insert(GetString(*item, DCM_CodeValue));
    EXPECT_EQ(GetString(*item, DCM_CodingSchemeDesignator), "DCM");
  }
  // Basic profile (113100) and the research options: safe private, modified dates, patient
  // characteristics (PS3.16 CID 7050).
  EXPECT_EQ(codes, (std::set<std::string>{"113100", "113107", "113108", "113111"}));
}

// Declarative option checks: (options, attribute planted, expected outcome).
enum class Expect { kKept, kGone, kChanged };
struct OptionCase {
  const char* name;
  std::set<ProfileOption> options;
  DcmTagKey tag;
  const char* value;
  Expect expect;
};

TEST(Deidentifier, EachOptionKeepsOrCleansWhatItNames) {
  using O = ProfileOption;
  const OptionCase cases[] = {
      {"basic removes StationName", {}, DCM_StationName, "CTSCANNER01", Expect::kChanged},
      {"device identity",
       {O::kRetainDeviceIdentity},
       DCM_StationName,
       "CTSCANNER01",
       Expect::kKept},
      {"device serial",
       {O::kRetainDeviceIdentity},
       DCM_DeviceSerialNumber,
       "SN998877",
       Expect::kKept},
      {"basic institution", {}, DCM_InstitutionName, "Saint Elsewhere", Expect::kChanged},
      {"institution identity",
       {O::kRetainInstitutionIdentity},
       DCM_InstitutionName,
       "Saint Elsewhere",
       Expect::kKept},
      {"basic SOP UID", {}, DCM_SOPInstanceUID, "1.2.826.0.1.3680043.2.1125.1.3", Expect::kChanged},
      {"retain UIDs",
       {O::kRetainUids},
       DCM_SOPInstanceUID,
       "1.2.826.0.1.3680043.2.1125.1.3",
       Expect::kKept},
      {"basic dates", {}, DCM_StudyDate, "20240315", Expect::kGone},
      {"full dates", {O::kRetainLongitudinalFullDates}, DCM_StudyDate, "20240315", Expect::kKept},
      {"modified dates",
       {O::kRetainLongitudinalModifiedDates},
       DCM_StudyDate,
       "20240315",
       Expect::kChanged},
      {"basic age", {}, DCM_PatientAge, "059Y", Expect::kGone},
      {"patient characteristics",
       {O::kRetainPatientCharacteristics},
       DCM_PatientAge,
       "059Y",
       Expect::kKept},
      {"basic descriptor", {}, DCM_SeriesDescription, "AXIAL 5MM", Expect::kGone},
      {"clean descriptors",
       {O::kCleanDescriptors},
       DCM_SeriesDescription,
       "AXIAL 5MM",
       Expect::kKept},
      {"clean descriptors scrubs",
       {O::kCleanDescriptors},
       DCM_StudyDescription,
       "CT head for John Doe",
       Expect::kChanged},
      {"basic protocol", {}, DCM_ProtocolName, "HEAD ROUTINE", Expect::kChanged},
  };
  for (const OptionCase& c : cases) {
    auto file = MakeCtSlice();
    file->getDataset()->putAndInsertString(c.tag, c.value);
    auto result = Make(PolicyWith(c.options)).Deidentify(Encode(*file), "centre-a");
    ASSERT_TRUE(result.ok()) << c.name << ": " << result.status();
    auto parsed = Decode(result->bytes);
    std::string now = GetString(*parsed->getDataset(), c.tag);
    switch (c.expect) {
      case Expect::kKept:
        EXPECT_EQ(now, c.value) << c.name;
        break;
      case Expect::kGone:
        EXPECT_EQ(now, "") << c.name;
        break;
      case Expect::kChanged:
        EXPECT_FALSE(now.empty()) << c.name;
        EXPECT_NE(now, c.value) << c.name;
        break;
    }
  }
}

TEST(Deidentifier, CleanDescriptorsScrubsTheInstancesOwnIdentifiers) {
  auto file = MakeCtSlice();
  file->getDataset()->putAndInsertString(DCM_StudyDescription, "CT head for John Doe PID-12345");
  auto result = Make(PolicyWith({ProfileOption::kCleanDescriptors})).Deidentify(Encode(*file), "c");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(GetString(*Decode(result->bytes)->getDataset(), DCM_StudyDescription),
            "CT head for XXXX XXX XXXXXXXXX");
}

TEST(Deidentifier, RetainSafePrivateKeepsOnlyListedPrivateAttributes) {
  auto file = MakeCtSlice();
  DcmDataset& d = *file->getDataset();
  d.putAndInsertString(DcmTag(0x0019, 0x0010, EVR_LO), "SIEMENS MR HEADER");
  d.putAndInsertString(PrivateTag(0x0019, 0x100C, "SIEMENS MR HEADER", EVR_IS), "1000");
  d.putAndInsertString(PrivateTag(0x0019, 0x1099, "SIEMENS MR HEADER", EVR_LO), "PHIUNSAFEPRIVATE");
  d.putAndInsertString(DcmTag(0x0029, 0x0010, EVR_LO), "OTHER VENDOR");
  d.putAndInsertString(PrivateTag(0x0029, 0x100C, "OTHER VENDOR", EVR_LO), "PHIOTHERVENDOR");
  std::string input = Encode(*file);

  DeidPolicy policy = DeidPolicy::ResearchDefault();
  policy.options.erase(ProfileOption::kRetainSafePrivate);
  auto without = Make(policy).Deidentify(input, "c");
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(without->bytes.find("SIEMENS MR HEADER"), std::string::npos);

  auto with = Make().Deidentify(input, "c");
  ASSERT_TRUE(with.ok());
  auto parsed = Decode(with->bytes);
  EXPECT_EQ(GetString(*parsed->getDataset(), DcmTagKey(0x0019, 0x0010)), "SIEMENS MR HEADER");
  EXPECT_EQ(GetString(*parsed->getDataset(), DcmTagKey(0x0019, 0x100C)), "1000");
  EXPECT_EQ(with->bytes.find("PHIUNSAFEPRIVATE"), std::string::npos);
  EXPECT_EQ(with->bytes.find("PHIOTHERVENDOR"), std::string::npos);
  EXPECT_EQ(with->bytes.find("OTHER VENDOR"), std::string::npos);
}

TEST(Deidentifier, ContentSequenceIsReplacedUnlessStructuredContentIsCleaned) {
  auto file = MakeCtSlice();
  DcmItem* item = nullptr;
  file->getDataset()->findOrCreateSequenceItem(DCM_ContentSequence, item, -2);
  item->putAndInsertString(DCM_ValueType, "TEXT");
  item->putAndInsertString(DCM_TextValue, "Patient John Doe reports pain");
  std::string input = Encode(*file);

  auto basic = Make(DeidPolicy{}).Deidentify(input, "c");
  ASSERT_TRUE(basic.ok());
  DcmItem* out = nullptr;
  auto parsed = Decode(basic->bytes);
  ASSERT_TRUE(parsed->getDataset()->findAndGetSequenceItem(DCM_ContentSequence, out, 0).good());
  EXPECT_EQ(out->card(), 0u) << "D on a sequence: one empty dummy item";

  auto cleaned =
      Make(PolicyWith({ProfileOption::kCleanStructuredContent, ProfileOption::kCleanDescriptors}))
          .Deidentify(input, "c");
  ASSERT_TRUE(cleaned.ok());
  parsed = Decode(cleaned->bytes);
  ASSERT_TRUE(parsed->getDataset()->findAndGetSequenceItem(DCM_ContentSequence, out, 0).good());
  EXPECT_EQ(GetString(*out, DCM_ValueType), "TEXT");
  EXPECT_EQ(GetString(*out, DCM_TextValue), "Patient XXXX XXX reports pain");
}

TEST(Deidentifier, RefusesBurnedInAnnotationUnlessTheSourcePolicyAccepts) {
  auto file = MakeCtSlice();
  file->getDataset()->putAndInsertString(DCM_BurnedInAnnotation, "YES");
  std::string input = Encode(*file);
  Deidentifier deidentifier = Make();
  auto refused = deidentifier.Deidentify(input, "c");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("BurnedInAnnotation"), std::string::npos);
  EXPECT_EQ(ClassifyRejection(refused.status()), Rejection::kBurnedInAnnotation);
  SourcePolicy accepting;
  accepting.accept_burned_in_annotation = true;
  auto accepted = deidentifier.Deidentify(input, "c", accepting);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_TRUE(accepted->accepted_burned_in_annotation);
  // PS3.3 C.7.6.1: the attribute stays, so whoever reads the instance knows what its pixels show.
  auto parsed = Decode(accepted->bytes);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(GetString(*parsed->getDataset(), DCM_BurnedInAnnotation), "YES");
  // An instance without burned-in annotation is not marked as accepted under the policy.
  auto clean = deidentifier.Deidentify(Encode(*MakeCtSlice()), "c", accepting);
  ASSERT_TRUE(clean.ok()) << clean.status();
  EXPECT_FALSE(clean->accepted_burned_in_annotation);
}

TEST(Deidentifier, RejectsConflictingDateOptions) {
  DeidPolicy policy = PolicyWith({ProfileOption::kRetainLongitudinalFullDates,
                                  ProfileOption::kRetainLongitudinalModifiedDates});
  EXPECT_EQ(Deidentifier::Create(TestKey(), policy).status().code(),
            absl::StatusCode::kInvalidArgument);
}

struct XferCase {
  E_TransferSyntax xfer;
  unsigned bits;
};

class PixelData : public ::testing::TestWithParam<XferCase> {};

TEST_P(PixelData, IsByteIdenticalAndTransferSyntaxKept) {
  testing::CtSliceSpec spec;
  spec.bits_allocated = GetParam().bits;
  auto file = MakeCtSlice(spec);
  std::string input = Encode(*file, GetParam().xfer);
  ASSERT_FALSE(input.empty()) << "could not encode " << DcmXfer(GetParam().xfer).getXferName();
  auto result = Make().Deidentify(input, "c");
  ASSERT_TRUE(result.ok()) << result.status();
  DcmXfer xfer(GetParam().xfer);
  EXPECT_EQ(result->transfer_syntax_uid, xfer.getXferID());
  bool big = xfer.isBigEndian();
  std::string before = testing::PixelDataTail(input, big);
  std::string after = testing::PixelDataTail(result->bytes, big);
  ASSERT_GT(before.size(), 100u);
  EXPECT_EQ(before.size(), after.size());
  EXPECT_TRUE(before == after) << "pixel data changed in " << xfer.getXferName();
  auto parsed = Decode(result->bytes);
  EXPECT_EQ(GetString(*parsed->getMetaInfo(), DCM_TransferSyntaxUID), xfer.getXferID());
}

INSTANTIATE_TEST_SUITE_P(
    TransferSyntaxes, PixelData,
    ::testing::Values(XferCase{EXS_LittleEndianImplicit, 16},
                      XferCase{EXS_LittleEndianExplicit, 16}, XferCase{EXS_BigEndianExplicit, 16},
                      XferCase{EXS_RLELossless, 16}, XferCase{EXS_JPEGProcess1, 8},
                      XferCase{EXS_JPEGProcess14SV1, 16}, XferCase{EXS_JPEGLSLossless, 16}),
    [](const auto& info) {
      std::string name = DcmXfer(info.param.xfer).getXferName();
      std::string out;
      for (char c : name) {
        if (std::isalnum(static_cast<unsigned char>(c))) out.push_back(c);
      }
      return out;
    });

// Every element of a data set at any depth, as "(gggg,eeee) VR value" lines (values as DCMTK
// prints them, binary ones in full).
void Flatten(DcmItem& item, const std::string& prefix, std::vector<std::string>& out) {
  for (DcmObject* object = item.nextInContainer(nullptr); object != nullptr;
       object = item.nextInContainer(object)) {
    auto* element = static_cast<DcmElement*>(object);
    std::string name =
        prefix + element->getTag().toString().c_str() + " " + DcmVR(element->ident()).getVRName();
    if (element->ident() == EVR_SQ) {
      auto* sequence = static_cast<DcmSequenceOfItems*>(element);
      out.push_back(name + " items=" + std::to_string(sequence->card()));
      for (unsigned long i = 0; i < sequence->card(); ++i)
        Flatten(*sequence->getItem(i), name + "[" + std::to_string(i) + "]", out);
      continue;
    }
    OFString value;
    element->getOFStringArray(value);
    out.push_back(name + " " + value.c_str());
  }
}

TEST(Deidentifier, DeflatedInstanceKeepsTheWholeDataSet) {
  auto file = MakeCtSlice();
  std::string explicit_le = Encode(*file, EXS_LittleEndianExplicit);
  std::string deflated = Encode(*file, EXS_DeflatedLittleEndianExplicit);
  ASSERT_FALSE(deflated.empty());
  auto plain = Make().Deidentify(explicit_le, "c");
  auto inflated = Make().Deidentify(deflated, "c");
  ASSERT_TRUE(plain.ok()) << plain.status();
  ASSERT_TRUE(inflated.ok()) << inflated.status();
  EXPECT_EQ(inflated->transfer_syntax_uid, DcmXfer(EXS_DeflatedLittleEndianExplicit).getXferID());
  auto a = Decode(plain->bytes);
  auto b = Decode(inflated->bytes);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  std::vector<std::string> expected, actual;
  Flatten(*a->getDataset(), "", expected);
  Flatten(*b->getDataset(), "", actual);
  ASSERT_GT(expected.size(), 30u);
  EXPECT_EQ(actual, expected);
  EXPECT_EQ(GetString(*b->getDataset(), DCM_SOPInstanceUID), inflated->sop_instance_uid);
}

// The engine's own failures are not the file's: they get their own reason, never MALFORMED.
TEST(Deidentifier, RejectionsAreClassifiedByWhoseFaultTheyAre) {
  Deidentifier deidentifier = Make();
  auto truncated = deidentifier.Deidentify(Encode(*MakeCtSlice()).substr(0, 700), "c");
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(ClassifyRejection(truncated.status()), Rejection::kMalformed) << truncated.status();
  auto not_dicom = deidentifier.Deidentify("plain text, not an instance", "c");
  EXPECT_EQ(ClassifyRejection(not_dicom.status()), Rejection::kNotDicom);
  EXPECT_EQ(ClassifyRejection(absl::InternalError(
                "the encoded de-identified instance lost its SOP Instance UID; nothing stored")),
            Rejection::kInternal);
}

TEST(Deidentifier, MalformedInputGetsAClearError) {
  Deidentifier deidentifier = Make();
  std::string good = Encode(*MakeCtSlice());
  struct Bad {
    const char* name;
    std::string bytes;
    const char* message;
  };
  std::string bad_vr = good;
  std::size_t modality = bad_vr.find(
      "CS\x02\x00"
      "CT");
  ASSERT_NE(modality, std::string::npos);
  bad_vr[modality] = '\x01';
  bad_vr[modality + 1] = '\x02';
  std::string no_sop = Encode(*MakeCtSlice());
  {
    auto file = MakeCtSlice();
    file->getDataset()->findAndDeleteElement(DCM_SOPInstanceUID);
    no_sop = Encode(*file, EXS_LittleEndianExplicit);
  }
  std::string not_storage;
  {
    auto file = MakeCtSlice();
    file->getDataset()->putAndInsertString(DCM_SOPClassUID, UID_VerificationSOPClass);
    not_storage = Encode(*file);
  }
  const Bad cases[] = {
      {"empty", "", "not DICOM"},
      {"text", "hello, this is not an image\n", "not DICOM"},
      {"truncated", good.substr(0, good.size() / 2), "malformed DICOM"},
      {"truncated header", good.substr(0, 300), "malformed DICOM"},
      // DCMTK reads on past the unknown VR and Modality comes out as bytes that are no code string.
      {"bad VR", bad_vr, "malformed DICOM: Modality"},
      {"not a storage class", not_storage, "not a storage SOP class"},
  };
  for (const Bad& bad : cases) {
    auto result = deidentifier.Deidentify(bad.bytes, "c");
    ASSERT_FALSE(result.ok()) << bad.name;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << bad.name;
    EXPECT_NE(result.status().message().find(bad.message), std::string::npos)
        << bad.name << ": " << result.status().message();
  }
}

TEST(Deidentifier, DatasetWithoutMetaHeaderGetsOne) {
  auto file = MakeCtSlice();
  file->getDataset()->putAndInsertString(DCM_PatientName, "DOE^JANE");
  std::string with_meta = Encode(*file, EXS_LittleEndianImplicit);
  // Strip preamble and meta: find the first dataset tag (0008,0005).
  std::size_t start = with_meta.find(std::string("\x08\x00\x05\x00", 4));
  ASSERT_NE(start, std::string::npos);
  auto result = Make().Deidentify(with_meta.substr(start), "c");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->bytes.substr(128, 4), "DICM");
  EXPECT_EQ(result->bytes.find("JANE"), std::string::npos);
}

TEST(ProbeDicom, TellsInstancesFromDirectoriesAndOtherFiles) {
  EXPECT_EQ(ProbeDicom(Encode(*MakeCtSlice())), DicomKind::kInstance);
  EXPECT_EQ(ProbeDicom("plain text file"), DicomKind::kNotDicom);
  std::string dicomdir(128, '\0');
  dicomdir += "DICM";
  std::string uid = "1.2.840.10008.1.3.10";
  std::string meta = std::string("\x02\x00\x02\x00UI", 6) + char(uid.size()) + '\0' + uid;
  std::string group_length = std::string("\x02\x00\x00\x00UL\x04\x00", 8);
  std::uint32_t length = static_cast<std::uint32_t>(meta.size());
  group_length.append(reinterpret_cast<const char*>(&length), 4);
  EXPECT_EQ(ProbeDicom(dicomdir + group_length + meta), DicomKind::kDicomDir);
}

// Debian's python3-pydicom ships real-world oddities: every file gets a result or a clear error.
TEST(Deidentifier, SurvivesPydicomTestFiles) {
  const std::filesystem::path dir = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
  if (!std::filesystem::exists(dir))
    GTEST_SKIP() << "python3-pydicom test files not installed at " << dir;
  Deidentifier deidentifier = Make();
  int ok = 0, refused = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    auto result = deidentifier.Deidentify(bytes.str(), "c");
    if (result.ok()) {
      ++ok;
      EXPECT_NE(Decode(result->bytes), nullptr) << entry.path() << ": output does not parse";
    } else {
      ++refused;
      EXPECT_NE(result.status().code(), absl::StatusCode::kInternal)
          << entry.path() << ": " << result.status();
      EXPECT_FALSE(result.status().message().empty());
    }
  }
  EXPECT_GT(ok, 50);
  EXPECT_GT(refused, 5);
}

}  // namespace
}  // namespace tributary::dicom
