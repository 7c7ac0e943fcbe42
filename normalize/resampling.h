#pragma once

#include <array>

#include "common/status.h"
#include "common/volume.h"
#include "normalize/grid.h"
#include "normalize/interpolator.h"

namespace tributary::normalize {

// The Gaussian sigma (mm) per axis that anti-aliases a resampling from `input_spacing` to
// `output_spacing` (TorchIO's Resample, after Cardoso et al., MICCAI 2015): with k = output /
// input spacing, sigma = input_spacing * sqrt((k^2 - 1) / (8 ln 2)) where k > 1, else 0.
std::array<double, 3> AntiAliasSigmas(const std::array<double, 3>& input_spacing,
                                      const std::array<double, 3>& output_spacing);

// The grid with `spacing` and the volume's direction that keeps its physical centre: along each
// axis floor(size * old spacing / new spacing) voxels (at least one), whose first and last centres
// lie symmetric about the old centre.
Grid CentredGrid(const common::Volume& volume, const std::array<double, 3>& spacing);

// Samples every time point of `volume` at the voxel centres of `grid` (same world frame, no
// transform); points outside the input get `background`. Float32 voxels, except that nearest
// interpolation keeps an integer input's pixel type. A grid equal to the input's copies the
// voxels unchanged.
absl::StatusOr<common::Volume> ResampleOnto(const common::Volume& volume, const Grid& grid,
                                            Interpolator interpolator, double background);

// Resamples onto CentredGrid(volume, spacing), first smoothing each downsampled axis with
// AntiAliasSigmas when `anti_alias` is set (never for nearest: labels get no new values).
// Records what was done under reconstruction["Resampling"].
absl::StatusOr<common::Volume> ResampleToSpacing(const common::Volume& volume,
                                                 const std::array<double, 3>& spacing,
                                                 Interpolator interpolator, bool anti_alias,
                                                 double background);
// The same, smoothing the given volume's own buffer instead of a copy of it (same voxels, one
// volume less in memory); `volume` is left unspecified.
absl::StatusOr<common::Volume> ResampleToSpacing(common::Volume&& volume,
                                                 const std::array<double, 3>& spacing,
                                                 Interpolator interpolator, bool anti_alias,
                                                 double background);

}  // namespace tributary::normalize
