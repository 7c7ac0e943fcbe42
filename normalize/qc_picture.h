#pragma once

#include <string>

#include "common/status.h"
#include "common/volume.h"

namespace tributary::normalize {

// A QC picture of `volume` (its first time point) as PNG: the three mid-planes side by side —
// axial (anterior up, the patient's left on the right), coronal (superior up, left on the right)
// and sagittal (superior up, anterior on the left) — whatever the voxel axes, each plane taken
// across the voxel axis closest to its normal, in square pixels of the plane's finest spacing,
// 8-bit grey between the 1st and 99th percentile of the volume. The file is read back before the
// call returns.
absl::Status WriteQcPicture(const common::Volume& volume, const std::string& path);

}  // namespace tributary::normalize
