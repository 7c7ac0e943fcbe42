#include "tests/conformance/volume_compare.h"

#include <array>
#include <cmath>
#include <cstring>
#include <sstream>

namespace tributary::testing {
namespace {

double Column(const common::Volume& v, int row, int axis) { return v.direction[3 * row + axis]; }

float At(const common::Volume& v, std::size_t index) {
  float value;
  std::memcpy(&value, v.voxels.data() + index * sizeof(float), sizeof(float));
  return value;
}

}  // namespace

std::string CompareInPhysicalSpace(const common::Volume& actual, const common::Volume& expected,
                                   double value_tolerance) {
  std::ostringstream out;
  // axis[a]: the axis of `actual` parallel to axis a of `expected`; flip[a]: anti-parallel.
  std::array<int, 3> axis = {-1, -1, -1};
  std::array<bool, 3> flip = {false, false, false};
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 3; ++b) {
      double dot = 0;
      for (int r = 0; r < 3; ++r) dot += Column(expected, r, a) * Column(actual, r, b);
      if (std::abs(dot) > 0.999) {
        axis[a] = b;
        flip[a] = dot < 0;
      }
    }
    if (axis[a] < 0) {
      out << "no axis parallel to expected axis " << a << "; ";
      return out.str();
    }
  }
  for (int a = 0; a < 3; ++a) {
    int b = axis[a];
    if (actual.size[b] != expected.size[a]) {
      out << "size of axis " << a << ": " << actual.size[b] << " vs " << expected.size[a] << "; ";
    }
    if (std::abs(actual.spacing[b] - expected.spacing[a]) > 1e-4) {
      out << "spacing of axis " << a << ": " << actual.spacing[b] << " vs " << expected.spacing[a]
          << "; ";
    }
  }
  if (actual.size[3] != expected.size[3]) {
    out << "volumes: " << actual.size[3] << " vs " << expected.size[3] << "; ";
  }
  if (!out.str().empty()) return out.str();

  auto map_index = [&](const std::array<std::size_t, 3>& e) {
    std::array<std::size_t, 3> m{};
    for (int a = 0; a < 3; ++a) m[axis[a]] = flip[a] ? expected.size[a] - 1 - e[a] : e[a];
    return m;
  };
  for (int corner = 0; corner < 8; ++corner) {
    std::array<std::size_t, 3> e{};
    for (int a = 0; a < 3; ++a) e[a] = (corner >> a & 1) ? expected.size[a] - 1 : 0;
    std::array<std::size_t, 3> m = map_index(e);
    auto pe = expected.IndexToPhysical(e[0], e[1], e[2]);
    auto pm = actual.IndexToPhysical(m[0], m[1], m[2]);
    double distance = std::hypot(pe[0] - pm[0], pe[1] - pm[1], pe[2] - pm[2]);
    if (distance > 1e-3) {
      out << "corner " << corner << " is " << distance << " mm away (" << pm[0] << "," << pm[1]
          << "," << pm[2] << " vs " << pe[0] << "," << pe[1] << "," << pe[2] << "); ";
    }
  }
  if (!out.str().empty()) return out.str();

  std::size_t mismatches = 0;
  for (std::size_t t = 0; t < expected.size[3]; ++t) {
    for (std::size_t k = 0; k < expected.size[2]; ++k) {
      for (std::size_t j = 0; j < expected.size[1]; ++j) {
        for (std::size_t i = 0; i < expected.size[0]; ++i) {
          std::array<std::size_t, 3> m = map_index({i, j, k});
          std::size_t ei =
              ((t * expected.size[2] + k) * expected.size[1] + j) * expected.size[0] + i;
          std::size_t ai =
              ((t * actual.size[2] + m[2]) * actual.size[1] + m[1]) * actual.size[0] + m[0];
          double a = At(actual, ai), e = At(expected, ei);
          if (std::abs(a - e) > value_tolerance + 1e-6 * std::abs(e)) {
            if (mismatches++ < 3)
              out << "voxel (" << i << "," << j << "," << k << "," << t << "): " << a << " vs " << e
                  << "; ";
          }
        }
      }
    }
  }
  if (mismatches > 0) out << mismatches << " voxels differ";
  return out.str();
}

}  // namespace tributary::testing
