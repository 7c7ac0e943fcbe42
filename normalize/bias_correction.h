#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "common/volume.h"

namespace tributary::normalize {

// N4 (itk::N4BiasFieldCorrectionImageFilter) estimated on the image shrunk by `shrink_factor`,
// the B-spline bias field then evaluated at full resolution.
struct BiasCorrectionOptions {
  unsigned shrink_factor = 4;
  std::vector<unsigned> iterations = {50, 50, 50, 50};  // per fitting level
  double convergence_threshold = 0.001;
  unsigned control_points = 4;  // per axis at the first level
};

// Float32 voxels divided by the estimated field; `mask` is one byte per voxel of one time point.
// The field is estimated on the first time point and applied to every time point. Where the
// image has values <= 0 in the mask the estimate runs on values shifted to a minimum of 1.
absl::StatusOr<common::Volume> CorrectBias(const common::Volume& volume,
                                           const std::vector<std::uint8_t>& mask,
                                           const BiasCorrectionOptions& options = {});

}  // namespace tributary::normalize
