#pragma once

#include <array>

#include "common/status.h"
#include "common/volume.h"
#include "normalize/interpolator.h"

namespace tributary::normalize {

// Reorders (permutes and reverses) the voxel axes so that the written NIfTI image is the closest
// to RAS+, exactly as nibabel's as_closest_canonical decides (io_orientation's greedy choice on
// the direction in RAS terms; the direction is taken to be orthonormal). Every voxel keeps its
// value and world position; every time point is reordered alike. Records the permutation under
// reconstruction["Orientation"].
absl::StatusOr<common::Volume> ReorientLossless(const common::Volume& volume);

// Samples the volume on a grid with identity direction in RAS (LPS diag(-1, -1, 1)) that covers
// the input's voxel centres, each output axis with the spacing of the input axis closest to it.
// Records it under reconstruction["Orientation"].
absl::StatusOr<common::Volume> ReorientResampled(const common::Volume& volume,
                                                 Interpolator interpolator, double background);

}  // namespace tributary::normalize
