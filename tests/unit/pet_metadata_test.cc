// dicom/: the attributes SUVbw needs reach Volume::metadata, before and after de-identification.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dicom/deidentifier.h"
#include "dicom/series_reader.h"
#include "tests/unit/synthetic_dicom.h"
#include "tests/unit/synthetic_series.h"

namespace tributary::dicom {
namespace {

// Two PET slices: acquired at 10:05 and 10:02, series time 10:00, injection 09:00.
std::vector<std::string> PetSlices() {
  std::vector<std::string> out;
  for (int k = 0; k < 2; ++k) {
    testing::CtSliceSpec spec;
    spec.sop_uid += "." + std::to_string(k + 1);
    spec.slice_position = 2.0 * k;
    auto file = testing::MakeCtSlice(spec);
    DcmDataset* d = file->getDataset();
    d->putAndInsertString(DCM_SOPClassUID, UID_PositronEmissionTomographyImageStorage);
    d->putAndInsertString(DCM_Modality, "PT");
    d->putAndInsertString(DCM_RescaleIntercept, "0");
    d->putAndInsertString(DCM_Units, "BQML");
    d->putAndInsertString(DCM_DecayCorrection, "START");
    d->putAndInsertString(DCM_CorrectedImage, "ATTN\\DECY\\NORM");
    d->putAndInsertString(DCM_SeriesDate, "20240315");
    d->putAndInsertString(DCM_SeriesTime, "100000");
    d->putAndInsertString(DCM_AcquisitionDate, "20240315");
    d->putAndInsertString(DCM_AcquisitionTime, k == 0 ? "100500.5" : "100200");
    DcmItem* item = nullptr;
    d->findOrCreateSequenceItem(DCM_RadiopharmaceuticalInformationSequence, item, 0);
    item->putAndInsertString(DCM_Radiopharmaceutical, "Fluorodeoxyglucose");
    item->putAndInsertString(DCM_RadionuclideTotalDose, "370000000");
    item->putAndInsertString(DCM_RadionuclideHalfLife, "6586.2");
    item->putAndInsertString(DCM_RadiopharmaceuticalStartTime, "090000.00");
    item->putAndInsertString(DCM_RadiopharmaceuticalStartDateTime, "20240315090000");
    out.push_back(testing::Encode(*file));
  }
  return out;
}

common::Metadata BuiltMetadata(const std::vector<std::string>& slices) {
  SeriesReader reader;
  for (std::size_t i = 0; i < slices.size(); ++i) {
    EXPECT_TRUE(reader.AddBytes(slices[i], "pet" + std::to_string(i)).ok());
  }
  EXPECT_EQ(reader.SeriesUids().size(), 1u);
  SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
  EXPECT_TRUE(series.status.ok()) << series.status;
  EXPECT_EQ(series.volumes.size(), 1u);
  return series.volumes.empty() ? common::Metadata{} : series.volumes.front().metadata;
}

std::string Text(const common::Metadata& m, const char* key) {
  auto it = m.find(key);
  return it != m.end() && std::holds_alternative<std::string>(it->second)
             ? std::get<std::string>(it->second)
             : "<absent>";
}
double Value(const common::Metadata& m, const char* key) {
  auto it = m.find(key);
  return it != m.end() && std::holds_alternative<double>(it->second) ? std::get<double>(it->second)
                                                                     : -1;
}

TEST(PetMetadata, SuvAttributesReachTheVolume) {
  common::Metadata m = BuiltMetadata(PetSlices());
  EXPECT_EQ(Text(m, "Units"), "BQML");
  EXPECT_EQ(Text(m, "DecayCorrection"), "START");
  EXPECT_EQ(std::get<std::vector<std::string>>(m.at("CorrectedImage")),
            (std::vector<std::string>{"ATTN", "DECY", "NORM"}));
  EXPECT_DOUBLE_EQ(Value(m, "PatientWeight"), 81.5);
  EXPECT_DOUBLE_EQ(Value(m, "RadionuclideTotalDose"), 370000000);
  EXPECT_DOUBLE_EQ(Value(m, "RadionuclideHalfLife"), 6586.2);
  EXPECT_EQ(Text(m, "RadiopharmaceuticalStartTime"), "09:00:00.000000");
  EXPECT_EQ(Text(m, "RadiopharmaceuticalStartDateTime"), "2024-03-15T09:00:00.000000");
  EXPECT_EQ(Text(m, "SeriesDateTime"), "2024-03-15T10:00:00.000000");
  // The earliest acquisition of the volume's instances.
  EXPECT_EQ(Text(m, "AcquisitionDateTime"), "2024-03-15T10:02:00.000000");
  EXPECT_EQ(m.count("Radiopharmaceutical"), 0u);  // numbers and times only
}

TEST(PetMetadata, SuvAttributesSurviveResearchDeidentification) {
  auto deidentifier = Deidentifier::Create(SecretKey::FromHex(std::string(64, '7')).value(),
                                           DeidPolicy::ResearchDefault());
  ASSERT_TRUE(deidentifier.ok()) << deidentifier.status();
  std::vector<std::string> deidentified;
  int shift = 0;
  for (const std::string& bytes : PetSlices()) {
    auto result = deidentifier->Deidentify(bytes, "centre-a");
    ASSERT_TRUE(result.ok()) << result.status();
    shift = result->date_shift_days;
    deidentified.push_back(result->bytes);
  }
  ASSERT_NE(shift, 0);
  common::Metadata m = BuiltMetadata(deidentified);
  EXPECT_EQ(Text(m, "Units"), "BQML");
  EXPECT_EQ(Text(m, "DecayCorrection"), "START");
  EXPECT_DOUBLE_EQ(Value(m, "PatientWeight"), 81.5);
  EXPECT_DOUBLE_EQ(Value(m, "RadionuclideTotalDose"), 370000000);
  EXPECT_DOUBLE_EQ(Value(m, "RadionuclideHalfLife"), 6586.2);
  EXPECT_EQ(Text(m, "RadiopharmaceuticalStartTime"), "09:00:00.000000");
  // Dates move by the patient's shift, all alike; times of day stay, so intervals are kept.
  const std::string start = Text(m, "RadiopharmaceuticalStartDateTime");
  const std::string series = Text(m, "SeriesDateTime");
  const std::string acquisition = Text(m, "AcquisitionDateTime");
  ASSERT_EQ(start.size(), 26u);
  EXPECT_NE(start.substr(0, 10), "2024-03-15");
  EXPECT_EQ(start.substr(10), "T09:00:00.000000");
  EXPECT_EQ(series, start.substr(0, 10) + "T10:00:00.000000");
  EXPECT_EQ(acquisition, start.substr(0, 10) + "T10:02:00.000000");
}

}  // namespace
}  // namespace tributary::dicom
