// normalize/: canonical orientation (lossless and resampled) and resampling to a target spacing.
// Expectations come from the geometry's definitions (world positions, a phantom's centre and
// volume, a linear ramp's values), never from the code under test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>

#include "normalize/diffusion_files.h"
#include "normalize/geometry_steps.h"
#include "normalize/grid.h"
#include "normalize/nifti_io.h"
#include "normalize/reorientation.h"
#include "normalize/resampling.h"

namespace tributary {
namespace {

using Point = std::array<double, 3>;
using Matrix = std::array<double, 9>;
using normalize::Interpolator;

// Rotation about z by `a`, then about x by `b` (columns are the rotated axes).
Matrix Rotation(double a, double b) {
  Matrix z = {std::cos(a), -std::sin(a), 0, std::sin(a), std::cos(a), 0, 0, 0, 1};
  Matrix x = {1, 0, 0, 0, std::cos(b), -std::sin(b), 0, std::sin(b), std::cos(b)};
  Matrix m{};
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      for (int k = 0; k < 3; ++k) m[3 * r + c] += x[3 * r + k] * z[3 * k + c];
    }
  }
  return m;
}

// A volume whose voxel values are `value(world position, time point)`.
common::Volume Make(std::array<std::size_t, 4> size, Point spacing, Point origin, Matrix direction,
                    common::PixelType type, const std::function<double(const Point&, int)>& value) {
  common::Volume v;
  v.size = size;
  v.spacing = spacing;
  v.origin = origin;
  v.direction = direction;
  v.pixel_type = type;
  v.voxels.resize(v.VoxelCount() * common::PixelSize(type));
  std::size_t n = 0;
  for (std::size_t t = 0; t < size[3]; ++t) {
    for (std::size_t k = 0; k < size[2]; ++k) {
      for (std::size_t j = 0; j < size[1]; ++j) {
        for (std::size_t i = 0; i < size[0]; ++i, ++n) {
          double x = value(v.IndexToPhysical(i, j, k), static_cast<int>(t));
          std::byte* at = v.voxels.data() + n * common::PixelSize(type);
          if (type == common::PixelType::kFloat32) {
            auto f = static_cast<float>(x);
            std::memcpy(at, &f, 4);
          } else {
            auto s = static_cast<std::int16_t>(std::lround(x));
            std::memcpy(at, &s, 2);
          }
        }
      }
    }
  }
  return v;
}

// The continuous index of world point `p` in `v` (direction orthonormal).
Point ContinuousIndex(const common::Volume& v, const Point& p) {
  Point index{};
  for (int c = 0; c < 3; ++c) {
    for (int r = 0; r < 3; ++r) index[c] += v.direction[3 * r + c] * (p[r] - v.origin[r]);
    index[c] /= v.spacing[c];
  }
  return index;
}

std::size_t Offset(const common::Volume& v, std::size_t i, std::size_t j, std::size_t k,
                   std::size_t t = 0) {
  return ((t * v.size[2] + k) * v.size[1] + j) * v.size[0] + i;
}

Point Centre(const common::Volume& v) {
  return v.IndexToPhysical((v.size[0] - 1) / 2.0, (v.size[1] - 1) / 2.0, (v.size[2] - 1) / 2.0);
}

double Distance(const Point& a, const Point& b) {
  return std::sqrt(std::pow(a[0] - b[0], 2) + std::pow(a[1] - b[1], 2) + std::pow(a[2] - b[2], 2));
}

struct Moments {
  double integral = 0;  // sum x voxel volume
  Point centroid = {0, 0, 0};
};

Moments MomentsOf(const common::Volume& v) {
  Moments m;
  double sum = 0;
  for (std::size_t k = 0; k < v.size[2]; ++k) {
    for (std::size_t j = 0; j < v.size[1]; ++j) {
      for (std::size_t i = 0; i < v.size[0]; ++i) {
        double x = v.ValueAt(Offset(v, i, j, k));
        Point p = v.IndexToPhysical(i, j, k);
        sum += x;
        for (int r = 0; r < 3; ++r) m.centroid[r] += x * p[r];
      }
    }
  }
  for (double& c : m.centroid) c /= sum;
  m.integral = sum * v.spacing[0] * v.spacing[1] * v.spacing[2];
  return m;
}

// 1 inside radius r, 0 outside, a one-voxel linear edge between.
std::function<double(const Point&, int)> Sphere(Point centre, double r) {
  return [=](const Point& p, int) { return std::clamp(r + 0.5 - Distance(p, centre), 0.0, 1.0); };
}

const Matrix kOblique = Rotation(0.35, -0.5);

TEST(AntiAliasSigmas, CardosoFormulaOnDownsampledAxesOnly) {
  // k = 2: sqrt(3 / (8 ln 2)) = 0.735534; k = 1.5 at 2 mm: 2 * sqrt(1.25 / 5.545177) = 0.949570.
  Point sigmas = normalize::AntiAliasSigmas({1, 2, 1}, {2, 3, 0.5});
  EXPECT_NEAR(sigmas[0], 0.735534, 1e-6);
  EXPECT_NEAR(sigmas[1], 0.949570, 1e-6);
  EXPECT_EQ(sigmas[2], 0);
}

TEST(CentredGrid, FloorOfExtentSymmetricAboutTheCentre) {
  common::Volume v = Make({10, 7, 4, 1}, {1, 2, 2.5}, {5, -3, 1}, {1, 0, 0, 0, 1, 0, 0, 0, 1},
                          common::PixelType::kInt16, [](const Point&, int) { return 0; });
  normalize::Grid grid = normalize::CentredGrid(v, {3, 4, 2.5});
  // Extents 10, 14, 10 mm: floor(10 / 3) = 3, floor(14 / 4) = 3, 10 / 2.5 = 4.
  EXPECT_EQ(grid.size, (std::array<std::size_t, 3>{3, 3, 4}));
  // Old centres at 5 + 4.5, -3 + 6, 1 + 3.75; first new centre 3, 4 and 3.75 mm before them.
  EXPECT_NEAR(grid.origin[0], 6.5, 1e-12);
  EXPECT_NEAR(grid.origin[1], -1, 1e-12);
  EXPECT_NEAR(grid.origin[2], 1, 1e-12);
}

TEST(Resampling, SameSpacingIsExact) {
  common::Volume v =
      Make({9, 8, 7, 2}, {0.8, 1.1, 2}, {3, -4, 5}, kOblique, common::PixelType::kFloat32,
           [](const Point& p, int t) { return std::sin(p[0]) * p[1] + p[2] * p[2] * 0.01 + t; });
  absl::StatusOr<common::Volume> out =
      normalize::ResampleToSpacing(v, v.spacing, Interpolator::kLinear, true, 0);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->size, v.size);
  EXPECT_EQ(out->pixel_type, common::PixelType::kFloat32);
  EXPECT_LE(Distance(out->origin, v.origin), 1e-9);
  EXPECT_EQ(std::memcmp(out->voxels.data(), v.voxels.data(), v.voxels.size()), 0);
}

TEST(Resampling, OneVoxelShiftSamplesTheNextVoxel) {
  common::Volume v =
      Make({6, 5, 4, 1}, {0.8, 1.1, 2}, {3, -4, 5}, kOblique, common::PixelType::kInt16,
           [](const Point& p, int) { return std::round(100 * std::cos(p[0]) + 7 * p[1]); });
  normalize::Grid grid = normalize::Grid::Of(v);
  grid.origin = v.IndexToPhysical(1, 0, 0);
  absl::StatusOr<common::Volume> out = normalize::ResampleOnto(v, grid, Interpolator::kLinear, -7);
  ASSERT_TRUE(out.ok()) << out.status();
  for (std::size_t k = 0; k < 4; ++k) {
    for (std::size_t j = 0; j < 5; ++j) {
      for (std::size_t i = 0; i < 6; ++i) {
        double expected = i + 1 < 6 ? v.ValueAt(Offset(v, i + 1, j, k)) : -7;
        EXPECT_NEAR(out->ValueAt(Offset(*out, i, j, k)), expected, 1e-4) << i << j << k;
      }
    }
  }
}

TEST(Resampling, KeepsThePhysicalCentre) {
  common::Volume v = Make({31, 24, 17, 1}, {0.9, 1.2, 2.5}, {-40, 12, 7}, kOblique,
                          common::PixelType::kInt16, [](const Point&, int) { return 1; });
  for (Point spacing : {Point{1.7, 0.6, 2.3}, Point{1, 1, 1}, Point{3, 3, 3}}) {
    absl::StatusOr<common::Volume> out =
        normalize::ResampleToSpacing(v, spacing, Interpolator::kLinear, true, 0);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->spacing, spacing);
    EXPECT_EQ(out->direction, v.direction);
    EXPECT_LE(Distance(Centre(*out), Centre(v)), 1e-3);
    EXPECT_TRUE(out->reconstruction.count("Resampling"));
  }
}

TEST(Resampling, EveryTimePointAlike) {
  common::Volume v =
      Make({12, 11, 10, 3}, {1, 1, 1}, {0, 0, 0}, kOblique, common::PixelType::kInt16,
           [](const Point&, int t) { return 10 * t + 5; });
  v.diffusion = {{0, {0, 0, 0}}, {1000, {1, 0, 0}}, {1000, {0, 1, 0}}};
  absl::StatusOr<common::Volume> out =
      normalize::ResampleToSpacing(v, {1.7, 1.7, 1.7}, Interpolator::kLinear, true, 0);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size[3], 3u);
  EXPECT_EQ(out->diffusion.size(), 3u);
  const std::size_t i = out->size[0] / 2, j = out->size[1] / 2, k = out->size[2] / 2;
  for (std::size_t t = 0; t < 3; ++t) {
    EXPECT_NEAR(out->ValueAt(Offset(*out, i, j, k, t)), 10.0 * t + 5, 1e-4) << t;
  }
}

class SpherePhantom : public ::testing::TestWithParam<double> {};

TEST_P(SpherePhantom, KeepsCentroidAndIntegral) {
  const double mm = GetParam();
  const Point origin = {-20, 15, -30};
  common::Volume v = Make({48, 48, 48, 1}, {1, 1, 1}, origin, kOblique, common::PixelType::kFloat32,
                          [](const Point&, int) { return 0; });
  Point centre = v.IndexToPhysical(25.3, 22.6, 24.1);
  v = Make({48, 48, 48, 1}, {1, 1, 1}, origin, kOblique, common::PixelType::kFloat32,
           Sphere(centre, 10));
  Moments in = MomentsOf(v);
  ASSERT_LE(Distance(in.centroid, centre), 0.01);  // the phantom itself is centred as built

  absl::StatusOr<common::Volume> out =
      normalize::ResampleToSpacing(v, {mm, mm, mm}, Interpolator::kLinear, true, 0);
  ASSERT_TRUE(out.ok()) << out.status();
  Moments got = MomentsOf(*out);
  EXPECT_LE(Distance(got.centroid, in.centroid), 0.1 * mm);
  EXPECT_NEAR(got.integral, in.integral, 0.005 * in.integral);
}

INSTANTIATE_TEST_SUITE_P(Spacings, SpherePhantom, ::testing::Values(1.7, 0.6));

TEST(Resampling, NearestLabelsGainNoNewValues) {
  common::Volume v = Make({20, 18, 16, 1}, {1, 1, 1.5}, {0, 0, 0}, kOblique,
                          common::PixelType::kInt16, [](const Point& p, int) {
                            int label = (static_cast<int>(std::floor(p[0] / 4)) +
                                         2 * static_cast<int>(std::floor(p[1] / 5))) %
                                        4;
                            return label < 0 ? 0 : (label == 3 ? 7 : label);
                          });
  std::set<double> labels;
  for (std::size_t i = 0; i < v.VoxelCount(); ++i) labels.insert(v.ValueAt(i));
  ASSERT_TRUE(labels.count(0));
  for (Point spacing : {Point{1.7, 1.7, 1.7}, Point{0.6, 0.6, 0.6}}) {
    absl::StatusOr<common::Volume> out =
        normalize::ResampleToSpacing(v, spacing, Interpolator::kNearest, true, 0);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->pixel_type, common::PixelType::kInt16);
    std::set<double> got;
    for (std::size_t i = 0; i < out->VoxelCount(); ++i) got.insert(out->ValueAt(i));
    for (double x : got) EXPECT_TRUE(labels.count(x)) << x;
  }
  absl::StatusOr<common::Volume> turned =
      normalize::ReorientResampled(v, Interpolator::kNearest, 0);
  ASSERT_TRUE(turned.ok()) << turned.status();
  for (std::size_t i = 0; i < turned->VoxelCount(); ++i) {
    EXPECT_TRUE(labels.count(turned->ValueAt(i))) << turned->ValueAt(i);
  }
}

// Every output voxel sits at the world position of an input voxel and has its value.
void ExpectSameVoxels(const common::Volume& in, const common::Volume& out) {
  ASSERT_EQ(out.VoxelCount(), in.VoxelCount());
  ASSERT_EQ(out.pixel_type, in.pixel_type);
  for (std::size_t t = 0; t < out.size[3]; ++t) {
    for (std::size_t k = 0; k < out.size[2]; ++k) {
      for (std::size_t j = 0; j < out.size[1]; ++j) {
        for (std::size_t i = 0; i < out.size[0]; ++i) {
          Point q = ContinuousIndex(in, out.IndexToPhysical(i, j, k));
          std::array<std::size_t, 3> n;
          for (int d = 0; d < 3; ++d) {
            ASSERT_NEAR(q[d], std::round(q[d]), 1e-9);
            ASSERT_GE(std::round(q[d]), 0);
            n[d] = static_cast<std::size_t>(std::round(q[d]));
            ASSERT_LT(n[d], in.size[d]);
          }
          ASSERT_EQ(out.ValueAt(Offset(out, i, j, k, t)),
                    in.ValueAt(Offset(in, n[0], n[1], n[2], t)));
        }
      }
    }
  }
}

struct Orientation {
  const char* name;
  Matrix direction;
  const char* expected;  // from nibabel's io_orientation on diag(-1, -1, 1) * direction, by hand
};

void PrintTo(const Orientation& o, std::ostream* os) { *os << o.name; }

class LosslessReorientation : public ::testing::TestWithParam<Orientation> {};

TEST_P(LosslessReorientation, KeepsEveryVoxelsPositionAndValue) {
  const Orientation& o = GetParam();
  common::Volume in = Make(
      {5, 4, 3, 2}, {0.7, 1.3, 2.1}, {-12.5, 30.25, 7.125}, o.direction, common::PixelType::kInt16,
      [](const Point& p, int t) { return std::round(10 * p[0] + 3 * p[1] - p[2]) + 1000 * t; });
  absl::StatusOr<common::Volume> out = normalize::ReorientLossless(in);
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectSameVoxels(in, *out);
  // Closest to RAS+: each output axis points mostly along its own RAS axis, positively.
  const double ras[3] = {-1, -1, 1};
  for (int c = 0; c < 3; ++c) {
    for (int r = 0; r < 3; ++r) {
      if (r == c) continue;
      EXPECT_LT(std::abs(out->direction[3 * r + c]), std::abs(out->direction[4 * c]));
    }
    EXPECT_GT(ras[c] * out->direction[4 * c], 0) << "axis " << c;
  }
  EXPECT_EQ(std::get<std::string>(out->reconstruction.at("Orientation")), o.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Directions, LosslessReorientation,
    ::testing::Values(
        // LPS identity (axial DICOM): RAS columns (-1,0,0), (0,-1,0), (0,0,1).
        Orientation{
            "axial",
            {1, 0, 0, 0, 1, 0, 0, 0, 1},
            "lossless: output axes from input axes [0, 1, 2], reversed [true, true, false]"},
        // Sagittal: i -> P, j -> I, k -> R; RAS columns (0,-1,0), (0,0,-1), (1,0,0).
        Orientation{
            "sagittal",
            {0, 0, -1, 1, 0, 0, 0, -1, 0},
            "lossless: output axes from input axes [2, 0, 1], reversed [false, true, true]"},
        // Coronal: i -> L, j -> I, k -> A; RAS columns (-1,0,0), (0,0,-1), (0,1,0).
        Orientation{
            "coronal",
            {1, 0, 0, 0, 0, -1, 0, -1, 0},
            "lossless: output axes from input axes [0, 2, 1], reversed [true, false, true]"},
        // Already RAS+: nothing changes.
        Orientation{
            "ras",
            {-1, 0, 0, 0, -1, 0, 0, 0, 1},
            "lossless: output axes from input axes [0, 1, 2], reversed [false, false, false]"},
        // Rotation(0.35, -0.5): RAS columns (-0.939, -0.301, -0.164), (0.343, -0.824, -0.450),
        // (0, -0.479, 0.878): i -> R reversed, j -> A reversed, k -> S.
        Orientation{
            "oblique", Rotation(0.35, -0.5),
            "lossless: output axes from input axes [0, 1, 2], reversed [true, true, false]"}),
    [](const ::testing::TestParamInfo<Orientation>& info) { return info.param.name; });

bool HaveNibabel() { return std::system("/usr/bin/python3 -c 'import nibabel' 2>/dev/null") == 0; }

TEST(LosslessReorientation, MatchesNibabelAsClosestCanonical) {
  if (!HaveNibabel()) GTEST_SKIP() << "python3-nibabel is not installed for /usr/bin/python3";
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("geometry_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  for (const Matrix& direction : {Matrix{0, 0, -1, 1, 0, 0, 0, -1, 0}, Rotation(0.35, -0.5),
                                  Rotation(2.2, 1.1), Matrix{1, 0, 0, 0, 0, -1, 0, -1, 0}}) {
    common::Volume in = Make(
        {5, 4, 3, 1}, {0.7, 1.3, 2.1}, {-12.5, 30.25, 7.125}, direction, common::PixelType::kInt16,
        [](const Point& p, int) { return std::round(10 * p[0] + 3 * p[1] - p[2]); });
    absl::StatusOr<common::Volume> out = normalize::ReorientLossless(in);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_TRUE(normalize::WriteNifti(in, (dir / "in.nii").string()).ok());
    ASSERT_TRUE(normalize::WriteNifti(*out, (dir / "out.nii").string()).ok());
    std::string command =
        "/usr/bin/python3 -c '"
        "import sys, nibabel, numpy\n"
        "a = nibabel.as_closest_canonical(nibabel.load(sys.argv[1]))\n"
        "b = nibabel.load(sys.argv[2])\n"
        "ok = a.shape == b.shape and numpy.allclose(a.affine, b.affine, atol=1e-4)"
        " and numpy.array_equal(numpy.asarray(a.dataobj), numpy.asarray(b.dataobj))\n"
        "sys.exit(0 if ok else 1)' " +
        (dir / "in.nii").string() + " " + (dir / "out.nii").string();
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
  }
  std::filesystem::remove_all(dir);
}

TEST(ResampledReorientation, SamplesTheSameWorldPoints) {
  // A linear ramp: trilinear interpolation anywhere inside the input reproduces it exactly.
  auto ramp = [](const Point& p, int) { return 0.01 * p[0] - 0.02 * p[1] + 0.015 * p[2] + 0.25; };
  common::Volume in = Make({14, 12, 9, 1}, {1.1, 0.9, 1.6}, {-5, 8, -3}, kOblique,
                           common::PixelType::kFloat32, ramp);
  absl::StatusOr<common::Volume> out = normalize::ReorientResampled(in, Interpolator::kLinear, -1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->direction, (Matrix{-1, 0, 0, 0, -1, 0, 0, 0, 1}));
  // Input axes i, j, k are closest to output axes x, y, z (see the oblique case above).
  EXPECT_EQ(out->spacing, (Point{1.1, 0.9, 1.6}));
  EXPECT_EQ(std::get<std::string>(out->reconstruction.at("Orientation")),
            "resampled to identity direction");
  std::size_t inside = 0;
  for (std::size_t k = 0; k < out->size[2]; ++k) {
    for (std::size_t j = 0; j < out->size[1]; ++j) {
      for (std::size_t i = 0; i < out->size[0]; ++i) {
        Point p = out->IndexToPhysical(i, j, k);
        Point q = ContinuousIndex(in, p);
        bool within = true;
        bool outside = false;
        for (int d = 0; d < 3; ++d) {
          const double last = static_cast<double>(in.size[d] - 1);
          within = within && q[d] >= 1e-6 && q[d] <= last - 1e-6;
          outside = outside || q[d] < -0.5 - 1e-6 || q[d] > last + 0.5 + 1e-6;
        }
        double got = out->ValueAt(Offset(*out, i, j, k));
        if (within) {
          ++inside;
          EXPECT_NEAR(got, ramp(p, 0), 1e-4) << i << " " << j << " " << k;
        } else if (outside) {
          EXPECT_EQ(got, -1);
        }
      }
    }
  }
  EXPECT_GT(inside, in.VoxelCount() / 2);
  // The grid covers every input voxel centre.
  for (std::size_t corner = 0; corner < 8; ++corner) {
    Point q = ContinuousIndex(
        *out, in.IndexToPhysical(corner & 1 ? 13 : 0, corner & 2 ? 11 : 0, corner & 4 ? 8 : 0));
    for (int d = 0; d < 3; ++d) {
      EXPECT_GE(q[d], -1e-6);
      EXPECT_LE(q[d], static_cast<double>(out->size[d] - 1) + 1e-6);
    }
  }
}

// The world-space (LPS) directions that a .bvec text stands for, undoing FSL's convention for the
// image it belongs to: components along the voxel axes, x negated when det(direction) > 0.
std::vector<Point> WorldBvecs(const common::Volume& v, const std::string& bvec) {
  std::istringstream lines(bvec);
  std::array<std::vector<double>, 3> rows;
  for (auto& row : rows) {
    std::string line;
    std::getline(lines, line);
    std::istringstream values(line);
    for (double x; values >> x;) row.push_back(x);
  }
  const Matrix& d = v.direction;
  double det = d[0] * (d[4] * d[8] - d[5] * d[7]) - d[1] * (d[3] * d[8] - d[5] * d[6]) +
               d[2] * (d[3] * d[7] - d[4] * d[6]);
  std::vector<Point> world;
  for (std::size_t n = 0; n < rows[0].size(); ++n) {
    Point voxel = {det > 0 ? -rows[0][n] : rows[0][n], rows[1][n], rows[2][n]};
    Point p{};
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 3; ++c) p[r] += d[3 * r + c] * voxel[c];
    }
    world.push_back(p);
  }
  return world;
}

TEST(Reorientation, DiffusionBvecsKeepTheirWorldDirections) {
  const double s = 1 / std::sqrt(3.0);
  std::vector<common::DiffusionGradient> gradients = {
      {0, {0, 0, 0}}, {1000, {1, 0, 0}}, {1000, {0, 0.6, -0.8}}, {2000, {s, -s, s}}};
  for (const Matrix& direction :
       {Matrix{0, 0, -1, 1, 0, 0, 0, -1, 0}, kOblique, Matrix{1, 0, 0, 0, 0, -1, 0, -1, 0}}) {
    common::Volume in = Make({6, 5, 4, 4}, {2, 2, 2.5}, {10, -20, 30}, direction,
                             common::PixelType::kInt16, [](const Point&, int t) { return t; });
    in.diffusion = gradients;
    absl::StatusOr<common::Volume> lossless = normalize::ReorientLossless(in);
    absl::StatusOr<common::Volume> resampled =
        normalize::ReorientResampled(in, Interpolator::kLinear, 0);
    ASSERT_TRUE(lossless.ok() && resampled.ok());
    for (const common::Volume* out : {&*lossless, &*resampled}) {
      std::optional<normalize::FslDiffusionText> text = normalize::FslDiffusion(*out);
      ASSERT_TRUE(text.has_value());
      EXPECT_EQ(text->bval, "0 1000 1000 2000\n");
      std::vector<Point> world = WorldBvecs(*out, text->bvec);
      ASSERT_EQ(world.size(), gradients.size());
      for (std::size_t n = 0; n < world.size(); ++n) {
        EXPECT_LE(Distance(world[n], gradients[n].direction), 1e-5) << n;
      }
    }
  }
}

TEST(ApplyGeometry, OrientationThenSpacingAsTheRecipeSays) {
  common::Volume in = Make({12, 10, 8, 1}, {0.7, 1.3, 2.1}, {-12.5, 30.25, 7.125},
                           Matrix{0, 0, -1, 1, 0, 0, 0, -1, 0}, common::PixelType::kInt16,
                           [](const Point& p, int) { return std::round(p[0] + p[1]); });
  absl::StatusOr<normalize::Recipe> ct = normalize::BuiltinRecipe("ct-default");
  ASSERT_TRUE(ct.ok()) << ct.status();
  absl::StatusOr<common::Volume> out = normalize::ApplyGeometry(in, *ct);
  ASSERT_TRUE(out.ok()) << out.status();
  // Sagittal input: output axes from input axes 2, 0, 1 (2.1, 0.7, 1.3 mm), then 1 mm each:
  // floor(8 * 2.1) = 16, floor(12 * 0.7) = 8, floor(10 * 1.3) = 13.
  EXPECT_EQ(out->size, (std::array<std::size_t, 4>{16, 8, 13, 1}));
  EXPECT_EQ(out->spacing, (Point{1, 1, 1}));
  EXPECT_EQ(out->direction, (Matrix{-1, 0, 0, 0, -1, 0, 0, 0, 1}));
  EXPECT_EQ(out->pixel_type, common::PixelType::kFloat32);
  EXPECT_TRUE(out->reconstruction.count("Orientation"));
  EXPECT_TRUE(out->reconstruction.count("Resampling"));
  EXPECT_LE(Distance(Centre(*out), Centre(in)), 1e-3);

  normalize::Recipe none;
  none.name = "none";
  absl::StatusOr<common::Volume> same = normalize::ApplyGeometry(in, none);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->voxels, in.voxels);
  EXPECT_EQ(same->direction, in.direction);
}

}  // namespace
}  // namespace tributary
