// Volume reconstruction against dcm2niix's reference NIfTI files in ../shared/data/dicom: every
// Ref/*.nii is one case, compared in physical space (volume_compare.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dicom/series_reader.h"
#include "normalize/nifti_io.h"
#include "normalize/sidecar.h"
#include "tests/conformance/volume_compare.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;

const fs::path kDataDir = fs::path(TRIBUTARY_SHARED_DIR) / "data" / "dicom";

struct Case {
  std::string dataset;  // folder under data/dicom
  std::string stem;     // reference file name without .nii
};

// Cases whose difference from dcm2niix is deliberate, or a feature not yet built; the reason is
// printed as the skip message.
const std::map<std::string, std::string>& Exclusions() {
  static const auto* exclusions = new std::map<std::string, std::string>{
      {"dcm_qa/noPF_noPAT_noPOS_PEres100_ES0p59_BW2222_INTERP_AP_28",
       "input absent: the shared dcm_qa In/ holds no series 28 (only its reference NIfTI)"},
      {"dcm_qa/noPF_noPAT_noPOS_PEres100_ES0p59_BW2222_INTERP_PA_29",
       "input absent: the shared dcm_qa In/ holds no series 29 (only its reference NIfTI)"},
      {"dcm_qa_enh/Philips_WIP_B0_NS_801_e1",
       "deliberate difference (geometry matches; TRIBUTARY_CONFORMANCE_ALL=1 shows it): dcm2niix "
       "writes Philips 'precise' floating point, stored / (2005,100E) scale slope, where we apply "
       "the standard RescaleSlope/Intercept (displayed values; the private slope is recorded); and "
       "it calls the magnitude e1 where we rank echoes by EffectiveEchoTime (B0 map: 0 ms) so the "
       "magnitude is our e2"},
      {"dcm_qa_enh/Philips_WIP_B0_NS_801_e2_fieldmaphz",
       "deliberate difference, as for Philips_WIP_B0_NS_801_e1: precise vs standard scaling, and "
       "echo labels (the B0 map, EffectiveEchoTime 0, is our e1)"},
  };
  return *exclusions;
}

// Reference names that are not dcm2niix's plain %p_%s: dcm_qa_enh was converted with the
// manufacturer first (%m_%p_%s), and dcm2niix names a Philips B0 map `_fieldmaphz`.
std::string OurStem(const Case& c) {
  static const auto* aliases = new std::map<std::string, std::string>{
      {"Philips_WIP_B0_NS_801_e1", "WIP_B0_NS_801_e1"},
      {"Philips_WIP_B0_NS_801_e2_fieldmaphz", "WIP_B0_NS_801_e2"},
      {"Siemens_REST1_w_SMS_PF7-8_6", "REST1_w_SMS_PF7-8_6"},
  };
  auto it = aliases->find(c.stem);
  return it == aliases->end() ? c.stem : it->second;
}

void PrintTo(const Case& c, std::ostream* out) { *out << c.dataset << "/" << c.stem; }

std::vector<Case> Cases() {
  std::vector<Case> cases;
  std::error_code error;
  for (const char* dataset : {"dcm_qa_ct_subset", "dcm_qa_nih", "dcm_qa", "dcm_qa_enh"}) {
    fs::path ref = kDataDir / dataset / "Ref";
    if (!fs::is_directory(ref, error)) continue;
    for (const auto& entry : fs::directory_iterator(ref, error)) {
      if (entry.path().extension() == ".nii")
        cases.push_back({dataset, entry.path().stem().string()});
    }
  }
  std::sort(cases.begin(), cases.end(),
            [](const Case& a, const Case& b) { return a.dataset + a.stem < b.dataset + b.stem; });
  if (cases.empty()) cases.push_back({"", ""});  // one case that reports the skip
  return cases;
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  if (info.param.stem.empty()) return "NoReferenceData";
  std::string name = info.param.dataset + "_" + info.param.stem;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

class ConformanceTest : public ::testing::TestWithParam<Case> {};

TEST_P(ConformanceTest, MatchesDcm2niixInPhysicalSpace) {
  const Case& c = GetParam();
  if (c.stem.empty()) {
    GTEST_SKIP() << "reference data absent: " << kDataDir.string()
                 << " (the shared dcm_qa sets; see its README.md)";
  }
  auto excluded = Exclusions().find(c.dataset + "/" + c.stem);
  // TRIBUTARY_CONFORMANCE_ALL=1 runs the excluded cases too, to see where they stand.
  if (excluded != Exclusions().end() && std::getenv("TRIBUTARY_CONFORMANCE_ALL") == nullptr) {
    GTEST_SKIP() << excluded->second;
  }

  dicom::SeriesReader reader;
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(kDataDir / c.dataset / "In")) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) (void)reader.AddFile(file.string()).ok();

  std::string stem = OurStem(c);
  std::vector<std::string> candidates;
  for (const std::string& uid : reader.SeriesUids()) {
    dicom::SeriesVolumes described = reader.Describe(uid);
    common::Volume named;
    named.protocol_name = described.protocol_name;
    named.series_number = described.series_number;
    std::string base = normalize::OutputStem(named);
    if (stem == base || stem.rfind(base + "_", 0) == 0) candidates.push_back(uid);
  }
  ASSERT_FALSE(candidates.empty()) << "no series is named like " << stem;

  const common::Volume* built = nullptr;
  std::vector<dicom::SeriesVolumes> series;
  std::string names;
  for (const std::string& uid : candidates) {
    series.push_back(reader.BuildSeries(uid));
    ASSERT_TRUE(series.back().status.ok()) << series.back().status;
    for (const common::Volume& volume : series.back().volumes) {
      names += normalize::OutputStem(volume) + " ";
      if (normalize::OutputStem(volume) == stem) built = &volume;
    }
  }
  ASSERT_NE(built, nullptr) << "volumes built: " << names;

  // Through the file, so the NIfTI writer is under test as well.
  fs::path written = fs::path(::testing::TempDir()) / (CaseName({c, 0}) + ".nii");
  ASSERT_TRUE(normalize::WriteNifti(*built, written.string()).ok());
  auto actual = normalize::ReadNifti(written.string());
  fs::remove(written);
  ASSERT_TRUE(actual.ok()) << actual.status();
  auto expected = normalize::ReadNifti((kDataDir / c.dataset / "Ref" / (c.stem + ".nii")).string());
  ASSERT_TRUE(expected.ok()) << expected.status();
  double tolerance = built->pixel_type == common::PixelType::kFloat32 ? 1e-6 : 0.0;
  EXPECT_EQ(testing::CompareInPhysicalSpace(*actual, *expected, tolerance), "");

  // The sidecar's acquisition keys agree with dcm2niix's wherever its JSON has them.
  std::ifstream reference_json(kDataDir / c.dataset / "Ref" / (c.stem + ".json"));
  if (!reference_json) return;
  nlohmann::json reference = nlohmann::json::parse(reference_json);
  nlohmann::json ours = nlohmann::json::parse(normalize::SidecarJson(*built));
  for (const char* key : {"EchoTime", "RepetitionTime", "FlipAngle", "SliceThickness",
                          "SpacingBetweenSlices", "MagneticFieldStrength", "ImagingFrequency",
                          "PixelBandwidth", "SeriesNumber", "InversionTime"}) {
    if (!reference.contains(key)) continue;
    ASSERT_TRUE(ours.contains(key)) << key;
    double expected_value = reference[key].get<double>();
    EXPECT_NEAR(ours[key].get<double>(), expected_value,
                1e-4 * std::max(1.0, std::abs(expected_value)))
        << key;
  }
  // SliceTiming in slice order: reversed when our slice axis runs opposite to the reference's.
  if (reference.contains("SliceTiming") && ours.contains("SliceTiming")) {
    std::vector<double> expected_timing = reference["SliceTiming"];
    std::vector<double> our_timing = ours["SliceTiming"];
    double same_way = 0;
    for (int r = 0; r < 3; ++r)
      same_way += actual->direction[3 * r + 2] * expected->direction[3 * r + 2];
    if (same_way < 0) std::reverse(our_timing.begin(), our_timing.end());
    ASSERT_EQ(our_timing.size(), expected_timing.size());
    for (std::size_t i = 0; i < our_timing.size(); ++i) {
      // One Siemens tick (2.5 ms): dcm2niix reads the times of another volume of the series.
      EXPECT_NEAR(our_timing[i], expected_timing[i], 0.0026) << "SliceTiming[" << i << "]";
    }
  }
  for (const char* key : {"Modality", "ProtocolName", "SeriesDescription", "PatientPosition",
                          "ConvolutionKernel", "BodyPartExamined", "ManufacturersModelName"}) {
    if (!reference.contains(key)) continue;
    ASSERT_TRUE(ours.contains(key)) << key;
    EXPECT_EQ(ours[key], reference[key]) << key;
  }
}

INSTANTIATE_TEST_SUITE_P(Dcm2niixReferences, ConformanceTest, ::testing::ValuesIn(Cases()),
                         CaseName);

}  // namespace
}  // namespace tributary
