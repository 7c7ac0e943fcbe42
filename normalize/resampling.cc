#include "normalize/resampling.h"

#include <itkBSplineInterpolateImageFunction.h>
#include <itkImage.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkNearestNeighborInterpolateImageFunction.h>
#include <itkRecursiveGaussianImageFilter.h>
#include <itkResampleImageFilter.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

namespace tributary::normalize {
namespace {

template <typename T>
using Image = itk::Image<T, 3>;

template <typename T>
void SetGeometry(const Grid& grid, Image<T>* image) {
  typename Image<T>::SpacingType spacing;
  typename Image<T>::PointType origin;
  typename Image<T>::DirectionType direction;
  for (unsigned r = 0; r < 3; ++r) {
    spacing[r] = grid.spacing[r];
    origin[r] = grid.origin[r];
    for (unsigned c = 0; c < 3; ++c) direction[r][c] = grid.direction[3 * r + c];
  }
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->SetDirection(direction);
}

template <typename T>
constexpr common::PixelType PixelTypeOf() {
  if constexpr (std::is_same_v<T, std::uint8_t>) return common::PixelType::kUint8;
  if constexpr (std::is_same_v<T, std::int16_t>) return common::PixelType::kInt16;
  if constexpr (std::is_same_v<T, std::uint16_t>) return common::PixelType::kUint16;
  if constexpr (std::is_same_v<T, std::int32_t>) return common::PixelType::kInt32;
  return common::PixelType::kFloat32;
}

// Time point `t` of `volume` as an ITK image of T (values converted when T is not the volume's
// own pixel type).
template <typename T>
typename Image<T>::Pointer TimePoint(const common::Volume& volume, std::size_t t) {
  auto image = Image<T>::New();
  typename Image<T>::SizeType size;
  for (unsigned d = 0; d < 3; ++d) size[d] = volume.size[d];
  image->SetRegions(typename Image<T>::RegionType(size));
  SetGeometry(Grid::Of(volume), image.GetPointer());
  image->Allocate();
  const std::size_t count = volume.size[0] * volume.size[1] * volume.size[2];
  T* out = image->GetBufferPointer();
  if (volume.pixel_type == PixelTypeOf<T>()) {
    std::memcpy(out, volume.voxels.data() + t * count * sizeof(T), count * sizeof(T));
    return image;
  }
  for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<T>(volume.ValueAt(t * count + i));
  return image;
}

// Time point `t` of a volume of T voxels as an ITK image over the volume's own buffer (no copy):
// what is done to the image is done to the volume.
template <typename T>
typename Image<T>::Pointer BorrowedTimePoint(common::Volume& volume, std::size_t t) {
  auto image = Image<T>::New();
  typename Image<T>::SizeType size;
  for (unsigned d = 0; d < 3; ++d) size[d] = volume.size[d];
  image->SetRegions(typename Image<T>::RegionType(size));
  SetGeometry(Grid::Of(volume), image.GetPointer());
  const std::size_t count = volume.size[0] * volume.size[1] * volume.size[2];
  T* buffer = reinterpret_cast<T*>(volume.voxels.data()) + t * count;
  image->GetPixelContainer()->SetImportPointer(buffer, count, false);
  return image;
}

template <typename T>
T Clamped(double value) {
  if constexpr (std::is_integral_v<T>) {
    value = std::round(value);
    value = std::clamp(value, static_cast<double>(std::numeric_limits<T>::lowest()),
                       static_cast<double>(std::numeric_limits<T>::max()));
  }
  return static_cast<T>(value);
}

template <typename T>
typename Image<T>::Pointer Smoothed(typename Image<T>::Pointer image,
                                    const std::array<double, 3>& sigmas) {
  for (unsigned axis = 0; axis < 3; ++axis) {
    // ITK's recursive Gaussian needs at least 4 voxels along its axis.
    if (sigmas[axis] <= 0 || image->GetLargestPossibleRegion().GetSize()[axis] < 4) continue;
    auto filter = itk::RecursiveGaussianImageFilter<Image<T>, Image<T>>::New();
    filter->SetInput(image);
    // Each line is read whole before it is written, so in place gives the same voxels and saves
    // a copy of the image per axis. The image is always the resampling's own (a copy or an owned
    // buffer).
    filter->InPlaceOn();
    filter->SetDirection(axis);
    filter->SetSigma(sigmas[axis]);
    filter->SetOrder(itk::GaussianOrderEnum::ZeroOrder);
    filter->SetNormalizeAcrossScale(false);
    filter->Update();
    image = filter->GetOutput();
    image->DisconnectPipeline();
  }
  return image;
}

// `owned` is `volume` when the caller gave it up: its buffer is then smoothed in place instead of
// copied.
template <typename T>
absl::StatusOr<common::Volume> ResampleAs(const common::Volume& volume, common::Volume* owned,
                                          const Grid& grid, Interpolator interpolator,
                                          double background, const std::array<double, 3>& sigmas,
                                          common::PixelType pixel_type) {
  common::Volume out = grid.Shape(volume, pixel_type);
  const std::size_t plane = grid.size[0] * grid.size[1];
  const std::size_t count = plane * grid.size[2];
  // The output is made a slab of slices at a time, straight into `out`, rather than as a whole
  // ITK image copied afterwards. Each output line depends only on its own start, so the voxels
  // are the same. A B-spline interpolator computes its coefficients at every update: one slab.
  const std::size_t slab_slices =
      interpolator == Interpolator::kBSpline
          ? grid.size[2]
          : std::clamp<std::size_t>((std::size_t{1} << 18) / std::max<std::size_t>(plane, 1), 1,
                                    grid.size[2]);
  const bool borrow = owned != nullptr && owned->pixel_type == PixelTypeOf<T>();
  try {
    for (std::size_t t = 0; t < volume.size[3]; ++t) {
      typename Image<T>::Pointer input = Smoothed<T>(
          borrow ? BorrowedTimePoint<T>(*owned, t) : TimePoint<T>(volume, t), sigmas);
      auto filter = itk::ResampleImageFilter<Image<T>, Image<T>, double>::New();
      filter->SetInput(input);
      switch (interpolator) {
        case Interpolator::kLinear:
          filter->SetInterpolator(itk::LinearInterpolateImageFunction<Image<T>, double>::New());
          break;
        case Interpolator::kBSpline: {
          auto bspline = itk::BSplineInterpolateImageFunction<Image<T>, double, double>::New();
          bspline->SetSplineOrder(3);
          filter->SetInterpolator(bspline);
          break;
        }
        case Interpolator::kNearest:
          filter->SetInterpolator(
              itk::NearestNeighborInterpolateImageFunction<Image<T>, double>::New());
          break;
      }
      typename Image<T>::SizeType size;
      for (unsigned d = 0; d < 3; ++d) size[d] = grid.size[d];
      auto reference = Image<T>::New();
      reference->SetRegions(typename Image<T>::RegionType(size));
      SetGeometry(grid, reference.GetPointer());
      filter->SetReferenceImage(reference);
      filter->UseReferenceImageOn();
      filter->SetDefaultPixelValue(Clamped<T>(background));
      Image<T>* output = filter->GetOutput();
      for (std::size_t k = 0; k < grid.size[2]; k += slab_slices) {
        const std::size_t slices = std::min(slab_slices, grid.size[2] - k);
        typename Image<T>::RegionType region;
        region.SetIndex({0, 0, static_cast<itk::IndexValueType>(k)});
        region.SetSize({grid.size[0], grid.size[1], slices});
        output->SetRequestedRegion(region);
        output->Update();
        std::memcpy(out.voxels.data() + (t * count + k * plane) * sizeof(T),
                    output->GetBufferPointer(), slices * plane * sizeof(T));
      }
    }
  } catch (const itk::ExceptionObject& error) {
    return absl::InternalError(std::string("resampling failed: ") + error.GetDescription());
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("resampling failed: out of memory");
  }
  return out;
}

absl::StatusOr<common::Volume> Resample(const common::Volume& volume, common::Volume* owned,
                                        const Grid& grid, Interpolator interpolator,
                                        double background, const std::array<double, 3>& sigmas) {
  if (volume.VoxelCount() == 0 ||
      volume.voxels.size() != volume.VoxelCount() * common::PixelSize(volume.pixel_type)) {
    return absl::InvalidArgumentError("resampling: empty volume or buffer of the wrong size");
  }
  if (grid.size[0] * grid.size[1] * grid.size[2] == 0) {
    return absl::InvalidArgumentError("resampling: empty output grid");
  }
  const bool keep_type =
      interpolator == Interpolator::kNearest && volume.pixel_type != common::PixelType::kFloat32;
  const bool smooth = sigmas[0] > 0 || sigmas[1] > 0 || sigmas[2] > 0;
  if (grid.SameAs(Grid::Of(volume)) && !smooth) {
    common::Volume out =
        grid.Shape(volume, keep_type ? volume.pixel_type : common::PixelType::kFloat32);
    if (keep_type) {
      std::memcpy(out.voxels.data(), volume.voxels.data(), out.voxels.size());
      return out;
    }
    float* values = reinterpret_cast<float*>(out.voxels.data());
    for (std::size_t i = 0; i < volume.VoxelCount(); ++i)
      values[i] = static_cast<float>(volume.ValueAt(i));
    return out;
  }
  if (!keep_type)
    return ResampleAs<float>(volume, owned, grid, interpolator, background, sigmas,
                             common::PixelType::kFloat32);
  switch (volume.pixel_type) {
    case common::PixelType::kUint8:
      return ResampleAs<std::uint8_t>(volume, owned, grid, interpolator, background, sigmas,
                                      volume.pixel_type);
    case common::PixelType::kInt16:
      return ResampleAs<std::int16_t>(volume, owned, grid, interpolator, background, sigmas,
                                      volume.pixel_type);
    case common::PixelType::kUint16:
      return ResampleAs<std::uint16_t>(volume, owned, grid, interpolator, background, sigmas,
                                       volume.pixel_type);
    case common::PixelType::kInt32:
      return ResampleAs<std::int32_t>(volume, owned, grid, interpolator, background, sigmas,
                                      volume.pixel_type);
    case common::PixelType::kFloat32:
      break;
  }
  return absl::InvalidArgumentError("resampling: unknown pixel type");
}

std::string Triple(const std::array<double, 3>& values) {
  char text[96];
  std::snprintf(text, sizeof text, "[%g, %g, %g]", values[0], values[1], values[2]);
  return text;
}

const char* InterpolatorName(Interpolator interpolator) {
  switch (interpolator) {
    case Interpolator::kLinear:
      return "linear";
    case Interpolator::kBSpline:
      return "bspline";
    case Interpolator::kNearest:
      return "nearest";
  }
  return "?";
}

}  // namespace

std::array<double, 3> AntiAliasSigmas(const std::array<double, 3>& input_spacing,
                                      const std::array<double, 3>& output_spacing) {
  std::array<double, 3> sigmas = {0, 0, 0};
  for (int axis = 0; axis < 3; ++axis) {
    double k = output_spacing[axis] / input_spacing[axis];
    if (k <= 1) continue;
    sigmas[axis] = input_spacing[axis] * std::sqrt((k * k - 1) / (8 * std::log(2.0)));
  }
  return sigmas;
}

Grid CentredGrid(const common::Volume& volume, const std::array<double, 3>& spacing) {
  Grid grid = Grid::Of(volume);
  grid.spacing = spacing;
  std::array<double, 3> shift = {0, 0, 0};  // new first centre minus old centre, in index axes (mm)
  std::array<double, 3> centre_index = {0, 0, 0};
  for (int axis = 0; axis < 3; ++axis) {
    double extent = static_cast<double>(volume.size[axis]) * volume.spacing[axis];
    // The epsilon keeps an exact ratio (3 mm / 1.5 mm) from flooring one short.
    auto n = static_cast<std::size_t>(std::floor(extent / spacing[axis] + 1e-9));
    grid.size[axis] = std::max<std::size_t>(n, 1);
    centre_index[axis] = (static_cast<double>(volume.size[axis]) - 1) / 2;
    shift[axis] = -(static_cast<double>(grid.size[axis]) - 1) * spacing[axis] / 2;
  }
  std::array<double, 3> centre =
      volume.IndexToPhysical(centre_index[0], centre_index[1], centre_index[2]);
  for (int r = 0; r < 3; ++r) {
    grid.origin[r] = centre[r];
    for (int c = 0; c < 3; ++c) grid.origin[r] += volume.direction[3 * r + c] * shift[c];
  }
  return grid;
}

absl::StatusOr<common::Volume> ResampleOnto(const common::Volume& volume, const Grid& grid,
                                            Interpolator interpolator, double background) {
  return Resample(volume, nullptr, grid, interpolator, background, {0, 0, 0});
}

namespace {

absl::StatusOr<common::Volume> ResampleToSpacing(const common::Volume& volume,
                                                 common::Volume* owned,
                                                 const std::array<double, 3>& spacing,
                                                 Interpolator interpolator, bool anti_alias,
                                                 double background) {
  for (double mm : spacing) {
    if (!(mm > 0) || !std::isfinite(mm)) {
      return absl::InvalidArgumentError("resampling: spacing must be > 0");
    }
  }
  std::array<double, 3> sigmas = {0, 0, 0};
  if (anti_alias && interpolator != Interpolator::kNearest) {
    sigmas = AntiAliasSigmas(volume.spacing, spacing);
  }
  TRIB_ASSIGN_OR_RETURN(common::Volume out, Resample(volume, owned, CentredGrid(volume, spacing),
                                                     interpolator, background, sigmas));
  out.reconstruction["Resampling"] = "spacing " + Triple(volume.spacing) + " -> " +
                                     Triple(spacing) + " mm, " + InterpolatorName(interpolator) +
                                     ", anti-alias sigma " + Triple(sigmas) + " mm";
  return out;
}

}  // namespace

absl::StatusOr<common::Volume> ResampleToSpacing(const common::Volume& volume,
                                                 const std::array<double, 3>& spacing,
                                                 Interpolator interpolator, bool anti_alias,
                                                 double background) {
  return ResampleToSpacing(volume, nullptr, spacing, interpolator, anti_alias, background);
}

absl::StatusOr<common::Volume> ResampleToSpacing(common::Volume&& volume,
                                                 const std::array<double, 3>& spacing,
                                                 Interpolator interpolator, bool anti_alias,
                                                 double background) {
  return ResampleToSpacing(volume, &volume, spacing, interpolator, anti_alias, background);
}

}  // namespace tributary::normalize
