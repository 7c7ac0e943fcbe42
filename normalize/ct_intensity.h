#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "common/volume.h"

namespace tributary::normalize {

// CT intensity: the voxels are HU already (dicom/ applies rescale slope and intercept per slice).
struct CtIntensityOptions {
  double min_hu = -1024;
  double max_hu = 3071;
  bool mask_padding = true;  // PixelPaddingValue voxels (CtPaddingMask) get `padding_hu`
  double padding_hu = -1024;
};

// The voxels dicom/ filled for PixelPaddingValue (or outside every slice after resampling): it
// records the fill (the lowest real value) as reconstruction `FillValue` with `FilledVoxels` > 0,
// so the mask is every voxel equal to FillValue. Real voxels at exactly that lowest value (air at
// the scanner's floor) are masked too; they are below any tissue. One byte per voxel, all time
// points; all zero when nothing was filled.
std::vector<std::uint8_t> CtPaddingMask(const common::Volume& volume);

// Float32 HU clipped to [min_hu, max_hu], padding masked; what was done goes into
// `reconstruction` (IntensityMethod "ct_hu", IntensityClipRange, PaddingVoxelsMaskedByIntensity,
// PaddingValueHU). Refuses a volume whose Modality is not CT, and min_hu > max_hu.
absl::StatusOr<common::Volume> NormalizeCt(const common::Volume& volume,
                                           const CtIntensityOptions& options = {});
// The same, clipping a float32 volume in place (other pixel types are copied into a new buffer).
absl::StatusOr<common::Volume> NormalizeCt(common::Volume&& volume,
                                           const CtIntensityOptions& options = {});

}  // namespace tributary::normalize
