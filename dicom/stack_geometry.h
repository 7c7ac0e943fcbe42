#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "common/status.h"
#include "dicom/vec3.h"

namespace tributary::dicom {

// Two slices closer than this along the normal share a position (a 4D series).
inline constexpr double kSamePositionMm = 0.01;
// Steps that differ from the mean step by more than this are resampled (issue 4).
inline constexpr double kGapToleranceMm = 0.2;
// An in-plane shift between slices above this is gantry tilt (or a sheared header).
inline constexpr double kTiltToleranceMm = 0.01;

// Where the slices of a stack lie, worked out from their positions alone (plain types, no DICOM):
// planes along the slice normal, time points, spacing, gaps and tilt.
struct StackGeometry {
  // Per plane, in increasing depth (position along the normal): its depth and its slices (indices
  // into the positions given) in temporal order.
  std::vector<double> plane_depths;
  std::vector<std::vector<std::size_t>> planes;
  std::size_t time_points = 1;  // slices per plane: a 4D volume when more than one

  // The rest only from two planes on.
  std::size_t slice_count = 1;  // of the regular grid; more than the planes when slices are missing
  double spacing = 0;           // between slices of the regular grid
  double extent = 0;            // from the first plane to the last
  double median_step = 0;
  double grid_step = 0;      // when irregular: the finest step (>= half the median) sets the grid
  double max_deviation = 0;  // of a step between planes from the mean step
  double max_shift = 0;      // in plane, of a plane's first slice from the first plane's
  bool irregular = false;    // max_deviation above kGapToleranceMm: missing slices, variable gaps
  bool tilted = false;       // max_shift above kTiltToleranceMm: gantry tilt, sheared geometry
  double tilt_degrees = 0;   // when tilted

  // Sorting by depth, grouping repeated positions, and spacing from the positions; `normal` is
  // the slice normal (unit length), `earlier(a, b)` orders two slices at one position in time.
  // Errors: FailedPrecondition when positions repeat unequally (an incomplete 4D series) or gaps
  // are too irregular to resample.
  static absl::StatusOr<StackGeometry> Place(
      const Vec3& normal, const std::vector<Vec3>& positions,
      const std::function<bool(std::size_t, std::size_t)>& earlier);
};

}  // namespace tributary::dicom
