#include "normalize/ct_intensity.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>

#include "normalize/grid.h"

namespace tributary::normalize {
namespace {

// The fill value dicom/ recorded for PixelPaddingValue voxels, if it filled any.
std::optional<double> FillValue(const common::Volume& volume) {
  auto fill = volume.reconstruction.find("FillValue");
  auto filled = volume.reconstruction.find("FilledVoxels");
  if (fill == volume.reconstruction.end() || filled == volume.reconstruction.end()) return {};
  const double* value = std::get_if<double>(&fill->second);
  const std::int64_t* count = std::get_if<std::int64_t>(&filled->second);
  if (value == nullptr || count == nullptr || *count <= 0) return {};
  return *value;
}

// Clips (and masks) `in` into `out`, which may be the same buffer when T is float.
template <typename T>
std::int64_t ClipInto(const std::byte* in, float* out, std::size_t count,
                      const CtIntensityOptions& options, std::optional<double> fill) {
  std::int64_t masked = 0;
  const auto padding = static_cast<float>(options.padding_hu);
  for (std::size_t i = 0; i < count; ++i) {
    T raw;
    std::memcpy(&raw, in + i * sizeof(T), sizeof(T));
    // The value as float first, then compared and clamped in double, as before this was fused.
    const auto value = static_cast<double>(static_cast<float>(raw));
    if (fill && static_cast<double>(raw) == *fill) {
      out[i] = padding;
      ++masked;
    } else {
      out[i] = static_cast<float>(std::clamp<double>(value, options.min_hu, options.max_hu));
    }
  }
  return masked;
}

std::int64_t Clip(const common::Volume& volume, float* out, const CtIntensityOptions& options,
                  std::optional<double> fill) {
  const std::byte* in = volume.voxels.data();
  const std::size_t n = volume.VoxelCount();
  switch (volume.pixel_type) {
    case common::PixelType::kUint8:
      return ClipInto<std::uint8_t>(in, out, n, options, fill);
    case common::PixelType::kInt16:
      return ClipInto<std::int16_t>(in, out, n, options, fill);
    case common::PixelType::kUint16:
      return ClipInto<std::uint16_t>(in, out, n, options, fill);
    case common::PixelType::kInt32:
      return ClipInto<std::int32_t>(in, out, n, options, fill);
    case common::PixelType::kFloat32:
      return ClipInto<float>(in, out, n, options, fill);
  }
  return 0;
}

absl::Status Check(const common::Volume& volume, const CtIntensityOptions& options) {
  auto modality = volume.metadata.find("Modality");
  if (modality != volume.metadata.end() &&
      modality->second != common::MetadataValue(std::string("CT"))) {
    return absl::FailedPreconditionError("CT intensity normalization of a non-CT volume");
  }
  if (!(options.min_hu <= options.max_hu)) {
    return absl::InvalidArgumentError("CT clip range: min_hu is above max_hu");
  }
  if (volume.voxels.size() != volume.VoxelCount() * common::PixelSize(volume.pixel_type)) {
    return absl::InvalidArgumentError("CT intensity: buffer does not match size and pixel type");
  }
  return absl::OkStatus();
}

void Record(const CtIntensityOptions& options, std::int64_t masked, common::Volume& out) {
  out.reconstruction["IntensityMethod"] = std::string("ct_hu");
  out.reconstruction["IntensityClipRange"] = std::vector<double>{options.min_hu, options.max_hu};
  if (options.mask_padding) {
    out.reconstruction["PaddingVoxelsMaskedByIntensity"] = masked;
    out.reconstruction["PaddingValueHU"] = options.padding_hu;
  }
}

}  // namespace

std::vector<std::uint8_t> CtPaddingMask(const common::Volume& volume) {
  std::vector<std::uint8_t> mask(volume.VoxelCount(), 0);
  std::optional<double> fill = FillValue(volume);
  if (!fill) return mask;
  for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = volume.ValueAt(i) == *fill;
  return mask;
}

absl::StatusOr<common::Volume> NormalizeCt(const common::Volume& volume,
                                           const CtIntensityOptions& options) {
  TRIB_RETURN_IF_ERROR(Check(volume, options));
  common::Volume out = Grid::Of(volume).Shape(volume, common::PixelType::kFloat32);
  std::optional<double> fill = options.mask_padding ? FillValue(volume) : std::nullopt;
  std::int64_t masked = Clip(volume, reinterpret_cast<float*>(out.voxels.data()), options, fill);
  Record(options, masked, out);
  return out;
}

absl::StatusOr<common::Volume> NormalizeCt(common::Volume&& volume,
                                           const CtIntensityOptions& options) {
  if (volume.pixel_type != common::PixelType::kFloat32) return NormalizeCt(volume, options);
  TRIB_RETURN_IF_ERROR(Check(volume, options));
  std::optional<double> fill = options.mask_padding ? FillValue(volume) : std::nullopt;
  std::int64_t masked =
      Clip(volume, reinterpret_cast<float*>(volume.voxels.data()), options, fill);
  Record(options, masked, volume);
  return std::move(volume);
}

}  // namespace tributary::normalize
