#include "dicom/stack_geometry.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

namespace tributary::dicom {

absl::StatusOr<StackGeometry> StackGeometry::Place(
    const Vec3& normal, const std::vector<Vec3>& positions,
    const std::function<bool(std::size_t, std::size_t)>& earlier) {
  StackGeometry geometry;
  std::vector<double> depths;
  for (const Vec3& position : positions) depths.push_back(Dot(position, normal));
  std::vector<std::size_t> sorted(positions.size());
  std::iota(sorted.begin(), sorted.end(), std::size_t{0});
  std::stable_sort(sorted.begin(), sorted.end(), [&](std::size_t a, std::size_t b) {
    if (std::abs(depths[a] - depths[b]) >= kSamePositionMm) return depths[a] < depths[b];
    return earlier(a, b);
  });
  std::vector<double>& plane_depths = geometry.plane_depths;
  std::vector<std::vector<std::size_t>>& planes = geometry.planes;
  for (std::size_t slice : sorted) {
    if (planes.empty() || std::abs(depths[slice] - plane_depths.back()) >= kSamePositionMm) {
      planes.emplace_back();
      plane_depths.push_back(depths[slice]);
    }
    planes.back().push_back(slice);
  }
  if (planes.empty()) return geometry;
  geometry.time_points = planes.front().size();
  for (const std::vector<std::size_t>& plane : planes) {
    if (plane.size() != geometry.time_points) {
      return absl::FailedPreconditionError(
          "repeated slice positions with unequal counts (" + std::to_string(geometry.time_points) +
          " vs " + std::to_string(plane.size()) +
          " images at one position): an incomplete 4D series or mixed acquisitions");
    }
  }
  const std::size_t n = planes.size();
  if (n == 1) return geometry;

  std::vector<double> steps;
  for (std::size_t k = 1; k < n; ++k) steps.push_back(plane_depths[k] - plane_depths[k - 1]);
  const Vec3& origin = positions[planes.front().front()];
  for (std::size_t k = 0; k < n; ++k) {
    Vec3 offset = Sub(positions[planes[k].front()], origin);
    Vec3 in_plane = Sub(offset, Scaled(normal, plane_depths[k] - plane_depths.front()));
    geometry.max_shift = std::max(geometry.max_shift, Norm(in_plane));
  }
  std::vector<double> sorted_steps = steps;
  std::nth_element(sorted_steps.begin(), sorted_steps.begin() + sorted_steps.size() / 2,
                   sorted_steps.end());
  geometry.median_step = sorted_steps[sorted_steps.size() / 2];
  geometry.extent = plane_depths.back() - plane_depths.front();
  // Against the mean step (jitter around a regular grid stays unresampled); a missing slice or
  // a changed step shows as a deviation, and the finest step then sets the new grid: the smallest
  // step of at least half the median (a block of thin slices keeps its resolution; two nearly
  // coincident slices at a block's edge do not make the grid explode).
  double mean = geometry.extent / static_cast<double>(n - 1);
  for (double step : steps) {
    geometry.max_deviation = std::max(geometry.max_deviation, std::abs(step - mean));
  }
  geometry.irregular = geometry.max_deviation > kGapToleranceMm;
  geometry.tilted = geometry.max_shift > kTiltToleranceMm;
  if (!geometry.irregular) {
    geometry.slice_count = n;
  } else {
    geometry.grid_step = geometry.median_step;
    for (double step : steps) {
      if (step >= geometry.median_step / 2) geometry.grid_step = std::min(geometry.grid_step, step);
    }
    geometry.slice_count =
        static_cast<std::size_t>(std::llround(geometry.extent / geometry.grid_step)) + 1;
    if (geometry.slice_count > 4 * n + 16) {
      return absl::FailedPreconditionError("slice gaps too irregular to resample (" +
                                           std::to_string(geometry.slice_count) + " slices for " +
                                           std::to_string(n) + ")");
    }
  }
  geometry.spacing = geometry.extent / static_cast<double>(geometry.slice_count - 1);
  if (geometry.tilted) {
    geometry.tilt_degrees = std::atan2(geometry.max_shift, geometry.extent) * 180.0 / M_PI;
  }
  return geometry;
}

}  // namespace tributary::dicom
