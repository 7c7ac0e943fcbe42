#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "common/volume.h"

namespace tributary::normalize {

// kOtsu: voxels above itk::OtsuThresholdImageFilter's threshold (256 bins); kAboveMean: voxels
// above the image mean, as the intensity-normalization package's default mask does.
enum class ForegroundMethod { kOtsu, kAboveMean };

// The foreground of the first time point, one byte per voxel of one time point (1 = foreground).
// Refuses an empty volume and a mask with no voxel.
absl::StatusOr<std::vector<std::uint8_t>> ForegroundMask(const common::Volume& volume,
                                                         ForegroundMethod method);

}  // namespace tributary::normalize
