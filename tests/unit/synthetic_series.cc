#include "tests/unit/synthetic_series.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "tests/unit/synthetic_dicom.h"

namespace tributary::testing {

void FillPattern(SliceTruth& slice, int seed) {
  slice.stored.resize(std::size_t{slice.rows} * slice.columns);
  for (std::size_t i = 0; i < slice.stored.size(); ++i) {
    slice.stored[i] =
        static_cast<int>((i * 37 + static_cast<std::size_t>(seed) * 1009) % 3001) + 100;
  }
}

std::unique_ptr<DcmFileFormat> MakeSeriesSlice(const SliceTruth& truth, int index) {
  CtSliceSpec spec;
  spec.rows = truth.rows;
  spec.columns = truth.columns;
  spec.series_uid = truth.series_uid;
  spec.sop_uid = truth.series_uid + ".1." + std::to_string(index + 1);
  std::unique_ptr<DcmFileFormat> file = MakeCtSlice(spec);
  DcmDataset* d = file->getDataset();
  d->putAndInsertString(DCM_SOPClassUID, UID_MRImageStorage);
  d->putAndInsertString(DCM_Modality, "MR");
  d->putAndInsertString(DCM_ProtocolName, truth.protocol.c_str());
  d->putAndInsertString(DCM_RepetitionTime, "2000");
  d->putAndInsertString(DCM_InstanceNumber, std::to_string(truth.instance_number).c_str());
  if (truth.echo_number > 0)
    d->putAndInsertString(DCM_EchoNumbers, std::to_string(truth.echo_number).c_str());
  auto text = [](const double* values, int count) {
    std::ostringstream out;
    out.precision(10);
    for (int i = 0; i < count; ++i) out << (i ? "\\" : "") << values[i];
    return out.str();
  };
  d->putAndInsertString(DCM_ImagePositionPatient, text(truth.position.data(), 3).c_str());
  d->putAndInsertString(DCM_ImageOrientationPatient, text(truth.orientation.data(), 6).c_str());
  double spacing[2] = {truth.dy, truth.dx};
  d->putAndInsertString(DCM_PixelSpacing, text(spacing, 2).c_str());
  d->putAndInsertString(DCM_RescaleSlope, text(&truth.slope, 1).c_str());
  d->putAndInsertString(DCM_RescaleIntercept, text(&truth.intercept, 1).c_str());
  bool is_signed =
      std::any_of(truth.stored.begin(), truth.stored.end(), [](int v) { return v < 0; });
  d->putAndInsertUint16(DCM_BitsStored, 16);
  d->putAndInsertUint16(DCM_HighBit, 15);
  d->putAndInsertUint16(DCM_PixelRepresentation, is_signed ? 1 : 0);
  std::vector<Uint16> pixels(truth.stored.size());
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<Uint16>(truth.stored[i]);
  d->putAndInsertUint16Array(DCM_PixelData, pixels.data(),
                             static_cast<unsigned long>(pixels.size()));
  return file;
}

double VoxelValue(const common::Volume& v, std::size_t i, std::size_t j, std::size_t k,
                  std::size_t t) {
  return v.ValueAt(((t * v.size[2] + k) * v.size[1] + j) * v.size[0] + i);
}

std::size_t ExpectVoxelsWhereHeadersPutThem(const common::Volume& volume,
                                            const std::vector<SliceTruth>& slices, double tolerance,
                                            bool allow_outside) {
  std::size_t checked = 0, failures = 0;
  std::string first_failure;
  for (const SliceTruth& s : slices) {
    for (unsigned r = 0; r < s.rows; ++r) {
      for (unsigned c = 0; c < s.columns; ++c) {
        std::array<double, 3> p;
        for (int a = 0; a < 3; ++a) {
          p[a] = s.position[a] + c * s.dx * s.orientation[a] + r * s.dy * s.orientation[3 + a];
        }
        std::array<long, 3> index;
        bool inside = true;
        for (int axis = 0; axis < 3; ++axis) {
          double along = 0;
          for (int row = 0; row < 3; ++row)
            along += volume.direction[3 * row + axis] * (p[row] - volume.origin[row]);
          index[axis] = std::lround(along / volume.spacing[axis]);
          if (index[axis] < 0 || index[axis] >= static_cast<long>(volume.size[axis]))
            inside = false;
        }
        std::ostringstream why;
        if (!inside) {
          if (allow_outside) continue;
          why << "outside the grid";
        } else {
          auto centre = volume.IndexToPhysical(index[0], index[1], index[2]);
          double distance = std::hypot(centre[0] - p[0], centre[1] - p[1], centre[2] - p[2]);
          double expected = s.slope * s.stored[r * s.columns + c] + s.intercept;
          double actual = VoxelValue(volume, index[0], index[1], index[2], s.time);
          if (distance > 0.01) why << "voxel centre " << distance << " mm away";
          if (std::abs(actual - expected) > tolerance)
            why << "value " << actual << " != " << expected;
        }
        ++checked;
        if (!why.str().empty() && failures++ == 0) {
          std::ostringstream out;
          out << "pixel (row " << r << ", column " << c << ") of the slice at " << s.position[0]
              << "," << s.position[1] << "," << s.position[2] << " (time " << s.time
              << "): " << why.str();
          first_failure = out.str();
        }
      }
    }
  }
  EXPECT_EQ(failures, 0u) << first_failure;
  return checked;
}

std::string FirstSeries(const dicom::SeriesReader& reader) {
  std::vector<std::string> uids = reader.SeriesUids();
  EXPECT_FALSE(uids.empty()) << "the reader holds no series";
  return uids.empty() ? std::string() : uids.front();
}

}  // namespace tributary::testing
