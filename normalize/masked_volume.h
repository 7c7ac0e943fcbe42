#pragma once

#include <cstdint>
#include <vector>

#include "common/volume.h"

namespace tributary::normalize {

// A volume and its foreground: `mask` holds one byte per voxel of one time point (non-zero =
// foreground); 4D volumes use the mask of their first time point for every time point.
struct MaskedVolume {
  common::Volume volume;
  std::vector<std::uint8_t> mask;
};

}  // namespace tributary::normalize
