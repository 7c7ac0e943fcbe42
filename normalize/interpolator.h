#pragma once

namespace tributary::normalize {

// How a resampled voxel takes its value from the input: trilinear, cubic B-spline, or the nearest
// input voxel (for label maps: no new values appear).
enum class Interpolator { kLinear, kBSpline, kNearest };

}  // namespace tributary::normalize
