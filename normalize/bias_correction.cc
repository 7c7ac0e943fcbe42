#include "normalize/bias_correction.h"

#include <itkBSplineControlPointImageFilter.h>
#include <itkImage.h>
#include <itkN4BiasFieldCorrectionImageFilter.h>
#include <itkShrinkImageFilter.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "normalize/voxel_values.h"

namespace tributary::normalize {
namespace {

using Image = itk::Image<float, 3>;
using Mask = itk::Image<unsigned char, 3>;
using N4 = itk::N4BiasFieldCorrectionImageFilter<Image, Mask, Image>;

template <typename T>
typename itk::Image<T, 3>::Pointer Placed(const common::Volume& volume) {
  auto image = itk::Image<T, 3>::New();
  typename itk::Image<T, 3>::SizeType size = {{volume.size[0], volume.size[1], volume.size[2]}};
  image->SetRegions(typename itk::Image<T, 3>::RegionType(size));
  typename itk::Image<T, 3>::SpacingType spacing;
  typename itk::Image<T, 3>::PointType origin;
  typename itk::Image<T, 3>::DirectionType direction;
  for (unsigned r = 0; r < 3; ++r) {
    spacing[r] = volume.spacing[r];
    origin[r] = volume.origin[r];
    for (unsigned c = 0; c < 3; ++c) direction[r][c] = volume.direction[3 * r + c];
  }
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->SetDirection(direction);
  image->Allocate();
  return image;
}

// The log bias field at full resolution, one value per voxel of one time point.
std::vector<float> LogBiasField(const common::Volume& volume, const std::vector<float>& first,
                                const std::vector<std::uint8_t>& mask,
                                const BiasCorrectionOptions& options) {
  const std::size_t n = mask.size();
  Image::Pointer image = Placed<float>(volume);
  Mask::Pointer mask_image = Placed<unsigned char>(volume);
  double lowest = 1;
  for (std::size_t i = 0; i < n; ++i) {
    if (mask[i]) lowest = std::min<double>(lowest, first[i]);
  }
  const float shift = lowest <= 0 ? static_cast<float>(1 - lowest) : 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    image->GetBufferPointer()[i] = std::max(first[i] + shift, 1e-3f);
    mask_image->GetBufferPointer()[i] = mask[i] ? 1 : 0;
  }
  const unsigned factor = std::max(1u, options.shrink_factor);
  auto shrink = itk::ShrinkImageFilter<Image, Image>::New();
  shrink->SetInput(image);
  shrink->SetShrinkFactors(factor);
  auto shrink_mask = itk::ShrinkImageFilter<Mask, Mask>::New();
  shrink_mask->SetInput(mask_image);
  shrink_mask->SetShrinkFactors(factor);
  auto n4 = N4::New();
  n4->SetInput(shrink->GetOutput());
  n4->SetMaskImage(shrink_mask->GetOutput());
  N4::VariableSizeArrayType iterations(static_cast<unsigned>(options.iterations.size()));
  for (std::size_t l = 0; l < options.iterations.size(); ++l) iterations[l] = options.iterations[l];
  n4->SetMaximumNumberOfIterations(iterations);
  N4::ArrayType levels;
  levels.Fill(static_cast<unsigned>(options.iterations.size()));
  n4->SetNumberOfFittingLevels(levels);
  N4::ArrayType control;
  control.Fill(options.control_points);
  n4->SetNumberOfControlPoints(control);
  n4->SetConvergenceThreshold(static_cast<float>(options.convergence_threshold));
  n4->Update();

  using Field = N4::ScalarImageType;
  auto bspline =
      itk::BSplineControlPointImageFilter<N4::BiasFieldControlPointLatticeType, Field>::New();
  bspline->SetInput(n4->GetLogBiasFieldControlPointLattice());
  bspline->SetSplineOrder(n4->GetSplineOrder());
  bspline->SetSize(image->GetLargestPossibleRegion().GetSize());
  bspline->SetOrigin(image->GetOrigin());
  bspline->SetSpacing(image->GetSpacing());
  bspline->SetDirection(image->GetDirection());
  bspline->Update();
  std::vector<float> field(n);
  const Field::PixelType* at = bspline->GetOutput()->GetBufferPointer();
  for (std::size_t i = 0; i < n; ++i) field[i] = at[i][0];
  return field;
}

}  // namespace

absl::StatusOr<common::Volume> CorrectBias(const common::Volume& volume,
                                           const std::vector<std::uint8_t>& mask,
                                           const BiasCorrectionOptions& options) {
  const std::size_t n = volume.size[0] * volume.size[1] * volume.size[2];
  if (n == 0 || mask.size() != n) {
    return absl::InvalidArgumentError("bias correction: the mask does not match the volume");
  }
  if (options.iterations.empty()) {
    return absl::InvalidArgumentError("bias correction: no fitting level (iterations is empty)");
  }
  for (std::size_t a = 0; a < 3; ++a) {
    if (volume.size[a] / std::max(1u, options.shrink_factor) < 4) {
      return absl::InvalidArgumentError("bias correction: shrink factor " +
                                        std::to_string(options.shrink_factor) +
                                        " leaves fewer than 4 voxels along an axis");
    }
  }
  std::vector<float> values = FloatVoxels(volume);
  std::vector<float> log_field;
  try {
    log_field = LogBiasField(volume, values, mask, options);
  } catch (const itk::ExceptionObject& error) {
    return absl::InternalError(std::string("N4 bias correction: ") + error.GetDescription());
  }
  for (std::size_t i = 0; i < values.size(); ++i) values[i] /= std::exp(log_field[i % n]);
  common::Volume out = FloatVolume(volume, values);
  out.reconstruction["BiasCorrection"] = std::string("N4");
  out.reconstruction["BiasCorrectionShrinkFactor"] =
      static_cast<std::int64_t>(options.shrink_factor);
  return out;
}

}  // namespace tributary::normalize
