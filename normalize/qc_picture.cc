#include "normalize/qc_picture.h"

#include <itkImage.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkPNGImageIO.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

namespace tributary::normalize {
namespace {

using Picture = itk::Image<std::uint8_t, 2>;

// The voxel axis closest to world axis `world` (LPS), and whether it runs along it (+1) or
// against it (-1).
std::pair<int, int> ClosestAxis(const common::Volume& v, int world) {
  int best = 0;
  for (int c = 1; c < 3; ++c) {
    if (std::abs(v.direction[3 * world + c]) > std::abs(v.direction[3 * world + best])) best = c;
  }
  return {best, v.direction[3 * world + best] >= 0 ? 1 : -1};
}

// One displayed plane: the voxel axis across it (at its middle) and, for the picture's columns
// and rows, the voxel axis and the world direction (LPS axis, sign) that increases along them.
struct PlaneView {
  int across;
  int column_world, column_sign;  // columns run towards this world direction
  int row_world, row_sign;        // rows run (downwards) towards this world direction
};

// LPS: x = left, y = posterior, z = superior.
constexpr PlaneView kAxial = {2, 0, +1, 1, +1};     // left to the right, posterior down
constexpr PlaneView kCoronal = {1, 0, +1, 2, -1};   // left to the right, inferior down
constexpr PlaneView kSagittal = {0, 1, +1, 2, -1};  // posterior to the right, inferior down

struct Plane {
  std::size_t width = 0, height = 0;
  std::vector<double> values;
};

Plane Sample(const common::Volume& v, const PlaneView& view) {
  int across = ClosestAxis(v, view.across).first;
  auto [col_axis, col_sign] = ClosestAxis(v, view.column_world);
  auto [row_axis, row_sign] = ClosestAxis(v, view.row_world);
  col_sign *= view.column_sign;
  row_sign *= view.row_sign;
  Plane plane;
  if (col_axis == row_axis || col_axis == across || row_axis == across) return plane;
  double pixel = std::min(v.spacing[col_axis], v.spacing[row_axis]);
  double width_mm = v.spacing[col_axis] * static_cast<double>(v.size[col_axis]);
  double height_mm = v.spacing[row_axis] * static_cast<double>(v.size[row_axis]);
  plane.width = std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(width_mm / pixel)));
  plane.height = std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(height_mm / pixel)));
  plane.values.resize(plane.width * plane.height);
  std::array<std::size_t, 3> index = {0, 0, 0};
  index[across] = v.size[across] / 2;
  for (std::size_t y = 0; y < plane.height; ++y) {
    auto r = static_cast<std::size_t>((static_cast<double>(y) + 0.5) * pixel / v.spacing[row_axis]);
    r = std::min(r, v.size[row_axis] - 1);
    index[row_axis] = row_sign > 0 ? r : v.size[row_axis] - 1 - r;
    for (std::size_t x = 0; x < plane.width; ++x) {
      auto c =
          static_cast<std::size_t>((static_cast<double>(x) + 0.5) * pixel / v.spacing[col_axis]);
      c = std::min(c, v.size[col_axis] - 1);
      index[col_axis] = col_sign > 0 ? c : v.size[col_axis] - 1 - c;
      std::size_t at = index[0] + v.size[0] * (index[1] + v.size[1] * index[2]);
      plane.values[y * plane.width + x] = v.ValueAt(at);
    }
  }
  return plane;
}

}  // namespace

absl::Status WriteQcPicture(const common::Volume& volume, const std::string& path) {
  if (volume.VoxelCount() == 0) return absl::InvalidArgumentError("QC picture of an empty volume");
  // The display window: 1st to 99th percentile of the first time point.
  std::size_t n = volume.size[0] * volume.size[1] * volume.size[2];
  std::vector<double> sorted;
  std::size_t stride = std::max<std::size_t>(1, n / 200000);
  for (std::size_t i = 0; i < n; i += stride) sorted.push_back(volume.ValueAt(i));
  std::sort(sorted.begin(), sorted.end());
  double lo = sorted[sorted.size() / 100], hi = sorted[sorted.size() * 99 / 100];
  if (hi <= lo) hi = lo + 1;

  std::vector<Plane> planes = {Sample(volume, kAxial), Sample(volume, kCoronal),
                               Sample(volume, kSagittal)};
  std::size_t width = 0, height = 0;
  for (const Plane& p : planes) {
    width += p.width;
    height = std::max(height, p.height);
  }
  auto picture = Picture::New();
  Picture::RegionType region;
  region.SetSize({{width, height}});
  picture->SetRegions(region);
  picture->Allocate();
  picture->FillBuffer(0);
  std::uint8_t* out = picture->GetBufferPointer();
  std::size_t left = 0;
  for (const Plane& p : planes) {
    std::size_t top = (height - p.height) / 2;
    for (std::size_t y = 0; y < p.height; ++y) {
      for (std::size_t x = 0; x < p.width; ++x) {
        double t = (p.values[y * p.width + x] - lo) / (hi - lo);
        out[(top + y) * width + left + x] =
            static_cast<std::uint8_t>(std::lround(255 * std::clamp(t, 0.0, 1.0)));
      }
    }
    left += p.width;
  }
  try {
    auto writer = itk::ImageFileWriter<Picture>::New();
    writer->SetImageIO(itk::PNGImageIO::New());
    writer->SetFileName(path);
    writer->SetInput(picture);
    writer->Update();
    auto reader = itk::ImageFileReader<Picture>::New();
    reader->SetImageIO(itk::PNGImageIO::New());
    reader->SetFileName(path);
    reader->Update();
    Picture::Pointer back = reader->GetOutput();
    const std::uint8_t* read = back->GetBufferPointer();
    if (back->GetLargestPossibleRegion().GetSize() != region.GetSize() ||
        !std::equal(out, out + width * height, read)) {
      return absl::DataLossError("QC picture " + path + " does not read back as written");
    }
  } catch (const itk::ExceptionObject& error) {
    return absl::InternalError("cannot write the QC picture " + path + ": " +
                               error.GetDescription());
  }
  return absl::OkStatus();
}

}  // namespace tributary::normalize
