#pragma once

#include <array>
#include <optional>
#include <string>

#include "common/volume.h"

namespace tributary::normalize {

// A gradient direction (patient frame, LPS) in FSL's bvec convention, as dcm2niix writes it for
// the NIfTI image WriteNifti makes of `volume`: its components along the voxel axes i, j, k (the
// columns of `volume.direction`), with the first one negated when the NIfTI affine's determinant
// is positive (FSL then treats the image as stored in radiological order).
std::array<double, 3> FslBvec(const common::Volume& volume, const std::array<double, 3>& lps);

// FSL's .bval (one line: a b-value per volume) and .bvec (three lines: x, y and z of each
// volume's FslBvec) in dcm2niix's layout (%g, separated by spaces).
struct FslDiffusionText {
  std::string bval;
  std::string bvec;
};

// The two files' text for a 4D volume with one diffusion entry per volume; nothing when the volume
// has none, or, as dcm2niix decides, when every volume has the same b-value and direction.
std::optional<FslDiffusionText> FslDiffusion(const common::Volume& volume);

}  // namespace tributary::normalize
