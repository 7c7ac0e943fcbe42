#include "normalize/foreground_mask.h"

#include <itkImage.h>
#include <itkOtsuThresholdImageFilter.h>

#include <algorithm>
#include <numeric>
#include <string>

#include "normalize/voxel_values.h"

namespace tributary::normalize {
namespace {

using Image = itk::Image<float, 3>;
using Mask = itk::Image<unsigned char, 3>;

absl::StatusOr<double> OtsuThreshold(const common::Volume& volume,
                                     const std::vector<float>& values) {
  auto image = Image::New();
  Image::SizeType size = {{volume.size[0], volume.size[1], volume.size[2]}};
  image->SetRegions(Image::RegionType(size));
  image->Allocate();
  std::copy(values.begin(),
            values.begin() + static_cast<std::ptrdiff_t>(image->GetPixelContainer()->Size()),
            image->GetBufferPointer());
  auto otsu = itk::OtsuThresholdImageFilter<Image, Mask>::New();
  otsu->SetInput(image);
  otsu->SetNumberOfHistogramBins(256);
  try {
    otsu->Update();
  } catch (const itk::ExceptionObject& error) {
    return absl::InternalError(std::string("Otsu threshold: ") + error.GetDescription());
  }
  return static_cast<double>(otsu->GetThreshold());
}

}  // namespace

absl::StatusOr<std::vector<std::uint8_t>> ForegroundMask(const common::Volume& volume,
                                                         ForegroundMethod method) {
  const std::size_t n = volume.size[0] * volume.size[1] * volume.size[2];
  if (n == 0 || volume.voxels.size() < n * common::PixelSize(volume.pixel_type)) {
    return absl::InvalidArgumentError("foreground mask of an empty volume");
  }
  std::vector<float> values = FloatVoxels(volume);
  values.resize(n);  // the first time point
  double threshold = 0;
  if (method == ForegroundMethod::kOtsu) {
    TRIB_ASSIGN_OR_RETURN(threshold, OtsuThreshold(volume, values));
  } else {
    threshold = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(n);
  }
  std::vector<std::uint8_t> mask(n);
  std::size_t count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    mask[i] = values[i] > threshold;
    count += mask[i];
  }
  if (count == 0) return absl::FailedPreconditionError("foreground mask is empty (uniform image)");
  return mask;
}

}  // namespace tributary::normalize
