#pragma once

#include <array>
#include <cmath>

namespace tributary::dicom {

// A point or direction in patient space (mm), and the few operations the geometry needs.
using Vec3 = std::array<double, 3>;

inline double Dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
inline Vec3 Cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
inline Vec3 Sub(const Vec3& a, const Vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
inline Vec3 Scaled(const Vec3& a, double s) { return {a[0] * s, a[1] * s, a[2] * s}; }
inline double Norm(const Vec3& a) { return std::sqrt(Dot(a, a)); }

}  // namespace tributary::dicom
