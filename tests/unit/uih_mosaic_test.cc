// UIH "SaveBySlc" grids: one image per volume whose tiles are placed by UIH's MRVFrameSequence.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <variant>
#include <vector>

#include "common/secret_key.h"
#include "dicom/deidentifier.h"
#include "dicom/series_reader.h"
#include "tests/unit/synthetic_dicom.h"
#include "tests/unit/synthetic_series.h"

namespace tributary {
namespace {

// Five 3 x 4 tiles (rows x columns) in a grid of ceil(sqrt(5)) = 3 tiles per row and 2 rows, the
// sixth cell empty: a 6 x 12 image. Coronal: rows run along +x, columns along -z, so the normal
// (row x column) is +y. The tiles are stored against the normal, tile t at y = 20 - 3t, and were
// acquired interleaved (tile t at times_ms[t]). Stored value of tile t, row r, column c:
// 1000 * volume + 100 * t + 10 * r + c + 1.
constexpr int kTiles = 5;
constexpr unsigned kTileRows = 3, kTileColumns = 4;
constexpr double kTimesMs[kTiles] = {0, 600, 200, 800, 400};

std::string TileTime(int tile) {
  // 10:15:00 plus the tile's offset, as UIH writes it (TM with a fraction).
  int ms = static_cast<int>(kTimesMs[tile]);
  return "101500." + std::to_string(ms / 100) + "00000";
}

std::string UihGrid(int volume) {
  testing::SliceTruth truth;
  truth.rows = 2 * kTileRows;
  truth.columns = 3 * kTileColumns;
  truth.dx = 2.0;
  truth.dy = 1.5;
  truth.orientation = {1, 0, 0, 0, 0, -1};
  truth.instance_number = volume + 1;
  truth.protocol = "dti_uih";
  truth.stored.assign(truth.rows * truth.columns, 0);
  for (int t = 0; t < kTiles; ++t) {
    for (unsigned r = 0; r < kTileRows; ++r) {
      for (unsigned c = 0; c < kTileColumns; ++c) {
        unsigned row = (t / 3) * kTileRows + r, column = (t % 3) * kTileColumns + c;
        truth.stored[row * truth.columns + column] = 1000 * volume + 100 * t + 10 * r + c + 1;
      }
    }
  }
  std::unique_ptr<DcmFileFormat> file = testing::MakeSeriesSlice(truth, volume);
  DcmDataset* d = file->getDataset();
  delete d->remove(DCM_ImagePositionPatient);  // as UIH writes it: only the tiles have positions
  d->putAndInsertString(DCM_Manufacturer, "UIH");
  d->putAndInsertString(DCM_ImageType, "ORIGINAL\\PRIMARY\\M\\VFRAME");
  d->putAndInsertString(DCM_SpacingBetweenSlices, "3");
  d->putAndInsertString(DcmTag(0x0065, 0x0010, EVR_LO), "Image Private Header");
  d->putAndInsertString(DcmTag(0x0065, 0x1050, EVR_DS), std::to_string(kTiles).c_str());
  auto* frames = new DcmSequenceOfItems(DcmTag(0x0065, 0x1051, EVR_SQ));
  for (int t = 0; t < kTiles; ++t) {
    auto* item = new DcmItem();
    item->putAndInsertString(DCM_AcquisitionTime, TileTime(t).c_str());
    std::string position = "-10\\" + std::to_string(20 - 3 * t) + "\\30";
    item->putAndInsertString(DCM_ImagePositionPatient, position.c_str());
    item->putAndInsertString(DcmTag(0x0065, 0x100F, EVR_SH), "PHI-IN-UIH");
    frames->insert(item);
  }
  d->insert(frames, true);
  // Diffusion as UIH writes it: b-value, and the gradient in the image frame (rows, columns,
  // row x column); volume 0 is the b = 0 volume.
  const Float64 b_value = volume == 0 ? 0 : 1000;
  const Float64 gradient[3] = {volume == 0 ? 0.0 : 0.6, volume == 0 ? 0.0 : 0.8, 0};
  d->putAndInsertFloat64(DcmTag(0x0065, 0x1009, EVR_FD), b_value);
  d->putAndInsertFloat64Array(DcmTag(0x0065, 0x1037, EVR_FD), gradient, 3);
  return testing::Encode(*file);
}

const common::Volume& OnlyVolume(const dicom::SeriesVolumes& series) {
  EXPECT_TRUE(series.status.ok()) << series.status;
  EXPECT_EQ(series.volumes.size(), 1u);
  static const common::Volume empty;
  return series.volumes.empty() ? empty : series.volumes.front();
}

// The volume worked out by hand: slices in increasing y, so slice k is tile 4 - k at
// y = 8 + 3k; the origin is tile 4's first voxel (-10, 8, 30); voxel (i, j, k, v) holds
// tile 4 - k, row j, column i of volume v.
void ExpectTheGrid(const common::Volume& v) {
  EXPECT_EQ(v.size, (std::array<std::size_t, 4>{4, 3, 5, 2}));
  EXPECT_NEAR(v.spacing[0], 2.0, 1e-9);
  EXPECT_NEAR(v.spacing[1], 1.5, 1e-9);
  EXPECT_NEAR(v.spacing[2], 3.0, 1e-9);
  const std::array<double, 3> origin = {-10, 8, 30};
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(v.origin[k], origin[k], 1e-9) << k;
  const std::array<double, 9> direction = {1, 0, 0, 0, 0, 1, 0, -1, 0};
  for (int k = 0; k < 9; ++k) EXPECT_NEAR(v.direction[k], direction[k], 1e-9) << k;
  for (std::size_t t = 0; t < 2; ++t) {
    for (std::size_t k = 0; k < 5; ++k) {
      for (std::size_t j = 0; j < 3; ++j) {
        for (std::size_t i = 0; i < 4; ++i) {
          double expected = 1000.0 * t + 100.0 * (4 - k) + 10.0 * j + i + 1;
          ASSERT_EQ(testing::VoxelValue(v, i, j, k, t), expected) << i << j << k << t;
        }
      }
    }
  }
  // The image-frame gradient (0.6, 0.8, 0) in the patient frame: 0.6 row (1, 0, 0) + 0.8 column
  // (0, 0, -1) = (0.6, 0, -0.8).
  ASSERT_EQ(v.diffusion.size(), 2u);
  EXPECT_EQ(v.diffusion[0].b_value, 0);
  EXPECT_EQ(v.diffusion[1].b_value, 1000);
  const std::array<double, 3> lps = {0.6, 0, -0.8};
  for (int r = 0; r < 3; ++r) EXPECT_NEAR(v.diffusion[1].direction[r], lps[r], 1e-9) << r;
  auto timing = v.metadata.find("SliceTiming");
  ASSERT_NE(timing, v.metadata.end());
  // In slice order, tiles 4, 3, 2, 1, 0.
  EXPECT_EQ(std::get<std::vector<double>>(timing->second),
            (std::vector<double>{0.4, 0.8, 0.2, 0.6, 0.0}));
}

TEST(UihMosaic, GridIsCutIntoTilesPlacedByTheirOwnPositions) {
  dicom::SeriesReader reader;
  for (int volume = 0; volume < 2; ++volume) {
    ASSERT_TRUE(reader.AddBytes(UihGrid(volume), "grid " + std::to_string(volume)).ok());
  }
  ExpectTheGrid(OnlyVolume(reader.BuildSeries(testing::FirstSeries(reader))));
}

// De-identified as the server stores it (research profile): UIH's private block is not on Table
// E.3.10-1 and goes; the tile count, positions and times travel in Tributary's reconstruction
// block, and the copy rebuilds into the same volume.
TEST(UihMosaic, DeidentifiedGridIsCutLikeTheOriginal) {
  auto deidentifier = dicom::Deidentifier::Create(SecretKey::FromHex(std::string(64, '7')).value(),
                                                  dicom::DeidPolicy::ResearchDefault());
  ASSERT_TRUE(deidentifier.ok());
  dicom::SeriesReader reader;
  for (int volume = 0; volume < 2; ++volume) {
    std::string original = UihGrid(volume);
    ASSERT_NE(original.find("PHI-IN-UIH"), std::string::npos);
    auto deidentified = deidentifier->Deidentify(original, "c");
    ASSERT_TRUE(deidentified.ok()) << deidentified.status();
    EXPECT_EQ(deidentified->bytes.find("PHI-IN-UIH"), std::string::npos);
    EXPECT_EQ(deidentified->bytes.find("Image Private Header"), std::string::npos);
    EXPECT_NE(deidentified->bytes.find("TRIBUTARY RECONSTRUCTION 1"), std::string::npos);
    ASSERT_TRUE(reader.AddBytes(deidentified->bytes, "deidentified").ok());
  }
  ExpectTheGrid(OnlyVolume(reader.BuildSeries(testing::FirstSeries(reader))));

  // Without the Retain Safe Private option the copy has no tile positions, and says why.
  auto strict = dicom::Deidentifier::Create(SecretKey::FromHex(std::string(64, '7')).value(), {});
  ASSERT_TRUE(strict.ok());
  auto stripped = strict->Deidentify(UihGrid(0), "c");
  ASSERT_TRUE(stripped.ok()) << stripped.status();
  dicom::SeriesReader stripped_reader;
  ASSERT_TRUE(stripped_reader.AddBytes(stripped->bytes, "stripped").ok());
  dicom::SeriesVolumes series = stripped_reader.BuildSeries(testing::FirstSeries(stripped_reader));
  EXPECT_FALSE(series.status.ok());
}

}  // namespace
}  // namespace tributary
