#include "dicom/stack_geometry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <vector>

namespace tributary::dicom {
namespace {

// Axial slices: the normal is +z, so a slice's depth is its z.
const Vec3 kAxial = {0, 0, 1};

// Input order is temporal order.
bool InputOrder(std::size_t a, std::size_t b) { return a < b; }

std::vector<Vec3> AtZ(const std::vector<double>& zs) {
  std::vector<Vec3> positions;
  for (double z : zs) positions.push_back({0, 0, z});
  return positions;
}

using Planes = std::vector<std::vector<std::size_t>>;

TEST(StackGeometry, RegularSlicesTakeTheirSpacingFromPositions) {
  absl::StatusOr<StackGeometry> g = StackGeometry::Place(kAxial, AtZ({0, 2, 4}), InputOrder);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->planes, (Planes{{0}, {1}, {2}}));
  EXPECT_EQ(g->plane_depths, (std::vector<double>{0, 2, 4}));
  EXPECT_EQ(g->time_points, 1u);
  EXPECT_EQ(g->slice_count, 3u);
  EXPECT_DOUBLE_EQ(g->spacing, 2);
  EXPECT_DOUBLE_EQ(g->extent, 4);
  EXPECT_DOUBLE_EQ(g->max_deviation, 0);
  EXPECT_FALSE(g->irregular);
  EXPECT_FALSE(g->tilted);
}

TEST(StackGeometry, SortsAlongTheNormalWhateverTheInputOrder) {
  absl::StatusOr<StackGeometry> g = StackGeometry::Place(kAxial, AtZ({4, 0, 2}), InputOrder);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->planes, (Planes{{1}, {2}, {0}}));
  EXPECT_DOUBLE_EQ(g->spacing, 2);
}

TEST(StackGeometry, ObliqueSlicesAreSpacedAlongTheirNormal) {
  // Normal (0, 0.6, 0.8); slices 3 mm apart along it: z alone would say 2.4 mm.
  const Vec3 normal = {0, 0.6, 0.8};
  std::vector<Vec3> positions = {{0, 0, 0}, {0, 1.8, 2.4}, {0, 3.6, 4.8}};
  absl::StatusOr<StackGeometry> g = StackGeometry::Place(normal, positions, InputOrder);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->slice_count, 3u);
  EXPECT_NEAR(g->spacing, 3, 1e-9);
  EXPECT_FALSE(g->tilted);
}

TEST(StackGeometry, JitterWithinToleranceIsNotAGap) {
  // Steps 2.1 and 1.9: 0.1 mm from the mean step of 2, under the 0.2 mm tolerance.
  absl::StatusOr<StackGeometry> g = StackGeometry::Place(kAxial, AtZ({0, 2.1, 4}), InputOrder);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_FALSE(g->irregular);
  EXPECT_NEAR(g->max_deviation, 0.1, 1e-9);
  EXPECT_EQ(g->slice_count, 3u);
  EXPECT_DOUBLE_EQ(g->spacing, 2);
}

TEST(StackGeometry, AMissingSliceIsAGapFilledOnTheMedianStep) {
  // z = 6 is missing: steps 2, 2, 4, 2 against a mean of 10 / 4 = 2.5; the median step is 2, so
  // the grid has 10 / 2 + 1 = 6 slices.
  absl::StatusOr<StackGeometry> g = StackGeometry::Place(kAxial, AtZ({0, 2, 4, 8, 10}), InputOrder);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(g->irregular);
  EXPECT_DOUBLE_EQ(g->max_deviation, 1.5);
  EXPECT_DOUBLE_EQ(g->median_step, 2);
  EXPECT_EQ(g->slice_count, 6u);
  EXPECT_DOUBLE_EQ(g->spacing, 2);
  EXPECT_FALSE(g->tilted);
}

TEST(StackGeometry, GapsTooIrregularToResampleFail) {
  // Steps 0.1, 0.1, 99.8: the median step 0.1 would make 1001 slices out of 4.
  absl::StatusOr<StackGeometry> g =
      StackGeometry::Place(kAxial, AtZ({0, 0.1, 0.2, 100}), InputOrder);
  EXPECT_EQ(g.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(StackGeometry, AnInPlaneShiftIsTilt) {
  // Each slice 1 mm further along y per 2 mm along the normal: a tilt of atan(1/2) = 26.565 deg.
  std::vector<Vec3> positions = {{0, 0, 0}, {0, 1, 2}, {0, 2, 4}};
  absl::StatusOr<StackGeometry> g = StackGeometry::Place(kAxial, positions, InputOrder);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(g->tilted);
  EXPECT_DOUBLE_EQ(g->max_shift, 2);
  EXPECT_NEAR(g->tilt_degrees, 26.565051, 1e-6);
  EXPECT_FALSE(g->irregular);
  EXPECT_DOUBLE_EQ(g->spacing, 2);
}

TEST(StackGeometry, RepeatedPositionsAreTimePoints) {
  // Two volumes of three slices, acquired one volume after the other.
  absl::StatusOr<StackGeometry> g =
      StackGeometry::Place(kAxial, AtZ({0, 2, 4, 0, 2, 4}), InputOrder);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->time_points, 2u);
  EXPECT_EQ(g->planes, (Planes{{0, 3}, {1, 4}, {2, 5}}));
  EXPECT_EQ(g->slice_count, 3u);
  EXPECT_DOUBLE_EQ(g->spacing, 2);
}

TEST(StackGeometry, TimePointsFollowTheTemporalOrderNotTheInputOrder) {
  auto later_first = [](std::size_t a, std::size_t b) { return a > b; };
  absl::StatusOr<StackGeometry> g = StackGeometry::Place(kAxial, AtZ({0, 0, 2, 2}), later_first);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->planes, (Planes{{1, 0}, {3, 2}}));
}

TEST(StackGeometry, PositionsCloserThanAHundredthOfAMillimetreAreOne) {
  absl::StatusOr<StackGeometry> g = StackGeometry::Place(kAxial, AtZ({0, 0.005}), InputOrder);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->planes, (Planes{{0, 1}}));
  EXPECT_EQ(g->time_points, 2u);
}

TEST(StackGeometry, UnequalRepeatsFail) {
  // Two images at z = 0, one at z = 2: an incomplete 4D series.
  absl::StatusOr<StackGeometry> g = StackGeometry::Place(kAxial, AtZ({0, 0, 2}), InputOrder);
  EXPECT_EQ(g.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(StackGeometry, ASingleSliceIsOnePlane) {
  absl::StatusOr<StackGeometry> g = StackGeometry::Place(kAxial, AtZ({7}), InputOrder);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->planes, (Planes{{0}}));
  EXPECT_EQ(g->plane_depths, (std::vector<double>{7}));
  EXPECT_EQ(g->slice_count, 1u);
}

}  // namespace
}  // namespace tributary::dicom
