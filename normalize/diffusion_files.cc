#include "normalize/diffusion_files.h"

#include <cmath>
#include <cstdio>
#include <vector>

namespace tributary::normalize {
namespace {

// Like dcm2niix's fprintf("%g"), without a minus sign on zero.
std::string Number(double value) {
  if (std::abs(value) < 1e-7) value = 0;
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

std::string Line(const std::vector<double>& values) {
  std::string line;
  for (std::size_t i = 0; i < values.size(); ++i) line += (i == 0 ? "" : " ") + Number(values[i]);
  return line + "\n";
}

}  // namespace

std::array<double, 3> FslBvec(const common::Volume& volume, const std::array<double, 3>& lps) {
  const std::array<double, 9>& d = volume.direction;
  std::array<double, 3> voxel = {0, 0, 0};
  for (int c = 0; c < 3; ++c) {
    for (int r = 0; r < 3; ++r) voxel[c] += d[3 * r + c] * lps[r];
  }
  // The NIfTI affine is diag(-1, -1, 1) * direction * diag(spacing): its determinant has the sign
  // of the direction matrix's.
  double det = d[0] * (d[4] * d[8] - d[5] * d[7]) - d[1] * (d[3] * d[8] - d[5] * d[6]) +
               d[2] * (d[3] * d[7] - d[4] * d[6]);
  if (det > 0) voxel[0] = -voxel[0];
  return voxel;
}

std::optional<FslDiffusionText> FslDiffusion(const common::Volume& volume) {
  const std::vector<common::DiffusionGradient>& g = volume.diffusion;
  if (g.empty() || g.size() != volume.size[3]) return std::nullopt;
  bool varies = false;
  for (const common::DiffusionGradient& v : g) {
    varies = varies || v.b_value != g[0].b_value || v.direction != g[0].direction;
  }
  if (!varies) return std::nullopt;
  std::vector<double> bvals;
  std::array<std::vector<double>, 3> bvecs;
  for (const common::DiffusionGradient& v : g) {
    bvals.push_back(v.b_value);
    std::array<double, 3> voxel = FslBvec(volume, v.direction);
    for (int axis = 0; axis < 3; ++axis) bvecs[axis].push_back(voxel[axis]);
  }
  FslDiffusionText text;
  text.bval = Line(bvals);
  for (const std::vector<double>& axis : bvecs) text.bvec += Line(axis);
  return text;
}

}  // namespace tributary::normalize
