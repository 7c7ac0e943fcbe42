#pragma once

#include <array>
#include <cstddef>

#include "common/volume.h"

namespace tributary::normalize {

// The geometry of a 3D voxel grid in the patient frame (LPS, mm), as common::Volume holds it:
// voxel (i, j, k) sits at origin + direction * diag(spacing) * (i, j, k).
struct Grid {
  std::array<std::size_t, 3> size = {0, 0, 0};
  std::array<double, 3> spacing = {1, 1, 1};
  std::array<double, 3> origin = {0, 0, 0};
  std::array<double, 9> direction = {1, 0, 0, 0, 1, 0, 0, 0, 1};

  static Grid Of(const common::Volume& volume);

  // Whether every voxel centre of the two grids coincides within `tolerance_mm`.
  bool SameAs(const Grid& other, double tolerance_mm = 1e-6) const;

  // `volume` with this grid's geometry and an unwritten buffer of `pixel_type` voxels for the
  // same number of time points; every other field (metadata, diffusion, ...) is kept.
  common::Volume Shape(const common::Volume& volume, common::PixelType pixel_type) const;
};

}  // namespace tributary::normalize
