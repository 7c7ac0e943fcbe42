#pragma once

#include "dicom/vec3.h"

namespace tributary::dicom {

// Geometry and pixel description of one frame (or mosaic tile) as the headers state it.
struct FrameGeometry {
  Vec3 row_dir = {1, 0,
                  0};  // ImageOrientationPatient, first triplet: direction of increasing column
  Vec3 col_dir = {0, 1, 0};
  Vec3 position = {0, 0, 0};  // ImagePositionPatient: centre of the first transmitted voxel
  double dx = 1;              // PixelSpacing[1]: between columns
  double dy = 1;              // PixelSpacing[0]: between rows
  double slope = 1;
  double intercept = 0;
};

}  // namespace tributary::dicom
