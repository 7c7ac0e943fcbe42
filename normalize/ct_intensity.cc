#include "normalize/ct_intensity.h"

#include <algorithm>
#include <string>

#include "normalize/voxel_values.h"

namespace tributary::normalize {

std::vector<std::uint8_t> CtPaddingMask(const common::Volume& volume) {
  std::vector<std::uint8_t> mask(volume.VoxelCount(), 0);
  auto fill = volume.reconstruction.find("FillValue");
  auto filled = volume.reconstruction.find("FilledVoxels");
  if (fill == volume.reconstruction.end() || filled == volume.reconstruction.end()) return mask;
  const double* value = std::get_if<double>(&fill->second);
  const std::int64_t* count = std::get_if<std::int64_t>(&filled->second);
  if (value == nullptr || count == nullptr || *count <= 0) return mask;
  for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = volume.ValueAt(i) == *value;
  return mask;
}

absl::StatusOr<common::Volume> NormalizeCt(const common::Volume& volume,
                                           const CtIntensityOptions& options) {
  auto modality = volume.metadata.find("Modality");
  if (modality != volume.metadata.end() &&
      modality->second != common::MetadataValue(std::string("CT"))) {
    return absl::FailedPreconditionError("CT intensity normalization of a non-CT volume");
  }
  if (!(options.min_hu <= options.max_hu)) {
    return absl::InvalidArgumentError("CT clip range: min_hu is above max_hu");
  }
  std::vector<float> values = FloatVoxels(volume);
  std::vector<std::uint8_t> mask;
  if (options.mask_padding) mask = CtPaddingMask(volume);
  std::int64_t masked = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!mask.empty() && mask[i]) {
      values[i] = static_cast<float>(options.padding_hu);
      ++masked;
    } else {
      values[i] = static_cast<float>(std::clamp<double>(values[i], options.min_hu, options.max_hu));
    }
  }
  common::Volume out = FloatVolume(volume, values);
  out.reconstruction["IntensityMethod"] = std::string("ct_hu");
  out.reconstruction["IntensityClipRange"] = std::vector<double>{options.min_hu, options.max_hu};
  if (options.mask_padding) {
    out.reconstruction["PaddingVoxelsMaskedByIntensity"] = masked;
    out.reconstruction["PaddingValueHU"] = options.padding_hu;
  }
  return out;
}

}  // namespace tributary::normalize
