#include "normalize/mr_intensity.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "normalize/voxel_values.h"

namespace tributary::normalize {

absl::StatusOr<MaskedVolume> PrepareMr(const common::Volume& volume,
                                       const MrIntensityOptions& options) {
  MaskedVolume prepared;
  TRIB_ASSIGN_OR_RETURN(prepared.mask, ForegroundMask(volume, options.foreground));
  if (options.bias_correction) {
    TRIB_ASSIGN_OR_RETURN(prepared.volume, CorrectBias(volume, prepared.mask, options.bias));
  } else {
    prepared.volume = volume;
  }
  prepared.volume.reconstruction["ForegroundMask"] =
      std::string(options.foreground == ForegroundMethod::kOtsu ? "otsu" : "above_mean");
  return prepared;
}

absl::StatusOr<common::Volume> ScaleMr(const MaskedVolume& prepared,
                                       const MrIntensityOptions& options, const NyulModel* model) {
  if (options.scaling == MrScaling::kNyul) {
    if (model == nullptr)
      return absl::FailedPreconditionError("Nyul scaling needs a trained model");
    return ApplyNyul(prepared, *model);
  }
  const std::size_t n = prepared.volume.size[0] * prepared.volume.size[1] * prepared.volume.size[2];
  if (n == 0 || prepared.mask.size() != n) {
    return absl::InvalidArgumentError("MR scaling: the mask does not match the volume");
  }
  if (options.scaling == MrScaling::kPercentile &&
      !(options.percentile_low >= 0 && options.percentile_low < options.percentile_high &&
        options.percentile_high <= 100)) {
    return absl::InvalidArgumentError("MR percentile scaling needs 0 <= p_low < p_high <= 100");
  }
  std::vector<float> values = FloatVoxels(prepared.volume);
  for (std::size_t t = 0; t < prepared.volume.size[3]; ++t) {
    std::vector<double> foreground = MaskedValues(values, t, prepared.mask);
    if (foreground.size() < 2) {
      return absl::FailedPreconditionError("MR scaling: fewer than two foreground voxels");
    }
    double center = 0, width = 0;
    if (options.scaling == MrScaling::kZScore) {
      const double count = static_cast<double>(foreground.size());
      center = std::accumulate(foreground.begin(), foreground.end(), 0.0) / count;
      double sum = 0;
      for (double v : foreground) sum += (v - center) * (v - center);
      width = std::sqrt(sum / count);  // population SD, as numpy's std
    } else {
      std::sort(foreground.begin(), foreground.end());
      center = Percentile(foreground, options.percentile_low);
      width = Percentile(foreground, options.percentile_high) - center;
    }
    if (!(width > 0)) {
      return absl::FailedPreconditionError("MR scaling: foreground of time point " +
                                           std::to_string(t) + " has no spread");
    }
    for (std::size_t i = t * n; i < (t + 1) * n; ++i) {
      values[i] = static_cast<float>((values[i] - center) / width);
    }
  }
  common::Volume out = FloatVolume(prepared.volume, values);
  if (options.scaling == MrScaling::kZScore) {
    out.reconstruction["IntensityMethod"] = std::string("zscore");
  } else {
    out.reconstruction["IntensityMethod"] = std::string("percentile");
    out.reconstruction["IntensityPercentiles"] =
        std::vector<double>{options.percentile_low, options.percentile_high};
  }
  return out;
}

absl::StatusOr<common::Volume> NormalizeMr(const common::Volume& volume,
                                           const MrIntensityOptions& options,
                                           const NyulModel* model) {
  TRIB_ASSIGN_OR_RETURN(MaskedVolume prepared, PrepareMr(volume, options));
  return ScaleMr(prepared, options, model);
}

}  // namespace tributary::normalize
