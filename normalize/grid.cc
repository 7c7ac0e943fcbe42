#include "normalize/grid.h"

#include <cmath>

namespace tributary::normalize {

Grid Grid::Of(const common::Volume& volume) {
  return Grid{{volume.size[0], volume.size[1], volume.size[2]},
              volume.spacing,
              volume.origin,
              volume.direction};
}

bool Grid::SameAs(const Grid& other, double tolerance_mm) const {
  if (size != other.size) return false;
  for (int r = 0; r < 3; ++r) {
    if (std::abs(origin[r] - other.origin[r]) > tolerance_mm) return false;
    for (int c = 0; c < 3; ++c) {
      // The farthest voxel centre along axis c moves by this much.
      double extent = static_cast<double>(size[c] > 0 ? size[c] - 1 : 0);
      double step =
          direction[3 * r + c] * spacing[c] - other.direction[3 * r + c] * other.spacing[c];
      if (std::abs(step) * extent > tolerance_mm) return false;
    }
  }
  return true;
}

common::Volume Grid::Shape(const common::Volume& volume, common::PixelType pixel_type) const {
  common::Volume out;
  out.size = {size[0], size[1], size[2], volume.size[3]};
  out.spacing = spacing;
  out.time_step = volume.time_step;
  out.origin = origin;
  out.direction = direction;
  out.pixel_type = pixel_type;
  out.voxels.resize(out.VoxelCount() * common::PixelSize(pixel_type));
  out.protocol_name = volume.protocol_name;
  out.series_number = volume.series_number;
  out.name_suffix = volume.name_suffix;
  out.metadata = volume.metadata;
  out.reconstruction = volume.reconstruction;
  out.diffusion = volume.diffusion;
  return out;
}

}  // namespace tributary::normalize
