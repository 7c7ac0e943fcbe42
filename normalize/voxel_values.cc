#include "normalize/voxel_values.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace tributary::normalize {

std::vector<float> FloatVoxels(const common::Volume& volume) {
  std::vector<float> values(volume.VoxelCount());
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(volume.ValueAt(i));
  return values;
}

common::Volume FloatVolume(const common::Volume& like, const std::vector<float>& values) {
  common::Volume out;
  out.size = like.size;
  out.spacing = like.spacing;
  out.time_step = like.time_step;
  out.origin = like.origin;
  out.direction = like.direction;
  out.protocol_name = like.protocol_name;
  out.series_number = like.series_number;
  out.name_suffix = like.name_suffix;
  out.metadata = like.metadata;
  out.reconstruction = like.reconstruction;
  out.diffusion = like.diffusion;
  out.pixel_type = common::PixelType::kFloat32;
  out.voxels.resize(values.size() * sizeof(float));
  std::memcpy(out.voxels.data(), values.data(), out.voxels.size());
  return out;
}

std::vector<double> MaskedValues(const std::vector<float>& values, std::size_t t,
                                 const std::vector<std::uint8_t>& mask) {
  std::vector<double> out;
  const float* at = values.data() + t * mask.size();
  for (std::size_t i = 0; i < mask.size(); ++i) {
    if (mask[i]) out.push_back(at[i]);
  }
  return out;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  double rank = std::clamp(p, 0.0, 100.0) / 100 * static_cast<double>(sorted.size() - 1);
  auto below = static_cast<std::size_t>(std::floor(rank));
  std::size_t above = std::min(below + 1, sorted.size() - 1);
  double w = rank - static_cast<double>(below);
  return sorted[below] + w * (sorted[above] - sorted[below]);
}

}  // namespace tributary::normalize
