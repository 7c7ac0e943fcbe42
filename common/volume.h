#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "common/metadata_value.h"
#include "common/pixel_type.h"

namespace tributary::common {

// An allocator that leaves new elements uninitialized. Voxel buffers are written in full right
// after they are sized; zero-filling them first would fault every page in on one thread before
// the decoders (one per core) write them.
template <typename T>
struct UninitializedAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  UninitializedAllocator() = default;
  template <typename U>
  UninitializedAllocator(const UninitializedAllocator<U>&) noexcept {}
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    if constexpr (sizeof...(Args) == 0) {
      ::new (static_cast<void*>(p)) U;  // default-initialization: no value written
    } else {
      ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
  }
};

// Voxel storage: resize() leaves the new bytes unspecified; the writer fills every one.
using VoxelBuffer = std::vector<std::byte, UninitializedAllocator<std::byte>>;

// The diffusion weighting of one volume (time point) of a diffusion-weighted series: b-value
// (s/mm^2) and unit gradient direction in the patient frame (LPS); {0, 0, 0} for b = 0 and for
// isotropic (trace) or non-directional images.
struct DiffusionGradient {
  double b_value = 0;
  std::array<double, 3> direction = {0, 0, 0};
};

// A reconstructed image volume: voxels and their geometry in the DICOM patient frame (LPS, mm), as
// ITK holds images. This is the only type dicom/ and normalize/ share.
//
// Voxel (i, j, k) of volume t sits at origin + direction * diag(spacing) * (i, j, k): column i of
// `direction` (row-major 3x3, so direction[3 * r + c]) is the unit vector along index axis c.
// Voxels are stored with i fastest, then j, k and t.
struct Volume {
  std::array<std::size_t, 4> size = {0, 0, 0, 1};  // columns, rows, slices, volumes (time points)
  std::array<double, 3> spacing = {1, 1, 1};
  double time_step = 1.0;  // seconds between volumes (RepetitionTime) when size[3] > 1
  std::array<double, 3> origin = {0, 0, 0};
  std::array<double, 9> direction = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  PixelType pixel_type = PixelType::kInt16;
  VoxelBuffer voxels;

  // Output naming: dcm2niix's %p_%s (protocol, series number) plus a suffix for echoes, stacks.
  std::string protocol_name;
  std::int64_t series_number = 0;
  std::string name_suffix;

  Metadata metadata;                         // BIDS-style acquisition keys for the sidecar
  Metadata reconstruction;                   // what was decided while building the volume, and why
  std::vector<DiffusionGradient> diffusion;  // one per volume (size[3]) for DWI, else empty

  std::size_t VoxelCount() const { return size[0] * size[1] * size[2] * size[3]; }

  // The value of voxel `index` (in storage order: column fastest, then row, slice, volume).
  double ValueAt(std::size_t index) const {
    const std::byte* at = voxels.data() + index * PixelSize(pixel_type);
    switch (pixel_type) {
      case PixelType::kUint8:
        return static_cast<double>(std::to_integer<std::uint8_t>(*at));
      case PixelType::kInt16:
        return Load<std::int16_t>(at);
      case PixelType::kUint16:
        return Load<std::uint16_t>(at);
      case PixelType::kInt32:
        return Load<std::int32_t>(at);
      case PixelType::kFloat32:
        return Load<float>(at);
    }
    return 0;
  }

  std::array<double, 3> IndexToPhysical(double i, double j, double k) const {
    std::array<double, 3> index = {i * spacing[0], j * spacing[1], k * spacing[2]};
    std::array<double, 3> point = origin;
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 3; ++c) point[r] += direction[3 * r + c] * index[c];
    }
    return point;
  }

 private:
  template <typename T>
  static double Load(const std::byte* at) {
    T value;
    std::memcpy(&value, at, sizeof(T));
    return static_cast<double>(value);
  }
};

}  // namespace tributary::common
