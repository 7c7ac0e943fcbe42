#include "normalize/reorientation.h"

#include <cmath>
#include <cstring>
#include <string>

#include "normalize/grid.h"
#include "normalize/resampling.h"

namespace tributary::normalize {
namespace {

// For each output axis: the input axis it comes from and whether its index runs backwards.
struct Axes {
  std::array<int, 3> from = {0, 1, 2};
  std::array<bool, 3> reversed = {false, false, false};
};

// nibabel's io_orientation on the RAS direction diag(-1, -1, 1) * direction: input axes in
// order, each taking the free RAS axis with its largest |component| (the first on ties).
Axes ClosestCanonical(const std::array<double, 9>& lps) {
  std::array<double, 9> ras = lps;
  for (int c = 0; c < 3; ++c) {
    ras[c] = -ras[c];
    ras[3 + c] = -ras[3 + c];
  }
  Axes axes;
  for (int in = 0; in < 3; ++in) {
    int out = 0;
    double best = -1;
    for (int r = 0; r < 3; ++r) {
      if (std::abs(ras[3 * r + in]) > best) {
        best = std::abs(ras[3 * r + in]);
        out = r;
      }
    }
    axes.from[out] = in;
    axes.reversed[out] = ras[3 * out + in] < 0;
    for (int c = 0; c < 3; ++c) ras[3 * out + c] = 0;
  }
  return axes;
}

std::string Describe(const Axes& axes) {
  std::string from, reversed;
  for (int o = 0; o < 3; ++o) {
    from += (o ? ", " : "") + std::to_string(axes.from[o]);
    reversed += (o ? ", " : "") + std::string(axes.reversed[o] ? "true" : "false");
  }
  return "lossless: output axes from input axes [" + from + "], reversed [" + reversed + "]";
}

}  // namespace

absl::StatusOr<common::Volume> ReorientLossless(const common::Volume& volume) {
  const std::size_t pixel = common::PixelSize(volume.pixel_type);
  if (volume.voxels.size() != volume.VoxelCount() * pixel) {
    return absl::InvalidArgumentError("reorientation: buffer does not match size and pixel type");
  }
  const Axes axes = ClosestCanonical(volume.direction);
  Grid grid;
  std::array<double, 3> first = {0, 0, 0};  // input index of output voxel (0, 0, 0)
  const std::array<std::size_t, 3> stride = {1, volume.size[0], volume.size[0] * volume.size[1]};
  std::array<std::ptrdiff_t, 3> step;  // input offset (voxels) per output index along each axis
  std::size_t base = 0;
  for (int o = 0; o < 3; ++o) {
    const int in = axes.from[o];
    const double sign = axes.reversed[o] ? -1 : 1;
    grid.size[o] = volume.size[in];
    grid.spacing[o] = volume.spacing[in];
    for (int r = 0; r < 3; ++r) grid.direction[3 * r + o] = sign * volume.direction[3 * r + in];
    step[o] = static_cast<std::ptrdiff_t>(stride[in]) * (axes.reversed[o] ? -1 : 1);
    if (axes.reversed[o] && volume.size[in] > 0) {
      first[in] = static_cast<double>(volume.size[in] - 1);
      base += (volume.size[in] - 1) * stride[in];
    }
  }
  grid.origin = volume.IndexToPhysical(first[0], first[1], first[2]);
  common::Volume out = grid.Shape(volume, volume.pixel_type);
  const std::size_t count = volume.size[0] * volume.size[1] * volume.size[2];
  std::byte* to = out.voxels.data();
  for (std::size_t t = 0; t < volume.size[3]; ++t) {
    const std::byte* from = volume.voxels.data() + t * count * pixel;
    for (std::size_t k = 0; k < grid.size[2]; ++k) {
      for (std::size_t j = 0; j < grid.size[1]; ++j) {
        std::ptrdiff_t at = static_cast<std::ptrdiff_t>(base) +
                            static_cast<std::ptrdiff_t>(k) * step[2] +
                            static_cast<std::ptrdiff_t>(j) * step[1];
        for (std::size_t i = 0; i < grid.size[0]; ++i, at += step[0], to += pixel) {
          std::memcpy(to, from + at * static_cast<std::ptrdiff_t>(pixel), pixel);
        }
      }
    }
  }
  out.reconstruction["Orientation"] = Describe(axes);
  return out;
}

absl::StatusOr<common::Volume> ReorientResampled(const common::Volume& volume,
                                                 Interpolator interpolator, double background) {
  const Axes axes = ClosestCanonical(volume.direction);
  Grid grid;
  grid.direction = {-1, 0, 0, 0, -1, 0, 0, 0, 1};
  std::array<double, 3> low = {INFINITY, INFINITY, INFINITY};
  std::array<double, 3> high = {-INFINITY, -INFINITY, -INFINITY};
  for (int corner = 0; corner < 8; ++corner) {
    std::array<double, 3> index;
    for (int d = 0; d < 3; ++d) {
      index[d] = (corner >> d) & 1 ? static_cast<double>(volume.size[d]) - 1 : 0;
    }
    std::array<double, 3> p = volume.IndexToPhysical(index[0], index[1], index[2]);
    for (int o = 0; o < 3; ++o) {
      double along = grid.direction[3 * o + o] * p[o];  // coordinate along output axis o
      low[o] = std::min(low[o], along);
      high[o] = std::max(high[o], along);
    }
  }
  for (int o = 0; o < 3; ++o) {
    grid.spacing[o] = volume.spacing[axes.from[o]];
    // The epsilon keeps an exact multiple of the spacing from gaining a voxel.
    double steps = std::ceil((high[o] - low[o]) / grid.spacing[o] - 1e-6);
    grid.size[o] = static_cast<std::size_t>(std::max(steps, 0.0)) + 1;
    grid.origin[o] = grid.direction[3 * o + o] * low[o];
  }
  TRIB_ASSIGN_OR_RETURN(common::Volume out, ResampleOnto(volume, grid, interpolator, background));
  out.reconstruction["Orientation"] = "resampled to identity direction";
  return out;
}

}  // namespace tributary::normalize
