#pragma once

#include <dcmtk/dcmdata/dcfilefo.h>

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/volume.h"
#include "dicom/series_reader.h"

namespace tributary::testing {

// One slice of a synthetic series, with the truth the DICOM headers will state.
struct SliceTruth {
  std::array<double, 3> position = {0, 0, 0};
  std::array<double, 6> orientation = {1, 0, 0, 0, 1, 0};
  double dx = 1;  // PixelSpacing[1], between columns
  double dy = 1;  // PixelSpacing[0], between rows
  unsigned rows = 8;
  unsigned columns = 10;
  std::vector<int> stored;  // rows * columns stored values, row by row
  double slope = 1;
  double intercept = 0;
  std::size_t time = 0;  // the volume (time point) the slice belongs to
  int instance_number = 1;
  std::string series_uid = "1.2.826.0.1.3680043.2.1125.9.1";
  int echo_number = 0;  // 0: not written
  std::string protocol = "SYNTH";
};

// Fills `stored` with a pattern that differs in every slice and pixel.
void FillPattern(SliceTruth& slice, int seed);

// A single-frame MR instance stating `truth` (16-bit, signed when any stored value is negative).
std::unique_ptr<DcmFileFormat> MakeSeriesSlice(const SliceTruth& truth, int index);

// Expects every DICOM pixel of `slices` to land on a voxel centre of `volume` within 0.01 mm and
// to hold slope * stored + intercept there (within `tolerance`). Pixels the volume's grid does not
// cover count as failures unless `allow_outside`. Returns how many pixels were checked.
std::size_t ExpectVoxelsWhereHeadersPutThem(const common::Volume& volume,
                                            const std::vector<SliceTruth>& slices, double tolerance,
                                            bool allow_outside = false);

// The first series a reader holds, or "" (with a test failure) when it holds none: BuildSeries("")
// then fails cleanly instead of the test reading past an empty list.
std::string FirstSeries(const dicom::SeriesReader& reader);

// The value of voxel (i, j, k, t), whatever the pixel type.
double VoxelValue(const common::Volume& volume, std::size_t i, std::size_t j, std::size_t k,
                  std::size_t t = 0);

}  // namespace tributary::testing
