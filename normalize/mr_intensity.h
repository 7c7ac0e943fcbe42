#pragma once

#include "common/status.h"
#include "common/volume.h"
#include "normalize/bias_correction.h"
#include "normalize/foreground_mask.h"
#include "normalize/masked_volume.h"
#include "normalize/nyul_model.h"

namespace tributary::normalize {

// kZScore: foreground mean 0, SD 1. kPercentile: foreground percentiles p_low -> 0, p_high -> 1.
// kNyul: a trained NyulModel's landmarks. Statistics are per time point, under the first's mask.
enum class MrScaling { kZScore, kPercentile, kNyul };

struct MrIntensityOptions {
  ForegroundMethod foreground = ForegroundMethod::kOtsu;
  bool bias_correction = false;
  BiasCorrectionOptions bias;
  MrScaling scaling = MrScaling::kZScore;
  double percentile_low = 1;
  double percentile_high = 99;
};

// The foreground mask and, if asked, the N4-corrected voxels: what scaling and Nyul training
// start from.
absl::StatusOr<MaskedVolume> PrepareMr(const common::Volume& volume,
                                       const MrIntensityOptions& options);

// Scales a prepared volume; `model` is needed for kNyul only. Float32 out, with IntensityMethod
// (and the scaling's figures) in `reconstruction`.
absl::StatusOr<common::Volume> ScaleMr(const MaskedVolume& prepared,
                                       const MrIntensityOptions& options,
                                       const NyulModel* model = nullptr);

// PrepareMr then ScaleMr.
absl::StatusOr<common::Volume> NormalizeMr(const common::Volume& volume,
                                           const MrIntensityOptions& options,
                                           const NyulModel* model = nullptr);

}  // namespace tributary::normalize
