// Volume reconstruction on synthetic series written with DCMTK, each with its true geometry: every
// DICOM pixel must land on a voxel centre within 0.01 mm of where its headers put it.
#include "dicom/series_reader.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <variant>

#include "common/secret_key.h"
#include "dicom/deidentifier.h"
#include "tests/unit/jpeg2000_encode.h"
#include "tests/unit/synthetic_dicom.h"
#include "tests/unit/synthetic_series.h"

namespace tributary {
namespace {

using testing::SliceTruth;

constexpr double kPi = 3.14159265358979323846;

// An axial stack: slice k at z = depths[k], in-plane origin (-5, -4).
std::vector<SliceTruth> AxialStack(const std::vector<double>& depths) {
  std::vector<SliceTruth> slices;
  for (std::size_t k = 0; k < depths.size(); ++k) {
    SliceTruth s;
    s.position = {-5, -4, depths[k]};
    s.dx = 0.8;
    s.dy = 0.6;
    s.instance_number = static_cast<int>(depths.size() - k);  // reversed: sorting must not use it
    testing::FillPattern(s, static_cast<int>(k));
    slices.push_back(s);
  }
  return slices;
}

absl::StatusOr<dicom::SeriesVolumes> Build(const std::vector<SliceTruth>& slices,
                                           E_TransferSyntax xfer = EXS_LittleEndianExplicit) {
  dicom::SeriesReader reader;
  std::vector<std::string> temporary;  // pixels are read from them when the series is built
  for (std::size_t i = 0; i < slices.size(); ++i) {
    auto file = testing::MakeSeriesSlice(slices[i], static_cast<int>(i));
    if (xfer == EXS_DeflatedLittleEndianExplicit) {
      // Through a file, so that reading a deflated file (not only bytes) is covered too.
      std::string path = ::testing::TempDir() + "deflated_" + std::to_string(i) + ".dcm";
      if (file->saveFile(path.c_str(), xfer).bad()) return absl::InternalError("cannot save");
      temporary.push_back(path);
      TRIB_RETURN_IF_ERROR(reader.AddFile(path));
      continue;
    }
    std::string bytes = testing::Encode(*file, xfer);
    if (bytes.empty()) return absl::InternalError("cannot encode the synthetic slice");
    TRIB_RETURN_IF_ERROR(reader.AddBytes(std::move(bytes), "slice" + std::to_string(i)));
  }
  std::vector<std::string> uids = reader.SeriesUids();
  if (uids.size() != 1) return absl::InternalError("expected one series");
  dicom::SeriesVolumes built = reader.BuildSeries(uids.front());
  for (const std::string& path : temporary) std::remove(path.c_str());
  return built;
}

const common::Volume& OnlyVolume(const dicom::SeriesVolumes& series) {
  EXPECT_TRUE(series.status.ok()) << series.status;
  EXPECT_EQ(series.volumes.size(), 1u);
  static const common::Volume empty;
  return series.volumes.empty() ? empty : series.volumes.front();
}

bool Has(const common::Metadata& metadata, const std::string& key) {
  return metadata.count(key) > 0;
}

double NumberOf(const common::Metadata& metadata, const std::string& key) {
  auto it = metadata.find(key);
  if (it == metadata.end()) return std::nan("");
  if (const double* d = std::get_if<double>(&it->second)) return *d;
  if (const std::int64_t* i = std::get_if<std::int64_t>(&it->second))
    return static_cast<double>(*i);
  return std::nan("");
}

TEST(SeriesReader, SortsAlongTheNormalAndTakesSpacingFromPositions) {
  std::vector<SliceTruth> slices = AxialStack({10, 12.5, 15, 17.5, 20});
  std::reverse(slices.begin(), slices.end());
  auto series = Build(slices);
  ASSERT_TRUE(series.ok()) << series.status();
  const common::Volume& v = OnlyVolume(*series);
  EXPECT_EQ(v.size, (std::array<std::size_t, 4>{10, 8, 5, 1}));
  EXPECT_NEAR(v.spacing[0], 0.8, 1e-9);
  EXPECT_NEAR(v.spacing[1], 0.6, 1e-9);
  EXPECT_NEAR(v.spacing[2], 2.5, 1e-9);  // SliceThickness says 1
  EXPECT_NEAR(v.origin[2], 10, 1e-9);
  EXPECT_EQ(v.pixel_type, common::PixelType::kInt16);
  EXPECT_FALSE(Has(v.reconstruction, "Resampled"));
  EXPECT_GT(testing::ExpectVoxelsWhereHeadersPutThem(v, slices, 0), 0u);
  EXPECT_EQ(v.protocol_name, "SYNTH");
  EXPECT_EQ(v.series_number, 2);
}

TEST(SeriesReader, ObliqueStack) {
  // Rows along a direction rotated 30 degrees about z then tilted 20 degrees about x.
  double a = 30 * kPi / 180, b = 20 * kPi / 180;
  std::array<double, 3> row = {std::cos(a), std::sin(a) * std::cos(b), std::sin(a) * std::sin(b)};
  std::array<double, 3> col = {-std::sin(a), std::cos(a) * std::cos(b), std::cos(a) * std::sin(b)};
  std::array<double, 3> normal = {row[1] * col[2] - row[2] * col[1],
                                  row[2] * col[0] - row[0] * col[2],
                                  row[0] * col[1] - row[1] * col[0]};
  std::vector<SliceTruth> slices;
  for (int k = 0; k < 6; ++k) {
    SliceTruth s;
    s.orientation = {row[0], row[1], row[2], col[0], col[1], col[2]};
    for (int i = 0; i < 3; ++i) s.position[i] = 12.25 * (i + 1) + 1.7 * k * normal[i];
    s.dx = 1.1;
    s.dy = 0.9;
    testing::FillPattern(s, k);
    slices.push_back(s);
  }
  std::swap(slices[1], slices[4]);
  auto series = Build(slices);
  ASSERT_TRUE(series.ok()) << series.status();
  const common::Volume& v = OnlyVolume(*series);
  EXPECT_EQ(v.size[2], 6u);
  EXPECT_NEAR(v.spacing[2], 1.7, 1e-4);
  EXPECT_FALSE(Has(v.reconstruction, "Resampled"));
  testing::ExpectVoxelsWhereHeadersPutThem(v, slices, 0);
}

TEST(SeriesReader, GantryTiltIsResampledOntoAnOrthogonalGrid) {
  // Each slice 2 mm further along z and 0.6 mm (one row) further along y: a tilt of atan(0.3).
  std::vector<SliceTruth> slices = AxialStack({0, 2, 4, 6});
  for (std::size_t k = 0; k < slices.size(); ++k)
    slices[k].position[1] += 0.6 * static_cast<double>(k);
  auto series = Build(slices);
  ASSERT_TRUE(series.ok()) << series.status();
  const common::Volume& v = OnlyVolume(*series);
  EXPECT_TRUE(Has(v.reconstruction, "Resampled"));
  EXPECT_NEAR(NumberOf(v.reconstruction, "GantryTiltDetectedDegrees"),
              std::atan2(1.8, 6) * 180 / kPi, 1e-6);
  EXPECT_TRUE(Has(v.reconstruction, "OriginalImagePositionPatient"));
  EXPECT_EQ(v.size[2], 4u);
  EXPECT_NEAR(v.spacing[2], 2, 1e-9);
  // Orthogonal grid: the third axis is the slice normal, not the (tilted) slice step.
  EXPECT_NEAR(v.direction[8], 1, 1e-12);
  EXPECT_NEAR(v.direction[5], 0, 1e-12);
  // The rows shifted out of the first slice's field of view are not on the grid.
  std::size_t checked = testing::ExpectVoxelsWhereHeadersPutThem(v, slices, 1e-3, true);
  EXPECT_EQ(checked, 10u * (8 + 7 + 6 + 5));
}

TEST(SeriesReader, MissingSliceIsInterpolatedAndRecorded) {
  std::vector<SliceTruth> slices = AxialStack({0, 2, 4, 8, 10});
  auto series = Build(slices);
  ASSERT_TRUE(series.ok()) << series.status();
  const common::Volume& v = OnlyVolume(*series);
  EXPECT_EQ(v.size[2], 6u);
  EXPECT_NEAR(v.spacing[2], 2, 1e-9);
  EXPECT_TRUE(Has(v.reconstruction, "Resampled"));
  EXPECT_TRUE(Has(v.reconstruction, "OriginalSliceDepths"));
  EXPECT_EQ(v.pixel_type, common::PixelType::kFloat32);
  testing::ExpectVoxelsWhereHeadersPutThem(v, slices, 1e-3);
  for (std::size_t j = 0; j < v.size[1]; ++j) {
    for (std::size_t i = 0; i < v.size[0]; ++i) {
      double expected = (testing::VoxelValue(v, i, j, 2) + testing::VoxelValue(v, i, j, 4)) / 2;
      ASSERT_NEAR(testing::VoxelValue(v, i, j, 3), expected, 1e-3) << i << "," << j;
    }
  }
}

TEST(SeriesReader, VariableGapsAreResampledToTheFinestStep) {
  std::vector<SliceTruth> slices = AxialStack({0, 1, 2, 4, 5, 6, 9});
  auto series = Build(slices);
  ASSERT_TRUE(series.ok()) << series.status();
  const common::Volume& v = OnlyVolume(*series);
  EXPECT_EQ(v.size[2], 10u);
  EXPECT_NEAR(v.spacing[2], 1, 1e-9);
  EXPECT_NEAR(NumberOf(v.reconstruction, "SliceSpacingMaxDeviation"), 1.5, 1e-9);  // 3 vs 9/6
  testing::ExpectVoxelsWhereHeadersPutThem(v, slices, 1e-3);
}

TEST(SeriesReader, SmallJitterIsNotResampled) {
  std::vector<SliceTruth> slices = AxialStack({0, 2.1, 3.95, 6.05, 8});
  auto series = Build(slices);
  ASSERT_TRUE(series.ok()) << series.status();
  const common::Volume& v = OnlyVolume(*series);
  EXPECT_FALSE(Has(v.reconstruction, "Resampled"));
  EXPECT_NEAR(NumberOf(v.reconstruction, "SliceSpacingMaxDeviation"), 0.15, 1e-9);
}

TEST(SeriesReader, PixelPaddingValueIsMaskedToTheLowestRealValue) {
  std::vector<SliceTruth> slices = AxialStack({0, 1, 2});
  for (SliceTruth& s : slices) {
    s.intercept = -1024;
    s.stored[0] = -2000;
    s.stored[5] = -2000;
  }
  dicom::SeriesReader reader;
  int lowest = 1 << 30;
  for (const SliceTruth& s : slices) {
    for (int v : s.stored) {
      if (v != -2000) lowest = std::min(lowest, v);
    }
  }
  for (std::size_t i = 0; i < slices.size(); ++i) {
    auto file = testing::MakeSeriesSlice(slices[i], static_cast<int>(i));
    file->getDataset()->putAndInsertUint16(DCM_PixelPaddingValue, static_cast<Uint16>(-2000));
    ASSERT_TRUE(reader.AddBytes(testing::Encode(*file), "slice").ok());
  }
  dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
  const common::Volume& v = OnlyVolume(series);
  EXPECT_EQ(NumberOf(v.reconstruction, "PaddingVoxelsMasked"), 6);
  EXPECT_EQ(NumberOf(v.reconstruction, "PixelPaddingValue"), -2000);
  for (SliceTruth& s : slices) {
    s.stored[0] = lowest;
    s.stored[5] = lowest;
  }
  testing::ExpectVoxelsWhereHeadersPutThem(v, slices, 0);
}

TEST(SeriesReader, PerSliceRescaleGivesFloatVoxels) {
  std::vector<SliceTruth> slices = AxialStack({0, 1, 2, 3});
  slices[0].slope = 1;
  slices[1].slope = 0.5;
  slices[2].slope = 2.25;
  slices[3].intercept = -7.5;
  auto series = Build(slices);
  ASSERT_TRUE(series.ok()) << series.status();
  const common::Volume& v = OnlyVolume(*series);
  EXPECT_EQ(v.pixel_type, common::PixelType::kFloat32);
  EXPECT_TRUE(Has(v.reconstruction, "RescaleVariesPerSlice"));
  testing::ExpectVoxelsWhereHeadersPutThem(v, slices, 1e-3);
}

TEST(SeriesReader, RepeatedPositionsMakeA4DVolume) {
  std::vector<SliceTruth> slices;
  int instance = 1;
  for (std::size_t t = 0; t < 4; ++t) {
    for (double z : {0.0, 3.0, 6.0}) {
      SliceTruth s;
      s.position = {0, 0, z};
      s.time = t;
      s.instance_number = instance++;
      testing::FillPattern(s, instance * 11);
      slices.push_back(s);
    }
  }
  std::rotate(slices.begin(), slices.begin() + 5, slices.end());
  auto series = Build(slices);
  ASSERT_TRUE(series.ok()) << series.status();
  const common::Volume& v = OnlyVolume(*series);
  EXPECT_EQ(v.size, (std::array<std::size_t, 4>{10, 8, 3, 4}));
  EXPECT_NEAR(v.time_step, 2.0, 1e-9);
  EXPECT_TRUE(Has(v.reconstruction, "FourD"));
  testing::ExpectVoxelsWhereHeadersPutThem(v, slices, 0);
}

TEST(SeriesReader, UnequalRepeatsAreRefused) {
  std::vector<SliceTruth> slices = AxialStack({0, 1, 2});
  SliceTruth extra = slices[1];
  extra.instance_number = 9;
  slices.push_back(extra);
  auto series = Build(slices);
  ASSERT_TRUE(series.ok()) << series.status();
  EXPECT_EQ(series->status.code(), absl::StatusCode::kFailedPrecondition) << series->status;
  EXPECT_NE(series->status.message().find("repeated slice positions"), std::string::npos);
}

TEST(SeriesReader, TwoStacksInOneSeriesBecomeTwoVolumes) {
  std::vector<SliceTruth> axial = AxialStack({0, 1.5, 3});
  std::vector<SliceTruth> sagittal;
  for (int k = 0; k < 4; ++k) {
    SliceTruth s;
    s.orientation = {0, 1, 0, 0, 0, -1};
    s.position = {-3.0 + 2 * k, -20, 40};
    s.rows = 6;
    s.columns = 7;
    testing::FillPattern(s, 100 + k);
    sagittal.push_back(s);
  }
  std::vector<SliceTruth> all = axial;
  all.insert(all.end(), sagittal.begin(), sagittal.end());
  auto series = Build(all);
  ASSERT_TRUE(series.ok()) << series.status();
  ASSERT_TRUE(series->status.ok()) << series->status;
  ASSERT_EQ(series->volumes.size(), 2u);
  const common::Volume& first = series->volumes[0];
  const common::Volume& second = series->volumes[1];
  EXPECT_NE(first.name_suffix, second.name_suffix);
  EXPECT_TRUE(Has(first.reconstruction, "StackSplit"));
  testing::ExpectVoxelsWhereHeadersPutThem(first.size[0] == 10 ? first : second, axial, 0);
  testing::ExpectVoxelsWhereHeadersPutThem(first.size[0] == 10 ? second : first, sagittal, 0);
}

TEST(SeriesReader, EchoesAreSplitWithSuffixes) {
  std::vector<SliceTruth> all;
  for (int echo = 1; echo <= 2; ++echo) {
    for (SliceTruth s : AxialStack({0, 1, 2})) {
      s.echo_number = echo;
      all.push_back(s);
    }
  }
  auto series = Build(all);
  ASSERT_TRUE(series.ok()) << series.status();
  ASSERT_EQ(series->volumes.size(), 2u);
  std::vector<std::string> suffixes = {series->volumes[0].name_suffix,
                                       series->volumes[1].name_suffix};
  std::sort(suffixes.begin(), suffixes.end());
  EXPECT_EQ(suffixes, (std::vector<std::string>{"_e1", "_e2"}));
}

class SeriesReaderTransferSyntax : public ::testing::TestWithParam<E_TransferSyntax> {};

TEST_P(SeriesReaderTransferSyntax, DecodesLosslessly) {
  std::vector<SliceTruth> slices = AxialStack({0, 1, 2});
  auto series = Build(slices, GetParam());
  ASSERT_TRUE(series.ok()) << series.status();
  testing::ExpectVoxelsWhereHeadersPutThem(OnlyVolume(*series), slices, 0);
}

INSTANTIATE_TEST_SUITE_P(Lossless, SeriesReaderTransferSyntax,
                         ::testing::Values(EXS_LittleEndianImplicit, EXS_BigEndianExplicit,
                                           EXS_DeflatedLittleEndianExplicit, EXS_RLELossless,
                                           EXS_JPEGProcess14SV1, EXS_JPEGLSLossless));

TEST(SeriesReader, DecodesLossyJpegBaseline) {
  testing::CtSliceSpec spec;
  spec.bits_allocated = 8;
  dicom::SeriesReader reader;
  for (int k = 0; k < 2; ++k) {
    spec.sop_uid = "1.2.3.4." + std::to_string(k);
    auto file = testing::MakeCtSlice(spec);
    file->getDataset()->putAndInsertString(DCM_ImagePositionPatient,
                                           ("0\\0\\" + std::to_string(k)).c_str());
    file->getDataset()->putAndInsertString(DCM_RescaleIntercept, "0");
    ASSERT_TRUE(reader.AddBytes(testing::Encode(*file, EXS_JPEGProcess1), "jpeg").ok());
  }
  dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
  const common::Volume& v = OnlyVolume(series);
  EXPECT_EQ(v.size, (std::array<std::size_t, 4>{64, 64, 2, 1}));
  EXPECT_EQ(v.pixel_type, common::PixelType::kUint8);
}

TEST(SeriesReader, UndecodableJpeg2000FailsItsSeriesWithAReason) {
  auto file = testing::MakeCtSlice();
  DcmDataset* d = file->getDataset();
  auto* fragments = new DcmPixelSequence(DCM_PixelSequenceTag);
  fragments->insert(new DcmPixelItem(DCM_PixelItemTag));  // empty offset table
  auto* fragment = new DcmPixelItem(DCM_PixelItemTag);
  const Uint8 garbage[8] = {0xFF, 0x4F, 0xFF, 0x51, 0, 1, 2, 3};
  fragment->putUint8Array(garbage, sizeof(garbage));
  fragments->insert(fragment);
  auto* pixels = new DcmPixelData(DCM_PixelData);
  pixels->putOriginalRepresentation(EXS_JPEG2000LosslessOnly, nullptr, fragments);
  d->insert(pixels, true);
  dicom::SeriesReader reader;
  ASSERT_TRUE(reader.AddBytes(testing::Encode(*file, EXS_JPEG2000LosslessOnly), "j2k").ok());
  dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
  EXPECT_EQ(series.status.code(), absl::StatusCode::kInvalidArgument) << series.status;
  EXPECT_NE(series.status.message().find("JPEG 2000"), std::string::npos) << series.status;
}

// One enhanced MR instance holding `slices` as frames (in the given order): orientation, pixel
// measures and rescale shared, position per frame.
std::unique_ptr<DcmFileFormat> EnhancedFile(const std::vector<SliceTruth>& slices) {
  auto file = testing::MakeSeriesSlice(slices.front(), 0);
  DcmDataset* d = file->getDataset();
  d->putAndInsertString(DCM_SOPClassUID, UID_EnhancedMRImageStorage);
  for (const DcmTagKey& tag : {DCM_ImagePositionPatient, DCM_ImageOrientationPatient,
                               DCM_PixelSpacing, DCM_RescaleSlope, DCM_RescaleIntercept}) {
    d->findAndDeleteElement(tag);
  }
  d->putAndInsertString(DCM_NumberOfFrames, std::to_string(slices.size()).c_str());
  auto text = [](const double* values, int count) {
    std::ostringstream out;
    out.precision(10);
    for (int i = 0; i < count; ++i) out << (i ? "\\" : "") << values[i];
    return out.str();
  };
  DcmItem* shared = nullptr;
  d->findOrCreateSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0);
  DcmItem* item = nullptr;
  shared->findOrCreateSequenceItem(DCM_PlaneOrientationSequence, item, 0);
  item->putAndInsertString(DCM_ImageOrientationPatient,
                           text(slices[0].orientation.data(), 6).c_str());
  shared->findOrCreateSequenceItem(DCM_PixelMeasuresSequence, item, 0);
  double spacing[2] = {slices[0].dy, slices[0].dx};
  item->putAndInsertString(DCM_PixelSpacing, text(spacing, 2).c_str());
  shared->findOrCreateSequenceItem(DCM_PixelValueTransformationSequence, item, 0);
  item->putAndInsertString(DCM_RescaleSlope, text(&slices[0].slope, 1).c_str());
  item->putAndInsertString(DCM_RescaleIntercept, text(&slices[0].intercept, 1).c_str());
  std::vector<Uint16> pixels;
  for (std::size_t f = 0; f < slices.size(); ++f) {
    DcmItem* frame = nullptr;
    d->findOrCreateSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame, static_cast<long>(f));
    frame->findOrCreateSequenceItem(DCM_PlanePositionSequence, item, 0);
    item->putAndInsertString(DCM_ImagePositionPatient, text(slices[f].position.data(), 3).c_str());
    frame->findOrCreateSequenceItem(DCM_FrameContentSequence, item, 0);
    item->putAndInsertUint32(DCM_TemporalPositionIndex, static_cast<Uint32>(slices[f].time + 1));
    for (int v : slices[f].stored) pixels.push_back(static_cast<Uint16>(v));
  }
  d->putAndInsertUint16Array(DCM_PixelData, pixels.data(),
                             static_cast<unsigned long>(pixels.size()));
  return file;
}

std::string EnhancedInstance(const std::vector<SliceTruth>& slices) {
  return testing::Encode(*EnhancedFile(slices));
}

TEST(SeriesReader, EnhancedMultiFramePlacesEachFrameByItsFunctionalGroups) {
  std::vector<SliceTruth> slices;
  for (std::size_t t = 0; t < 2; ++t) {
    for (double z : {4.0, 0.0, 2.0}) {
      SliceTruth s;
      s.orientation = {0, 1, 0, 0, 0, -1};  // sagittal
      s.position = {z, -30, 50};
      s.dx = 0.9;
      s.dy = 1.1;
      s.slope = 2;
      s.intercept = -10;
      s.time = t;
      testing::FillPattern(s, static_cast<int>(t * 7 + z));
      slices.push_back(s);
    }
  }
  dicom::SeriesReader reader;
  ASSERT_TRUE(reader.AddBytes(EnhancedInstance(slices), "enhanced").ok());
  dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
  const common::Volume& v = OnlyVolume(series);
  EXPECT_EQ(v.size, (std::array<std::size_t, 4>{10, 8, 3, 2}));
  EXPECT_NEAR(v.spacing[2], 2, 1e-9);
  testing::ExpectVoxelsWhereHeadersPutThem(v, slices, 0);
}

TEST(SeriesReader, AddFilesKeepsInputOrderWhateverTheThreads) {
  std::vector<SliceTruth> slices = AxialStack({0, 1, 2, 3, 4, 5});
  std::string dir = ::testing::TempDir() + "add_files_" + std::to_string(::getpid()) + "/";
  std::filesystem::create_directories(dir);
  std::vector<std::string> paths;
  for (std::size_t i = 0; i < slices.size(); ++i) {
    paths.push_back(dir + "IM" + std::to_string(i));
    std::ofstream(paths.back(), std::ios::binary)
        << testing::Encode(*testing::MakeSeriesSlice(slices[i], static_cast<int>(i)));
  }
  paths.insert(paths.begin() + 2, dir + "notes.txt");
  std::ofstream(paths[2]) << "not an image";
  std::vector<common::VoxelBuffer> voxels;
  for (unsigned threads : {1u, 2u, 4u}) {
    dicom::SeriesReader reader;
    std::size_t reported = 0;
    std::vector<absl::Status> statuses = reader.AddFiles(
        paths, threads, [&](std::size_t done) { reported = std::max(reported, done); });
    ASSERT_EQ(statuses.size(), paths.size());
    EXPECT_EQ(reported, paths.size());
    for (std::size_t i = 0; i < paths.size(); ++i) EXPECT_EQ(statuses[i].ok(), i != 2) << i;
    dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
    const common::Volume& v = OnlyVolume(series);
    testing::ExpectVoxelsWhereHeadersPutThem(v, slices, 0);
    voxels.push_back(v.voxels);
  }
  EXPECT_EQ(voxels[0], voxels[1]);
  EXPECT_EQ(voxels[0], voxels[2]);
  std::filesystem::remove_all(dir);
}

// Small files are parsed from a copy in memory and large ones through DCMTK's file stream; either
// way a pixel data value too long to load with the header is read from the file when the series
// is built.
TEST(SeriesReader, PixelDataIsLoadedFromTheFileWhenBuiltWhateverTheFileSize) {
  std::string dir = ::testing::TempDir() + "lazy_pixels_" + std::to_string(::getpid()) + "/";
  std::filesystem::create_directories(dir);
  for (unsigned size : {64u, 400u}) {  // 8 KiB of pixels (file read whole); 320 KiB (streamed)
    std::vector<SliceTruth> slices = AxialStack({0, 1.5, 3, 4.5});
    std::vector<std::string> paths;
    for (std::size_t i = 0; i < slices.size(); ++i) {
      slices[i].rows = size;
      slices[i].columns = size;
      testing::FillPattern(slices[i], static_cast<int>(i));
      paths.push_back(dir + std::to_string(size) + "_" + std::to_string(i) + ".dcm");
      std::ofstream(paths.back(), std::ios::binary)
          << testing::Encode(*testing::MakeSeriesSlice(slices[i], static_cast<int>(i)));
    }
    dicom::SeriesReader reader;
    for (const absl::Status& status : reader.AddFiles(paths, 2, nullptr)) {
      ASSERT_TRUE(status.ok()) << status;
    }
    dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
    EXPECT_EQ(testing::ExpectVoxelsWhereHeadersPutThem(OnlyVolume(series), slices, 0),
              std::size_t{size} * size * slices.size())
        << size;
  }
  std::filesystem::remove_all(dir);
}

// A Siemens mosaic written by the test: 4 oblique slices of 5 x 4 pixels tiled 2 x 2 into one
// 10 x 8 image, NumberOfImagesInMosaic in its private block, and ImagePositionPatient placing the
// whole mosaic as one image (Siemens' convention: the centre of the first tile is the centre of the
// mosaic). Each tile's pixels must land where the tile's own geometry puts them.
struct MosaicCase {
  std::vector<SliceTruth> tiles;
  std::unique_ptr<DcmFileFormat> file;
};

// A Siemens CSA image header (SV10, as nibabel's csareader reads it) with the given elements.
std::string CsaHeader(const std::vector<std::pair<std::string, std::vector<std::string>>>& tags) {
  std::string out("SV10\4\3\2\1", 8);
  auto u32 = [&out](std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  u32(static_cast<std::uint32_t>(tags.size()));
  u32(77);
  for (const auto& [name, items] : tags) {
    std::string field(64, '\0');
    field.replace(0, name.size(), name);
    out += field;
    u32(1);                   // vm
    out.append("DS\0\0", 4);  // vr
    u32(3);                   // syngodt
    u32(static_cast<std::uint32_t>(items.size()));
    u32(77);
    for (const std::string& item : items) {
      std::string value = item + '\0';
      auto length = static_cast<std::uint32_t>(value.size());
      u32(length);
      u32(length);
      u32(77);
      u32(length);
      out += value;
      out.append((4 - value.size() % 4) % 4, '\0');
    }
  }
  return out;
}

// `reversed`: the tiles run against row x column, which only the CSA SliceNormalVector says; the
// CSA header then also carries the tile times and an identifying string.
MosaicCase MakeMosaic(bool with_count, bool reversed = false) {
  MosaicCase c;
  const double a = 0.3;  // rotation about the y axis: an oblique stack
  const std::array<double, 6> orientation = {std::cos(a), 0, -std::sin(a), 0, 1, 0};
  const std::array<double, 3> normal = {std::sin(a), 0, std::cos(a)};  // row x column
  const double step = 2.5;
  const std::array<double, 3> first = {-7.0, 3.0, 11.0};
  for (int t = 0; t < 4; ++t) {
    SliceTruth tile;
    tile.rows = 4;
    tile.columns = 5;
    tile.dx = 1.5;
    tile.dy = 1.25;
    tile.orientation = orientation;
    double along = (reversed ? -step : step) * t;
    for (int k = 0; k < 3; ++k) tile.position[k] = first[k] + normal[k] * along;
    testing::FillPattern(tile, 40 + t);
    c.tiles.push_back(tile);
  }
  SliceTruth mosaic = c.tiles.front();
  mosaic.rows = 8;
  mosaic.columns = 10;
  for (int k = 0; k < 3; ++k) {  // back from the first tile to the mosaic's corner
    mosaic.position[k] = first[k] - orientation[k] * mosaic.dx * (10 - 5) / 2.0 -
                         orientation[3 + k] * mosaic.dy * (8 - 4) / 2.0;
  }
  mosaic.stored.assign(80, 0);
  for (int t = 0; t < 4; ++t) {
    for (unsigned r = 0; r < 4; ++r) {
      for (unsigned col = 0; col < 5; ++col) {
        mosaic.stored[(t / 2 * 4 + r) * 10 + (t % 2) * 5 + col] = c.tiles[t].stored[r * 5 + col];
      }
    }
  }
  c.file = testing::MakeSeriesSlice(mosaic, 0);
  DcmDataset* d = c.file->getDataset();
  d->putAndInsertString(DCM_ImageType, "ORIGINAL\\PRIMARY\\M\\ND\\MOSAIC");
  d->putAndInsertString(DCM_SpacingBetweenSlices, "2.5");
  d->putAndInsertString(DcmTag(0x0019, 0x0010, EVR_LO), "SIEMENS MR HEADER");
  if (with_count) d->putAndInsertUint16(DcmTag(0x0019, 0x100A, EVR_US), 4);
  if (reversed) {
    std::string csa = CsaHeader({
        {"ImaCoilString", {"PHI-IN-CSA-HEADER"}},
        {"SliceNormalVector",
         {std::to_string(-normal[0]), std::to_string(-normal[1]), std::to_string(-normal[2])}},
        {"MosaicRefAcqTimes", {"0", "107.5", "52.5", "160"}},
    });
    d->putAndInsertString(DcmTag(0x0029, 0x0010, EVR_LO), "SIEMENS CSA HEADER");
    d->putAndInsertUint8Array(DcmTag(0x0029, 0x1010, EVR_OB),
                              reinterpret_cast<const Uint8*>(csa.data()), csa.size());
  }
  return c;
}

TEST(SeriesReader, SiemensMosaicIsCutIntoSlicesPlacedByTheirOwnGeometry) {
  MosaicCase c = MakeMosaic(true);
  dicom::SeriesReader reader;
  ASSERT_TRUE(reader.AddBytes(testing::Encode(*c.file), "mosaic").ok());
  dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
  const common::Volume& v = OnlyVolume(series);
  EXPECT_EQ(v.size, (std::array<std::size_t, 4>{5, 4, 4, 1}));
  EXPECT_NEAR(v.spacing[2], 2.5, 1e-6);
  EXPECT_EQ(testing::ExpectVoxelsWhereHeadersPutThem(v, c.tiles, 0), std::size_t{5 * 4 * 4});
}

// De-identified as the server stores it (research profile): the vendor's mosaic attributes are
// not on Table E.3.10-1 and go, their values travel in Tributary's reconstruction block, and the
// copy is cut into the same slices, in the same order, with the same slice times.
TEST(SeriesReader, DeidentifiedMosaicIsCutLikeTheOriginal) {
  MosaicCase c = MakeMosaic(true, /*reversed=*/true);
  std::string original = testing::Encode(*c.file);
  ASSERT_NE(original.find("PHI-IN-CSA-HEADER"), std::string::npos);
  auto deidentifier = dicom::Deidentifier::Create(SecretKey::FromHex(std::string(64, '5')).value(),
                                                  dicom::DeidPolicy::ResearchDefault());
  ASSERT_TRUE(deidentifier.ok());
  auto deidentified = deidentifier->Deidentify(original, "c");
  ASSERT_TRUE(deidentified.ok()) << deidentified.status();
  EXPECT_EQ(deidentified->bytes.find("PHI-IN-CSA-HEADER"), std::string::npos);
  EXPECT_EQ(deidentified->bytes.find("SIEMENS CSA HEADER"), std::string::npos);
  EXPECT_EQ(deidentified->bytes.find("SIEMENS MR HEADER"), std::string::npos);

  for (const std::string* bytes : {&original, &deidentified->bytes}) {
    dicom::SeriesReader reader;
    ASSERT_TRUE(reader.AddBytes(*bytes, "mosaic").ok());
    dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
    const common::Volume& v = OnlyVolume(series);
    EXPECT_EQ(v.size, (std::array<std::size_t, 4>{5, 4, 4, 1}));
    EXPECT_EQ(testing::ExpectVoxelsWhereHeadersPutThem(v, c.tiles, 0), std::size_t{5 * 4 * 4});
    auto timing = v.metadata.find("SliceTiming");
    ASSERT_NE(timing, v.metadata.end());
    std::vector<double> seconds = std::get<std::vector<double>>(timing->second);
    std::sort(seconds.begin(), seconds.end());
    EXPECT_EQ(seconds, (std::vector<double>{0, 0.0525, 0.1075, 0.16}));
  }

  // Without the Retain Safe Private option nothing private is kept, and the copy says why it
  // cannot be cut.
  dicom::DeidPolicy basic;
  auto strict =
      dicom::Deidentifier::Create(SecretKey::FromHex(std::string(64, '5')).value(), basic);
  ASSERT_TRUE(strict.ok());
  auto stripped = strict->Deidentify(original, "c");
  ASSERT_TRUE(stripped.ok());
  EXPECT_EQ(stripped->bytes.find("TRIBUTARY"), std::string::npos);
  dicom::SeriesReader reader;
  ASSERT_TRUE(reader.AddBytes(stripped->bytes, "stripped").ok());
  dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
  EXPECT_NE(std::string(series.status.message()).find("Retain Safe Private"), std::string::npos)
      << series.status;
}

TEST(SeriesReader, MosaicWithoutItsImageCountFailsItsSeriesWithAReason) {
  MosaicCase c = MakeMosaic(false);
  dicom::SeriesReader reader;
  ASSERT_TRUE(reader.AddBytes(testing::Encode(*c.file), "mosaic").ok());
  dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
  EXPECT_FALSE(series.status.ok());
  EXPECT_NE(std::string(series.status.message()).find("NumberOfImagesInMosaic"), std::string::npos)
      << series.status;
}

// Replaces the pixel data of `file` with one lossless JPEG 2000 codestream per frame, each cut
// into `pieces` fragments (at even offsets, as fragments have even lengths), with a Basic Offset
// Table or an empty one.
void PutJpeg2000(DcmFileFormat& file, const std::vector<SliceTruth>& frames, int pieces,
                 bool offset_table) {
  auto* sequence = new DcmPixelSequence(DCM_PixelSequenceTag);
  auto* table = new DcmPixelItem(DCM_PixelItemTag);
  sequence->insert(table);
  std::vector<Uint8> offsets;
  std::uint32_t offset = 0;
  for (const SliceTruth& frame : frames) {
    bool is_signed =
        std::any_of(frame.stored.begin(), frame.stored.end(), [](int v) { return v < 0; });
    std::string code = testing::EncodeJpeg2000(frame.stored, frame.rows, frame.columns, is_signed);
    ASSERT_FALSE(code.empty());
    for (int b = 0; b < 4; ++b) offsets.push_back(static_cast<Uint8>(offset >> (8 * b)));
    std::size_t cut = (code.size() / pieces) & ~std::size_t{1};
    for (int p = 0; p < pieces; ++p) {
      std::size_t begin = p * cut, end = p + 1 == pieces ? code.size() : (p + 1) * cut;
      auto* item = new DcmPixelItem(DCM_PixelItemTag);
      item->putUint8Array(reinterpret_cast<const Uint8*>(code.data() + begin),
                          static_cast<unsigned long>(end - begin));
      sequence->insert(item);
      offset += 8 + static_cast<std::uint32_t>((end - begin + 1) & ~std::size_t{1});
    }
  }
  if (offset_table)
    table->putUint8Array(offsets.data(), static_cast<unsigned long>(offsets.size()));
  auto* pixels = new DcmPixelData(DCM_PixelData);
  pixels->putOriginalRepresentation(EXS_JPEG2000LosslessOnly, nullptr, sequence);
  file.getDataset()->insert(pixels, true);
}

std::vector<SliceTruth> SignedAxialStack() {
  std::vector<SliceTruth> slices = AxialStack({0, 1.5, 3});
  for (SliceTruth& s : slices) {
    for (int& v : s.stored) v -= 1700;  // signed 16-bit, negative and positive
  }
  return slices;
}

TEST(SeriesReader, Jpeg2000SlicesDecodeExactlyAlsoWhenAFrameSpansFragments) {
  std::vector<SliceTruth> slices = SignedAxialStack();
  dicom::SeriesReader reader;
  for (std::size_t i = 0; i < slices.size(); ++i) {
    auto file = testing::MakeSeriesSlice(slices[i], static_cast<int>(i));
    PutJpeg2000(*file, {slices[i]}, static_cast<int>(i) + 1, false);  // 1, 2, 3 fragments
    std::string bytes = testing::Encode(*file, EXS_JPEG2000LosslessOnly);
    ASSERT_FALSE(bytes.empty());
    ASSERT_TRUE(reader.AddBytes(bytes, "j2k" + std::to_string(i)).ok());
  }
  dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
  EXPECT_EQ(testing::ExpectVoxelsWhereHeadersPutThem(OnlyVolume(series), slices, 0),
            std::size_t{80 * 3});
}

TEST(SeriesReader, Jpeg2000MultiFrameWithFramesOverSeveralFragments) {
  std::vector<SliceTruth> slices = SignedAxialStack();
  for (bool offset_table : {false, true}) {
    auto file = EnhancedFile(slices);
    PutJpeg2000(*file, slices, 2, offset_table);
    dicom::SeriesReader reader;
    ASSERT_TRUE(reader.AddBytes(testing::Encode(*file, EXS_JPEG2000LosslessOnly), "j2k").ok());
    dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
    EXPECT_EQ(testing::ExpectVoxelsWhereHeadersPutThem(OnlyVolume(series), slices, 0),
              std::size_t{80 * 3})
        << (offset_table ? "with" : "without") << " an offset table";
  }
}

TEST(SeriesReader, Jpeg2000FramesThatCannotBeToldApartFailWithAReason) {
  std::vector<SliceTruth> slices = SignedAxialStack();
  auto file = EnhancedFile(slices);
  PutJpeg2000(*file, slices, 2, false);
  // Drop the second half of the first frame: without an offset table, only two end-of-codestream
  // markers are left for three frames.
  DcmPixelData* pixels = nullptr;
  DcmElement* element = nullptr;
  ASSERT_TRUE(file->getDataset()->findAndGetElement(DCM_PixelData, element).good());
  pixels = static_cast<DcmPixelData*>(element);
  DcmPixelSequence* sequence = nullptr;
  E_TransferSyntax xfer = EXS_Unknown;
  const DcmRepresentationParameter* parameter = nullptr;
  pixels->getOriginalRepresentationKey(xfer, parameter);
  ASSERT_TRUE(pixels->getEncapsulatedRepresentation(xfer, parameter, sequence).good());
  DcmPixelItem* dropped = nullptr;
  ASSERT_TRUE(sequence->remove(dropped, 2).good());  // item 0 is the (empty) offset table
  delete dropped;
  dicom::SeriesReader reader;
  ASSERT_TRUE(reader.AddBytes(testing::Encode(*file, EXS_JPEG2000LosslessOnly), "j2k").ok());
  dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
  EXPECT_EQ(series.status.code(), absl::StatusCode::kInvalidArgument) << series.status;
  EXPECT_NE(series.status.message().find("fragments"), std::string::npos) << series.status;
}

TEST(SeriesReader, RefusesAVolumeLargerThanTheLimitBeforeAllocatingIt) {
  auto file = testing::MakeCtSlice();
  file->getDataset()->putAndInsertUint16(DCM_Rows, 65535);
  file->getDataset()->putAndInsertUint16(DCM_Columns, 65535);
  dicom::SeriesReader reader;
  ASSERT_TRUE(reader.AddBytes(testing::Encode(*file), "huge").ok());
  dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
  EXPECT_EQ(series.status.code(), absl::StatusCode::kResourceExhausted) << series.status;
}

TEST(SeriesReader, RejectsWhatIsNotAnImage) {
  dicom::SeriesReader reader;
  EXPECT_EQ(reader.AddBytes("not dicom at all", "text").code(), absl::StatusCode::kInvalidArgument);
  auto file = testing::MakeCtSlice();
  file->getDataset()->findAndDeleteElement(DCM_PixelData);
  absl::Status status = reader.AddBytes(testing::Encode(*file), "no-pixels");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("no pixel data"), std::string::npos) << status;
  EXPECT_TRUE(reader.SeriesUids().empty());
}

TEST(SeriesReader, ColourImagesFailTheirSeriesWithAReason) {
  dicom::SeriesReader reader;
  auto file = testing::MakeCtSlice();
  file->getDataset()->putAndInsertString(DCM_PhotometricInterpretation, "PALETTE COLOR");
  ASSERT_TRUE(reader.AddBytes(testing::Encode(*file), "palette").ok());
  dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
  EXPECT_EQ(series.status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(series.status.message().find("colour"), std::string::npos) << series.status;
}

// A head CT as scanners send it: a thin block over the posterior fossa (2.5 mm) and a thick block
// above (5 mm), in one series, the thick block's ImageType carrying GE's ADD flag. One volume
// covers the whole head on the finest step; the thicknesses found are recorded.
TEST(SeriesReader, ThinAndThickBlocksOfAHeadCtMakeOneVolume) {
  std::vector<double> depths;
  for (int k = 0; k < 10; ++k) depths.push_back(2.5 * k);      // 0 .. 22.5
  for (int k = 0; k < 8; ++k) depths.push_back(25 + 5.0 * k);  // 25 .. 60
  std::vector<SliceTruth> slices = AxialStack(depths);
  dicom::SeriesReader reader;
  for (std::size_t i = 0; i < slices.size(); ++i) {
    auto file = testing::MakeSeriesSlice(slices[i], static_cast<int>(i));
    bool thick = i >= 10;
    DcmDataset* d = file->getDataset();
    d->putAndInsertString(DCM_SliceThickness, thick ? "5" : "2.5");
    d->putAndInsertString(DCM_ImageType,
                          thick ? "ORIGINAL\\PRIMARY\\AXIAL\\ADD" : "ORIGINAL\\PRIMARY\\AXIAL");
    ASSERT_TRUE(reader.AddBytes(testing::Encode(*file), "ct" + std::to_string(i)).ok());
  }
  dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
  const common::Volume& v = OnlyVolume(series);
  EXPECT_EQ(v.size[2], 25u);  // 0 .. 60 mm every 2.5 mm
  EXPECT_NEAR(v.spacing[2], 2.5, 1e-9);
  EXPECT_NEAR(v.origin[2], 0, 1e-9);
  EXPECT_TRUE(Has(v.reconstruction, "Resampled"));
  auto found = v.reconstruction.find("SliceThicknessesFound");
  ASSERT_NE(found, v.reconstruction.end());
  EXPECT_EQ(std::get<std::vector<double>>(found->second), (std::vector<double>{2.5, 5}));
  EXPECT_FALSE(Has(v.metadata, "SliceThickness"));
  // Every original slice lies on the grid and keeps its values; between two thick slices the
  // grid slice is their mean.
  EXPECT_EQ(testing::ExpectVoxelsWhereHeadersPutThem(v, slices, 1e-3), 18u * 10 * 8);
  for (std::size_t j = 0; j < v.size[1]; ++j) {
    for (std::size_t i = 0; i < v.size[0]; ++i) {
      double expected = (testing::VoxelValue(v, i, j, 10) + testing::VoxelValue(v, i, j, 12)) / 2;
      ASSERT_NEAR(testing::VoxelValue(v, i, j, 11), expected, 1e-3) << i << "," << j;
    }
  }
}

TEST(SeriesReader, MagnitudeAndPhaseStillMakeTwoVolumes) {
  std::vector<SliceTruth> slices = AxialStack({0, 2, 4});
  dicom::SeriesReader reader;
  for (std::size_t i = 0; i < 2 * slices.size(); ++i) {
    auto file = testing::MakeSeriesSlice(slices[i % 3], static_cast<int>(i));
    file->getDataset()->putAndInsertString(
        DCM_ImageType, i < 3 ? "ORIGINAL\\PRIMARY\\M\\ND\\NORM" : "ORIGINAL\\PRIMARY\\P\\ND");
    file->getDataset()->putAndInsertString(
        DCM_SOPInstanceUID, ("1.2.826.0.1.3680043.2.1125.9.7." + std::to_string(i)).c_str());
    ASSERT_TRUE(reader.AddBytes(testing::Encode(*file), "mp" + std::to_string(i)).ok());
  }
  dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
  ASSERT_TRUE(series.status.ok()) << series.status;
  ASSERT_EQ(series.volumes.size(), 2u);
  std::vector<std::string> suffixes = {series.volumes[0].name_suffix,
                                       series.volumes[1].name_suffix};
  std::sort(suffixes.begin(), suffixes.end());
  EXPECT_EQ(suffixes, (std::vector<std::string>{"", "_ph"}));
}

// The series as written in `xfer` and as the server stores it after de-identification
// (research profile) rebuild into the same voxels and geometry.
class DeidentifiedTransferSyntax : public ::testing::TestWithParam<E_TransferSyntax> {};

TEST_P(DeidentifiedTransferSyntax, GivesTheSameVolumeAsTheOriginal) {
  E_TransferSyntax xfer = GetParam();
  std::vector<SliceTruth> slices = AxialStack({0, 1.5, 3, 4.5});
  auto deidentifier = dicom::Deidentifier::Create(SecretKey::FromHex(std::string(64, '3')).value(),
                                                  dicom::DeidPolicy::ResearchDefault());
  ASSERT_TRUE(deidentifier.ok());
  dicom::SeriesReader original, deidentified;
  for (std::size_t i = 0; i < slices.size(); ++i) {
    std::unique_ptr<DcmFileFormat> file;
    if (xfer == EXS_JPEGProcess1) {  // 8-bit only
      testing::CtSliceSpec spec;
      spec.bits_allocated = 8;
      spec.sop_uid = "1.2.826.0.1.3680043.2.1125.9.8." + std::to_string(i);
      file = testing::MakeCtSlice(spec);
      file->getDataset()->putAndInsertString(DCM_ImagePositionPatient,
                                             ("0\\0\\" + std::to_string(1.5 * i)).c_str());
    } else {
      file = testing::MakeSeriesSlice(slices[i], static_cast<int>(i));
    }
    if (xfer == EXS_JPEG2000LosslessOnly) PutJpeg2000(*file, {slices[i]}, 1, false);
    std::string bytes = testing::Encode(*file, xfer);
    ASSERT_FALSE(bytes.empty()) << DcmXfer(xfer).getXferName();
    auto copy = deidentifier->Deidentify(bytes, "c");
    ASSERT_TRUE(copy.ok()) << copy.status();
    EXPECT_EQ(copy->transfer_syntax_uid, DcmXfer(xfer).getXferID());
    ASSERT_TRUE(original.AddBytes(bytes, "original").ok());
    ASSERT_TRUE(deidentified.AddBytes(copy->bytes, "deidentified").ok());
  }
  dicom::SeriesVolumes a = original.BuildSeries(testing::FirstSeries(original));
  dicom::SeriesVolumes b = deidentified.BuildSeries(testing::FirstSeries(deidentified));
  const common::Volume& va = OnlyVolume(a);
  const common::Volume& vb = OnlyVolume(b);
  ASSERT_EQ(va.size[2], 4u);
  EXPECT_EQ(vb.size, va.size);
  EXPECT_EQ(vb.spacing, va.spacing);
  EXPECT_EQ(vb.origin, va.origin);
  EXPECT_EQ(vb.direction, va.direction);
  EXPECT_EQ(vb.pixel_type, va.pixel_type);
  ASSERT_EQ(vb.voxels.size(), va.voxels.size());
  EXPECT_TRUE(std::equal(va.voxels.begin(), va.voxels.end(), vb.voxels.begin()));
  if (xfer != EXS_JPEGProcess1) testing::ExpectVoxelsWhereHeadersPutThem(vb, slices, 0);
}

INSTANTIATE_TEST_SUITE_P(EveryReadableSyntax, DeidentifiedTransferSyntax,
                         ::testing::Values(EXS_LittleEndianImplicit, EXS_LittleEndianExplicit,
                                           EXS_BigEndianExplicit, EXS_DeflatedLittleEndianExplicit,
                                           EXS_RLELossless, EXS_JPEGProcess1, EXS_JPEGProcess14SV1,
                                           EXS_JPEGLSLossless, EXS_JPEG2000LosslessOnly),
                         [](const auto& info) {
                           std::string out;
                           for (char c : std::string(DcmXfer(info.param).getXferName())) {
                             if (std::isalnum(static_cast<unsigned char>(c))) out.push_back(c);
                           }
                           return out;
                         });

// Diffusion attributes that disagree within one volume cost the .bval/.bvec, not the image.
TEST(SeriesReader, DisagreeingDiffusionAttributesDropOnlyTheGradients) {
  dicom::SeriesReader reader;
  std::vector<SliceTruth> planes = AxialStack({0, 2});
  for (std::size_t t = 0; t < 2; ++t) {
    for (std::size_t k = 0; k < planes.size(); ++k) {
      SliceTruth s = planes[k];
      s.time = t;
      s.instance_number = static_cast<int>(t * 2 + k + 1);
      auto file = testing::MakeSeriesSlice(s, static_cast<int>(t * 2 + k));
      DcmItem* item = nullptr;
      DcmDataset* d = file->getDataset();
      ASSERT_TRUE(d->findOrCreateSequenceItem(DCM_MRDiffusionSequence, item, 0).good());
      // Volume 2's second slice claims another b-value.
      item->putAndInsertFloat64(DCM_DiffusionBValue, t == 0 ? 0 : (k == 0 ? 1000 : 700));
      item->putAndInsertString(DCM_DiffusionDirectionality, t == 0 ? "NONE" : "DIRECTIONAL");
      if (t == 1) {
        DcmItem* gradient = nullptr;
        ASSERT_TRUE(
            item->findOrCreateSequenceItem(DCM_DiffusionGradientDirectionSequence, gradient, 0)
                .good());
        const Float64 direction[3] = {1, 0, 0};
        gradient->putAndInsertFloat64Array(DCM_DiffusionGradientOrientation, direction, 3);
      }
      ASSERT_TRUE(reader.AddBytes(testing::Encode(*file), "dwi").ok());
    }
  }
  dicom::SeriesVolumes series = reader.BuildSeries(testing::FirstSeries(reader));
  const common::Volume& v = OnlyVolume(series);
  EXPECT_EQ(v.size[3], 2u);
  EXPECT_TRUE(v.diffusion.empty());
  auto omitted = v.reconstruction.find("DiffusionOmitted");
  ASSERT_NE(omitted, v.reconstruction.end());
  EXPECT_NE(std::get<std::string>(omitted->second).find("b = 700"), std::string::npos);
}

}  // namespace
}  // namespace tributary
