// normalize/: NIfTI writing and reading through ITK, sidecars and output names.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>

#include "normalize/diffusion_files.h"
#include "normalize/gzip_file.h"
#include "normalize/nifti_io.h"
#include "normalize/sidecar.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;

common::Volume Oblique(common::PixelType type, std::size_t times) {
  common::Volume v;
  v.size = {5, 4, 3, times};
  v.spacing = {0.7, 1.3, 2.1};
  v.time_step = 2.5;
  v.origin = {-12.5, 30.25, 7.125};
  double a = 0.4;  // rotation about z, then the third axis is z
  v.direction = {std::cos(a), -std::sin(a), 0, std::sin(a), std::cos(a), 0, 0, 0, 1};
  v.pixel_type = type;
  v.voxels.resize(v.VoxelCount() * common::PixelSize(type));
  for (std::size_t i = 0; i < v.VoxelCount(); ++i) {
    double value = static_cast<double>(i % 200) + (type == common::PixelType::kFloat32 ? 0.25 : 0);
    std::byte* at = v.voxels.data() + i * common::PixelSize(type);
    switch (type) {
      case common::PixelType::kUint8: {
        auto x = static_cast<std::uint8_t>(value);
        std::memcpy(at, &x, 1);
        break;
      }
      case common::PixelType::kInt16: {
        auto x = static_cast<std::int16_t>(value - 100);
        std::memcpy(at, &x, 2);
        break;
      }
      case common::PixelType::kUint16: {
        auto x = static_cast<std::uint16_t>(value + 40000);
        std::memcpy(at, &x, 2);
        break;
      }
      case common::PixelType::kInt32: {
        auto x = static_cast<std::int32_t>(value - 70000);
        std::memcpy(at, &x, 4);
        break;
      }
      case common::PixelType::kFloat32: {
        auto x = static_cast<float>(value);
        std::memcpy(at, &x, 4);
        break;
      }
    }
  }
  return v;
}

double Value(const common::Volume& v, std::size_t i) { return v.ValueAt(i); }

struct RoundTrip {
  common::PixelType type;
  std::size_t times;
  const char* extension;
};

class NiftiRoundTrip : public ::testing::TestWithParam<RoundTrip> {};

TEST_P(NiftiRoundTrip, KeepsGeometryAndValues) {
  const RoundTrip& p = GetParam();
  common::Volume written = Oblique(p.type, p.times);
  fs::path path = fs::path(::testing::TempDir()) / ("normalize_" + std::to_string(::getpid()) +
                                                    "_" + std::to_string(static_cast<int>(p.type)) +
                                                    "_" + std::to_string(p.times) + p.extension);
  ASSERT_TRUE(normalize::WriteNifti(written, path.string()).ok());
  auto read = normalize::ReadNifti(path.string());
  fs::remove(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->size, written.size);
  for (int a = 0; a < 3; ++a) {
    EXPECT_NEAR(read->spacing[a], written.spacing[a], 1e-5);
    EXPECT_NEAR(read->origin[a], written.origin[a], 1e-4);
  }
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(read->direction[i], written.direction[i], 1e-5) << i;
  if (p.times > 1) {
    EXPECT_NEAR(read->time_step, 2.5, 1e-6);
  }
  for (std::size_t i = 0; i < written.VoxelCount(); ++i) {
    ASSERT_EQ(Value(*read, i), Value(written, i)) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, NiftiRoundTrip,
                         ::testing::Values(RoundTrip{common::PixelType::kUint8, 1, ".nii"},
                                           RoundTrip{common::PixelType::kInt16, 1, ".nii.gz"},
                                           RoundTrip{common::PixelType::kUint16, 2, ".nii"},
                                           RoundTrip{common::PixelType::kInt32, 1, ".nii"},
                                           RoundTrip{common::PixelType::kFloat32, 3, ".nii.gz"}));

TEST(NiftiWriter, RefusesABufferThatDoesNotMatch) {
  common::Volume v = Oblique(common::PixelType::kInt16, 1);
  v.voxels.pop_back();
  EXPECT_EQ(normalize::WriteNifti(v, ::testing::TempDir() + "bad.nii").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NiftiWriter, ReportsAnUnwritablePathAsAStatus) {
  common::Volume v = Oblique(common::PixelType::kInt16, 1);
  absl::Status status = normalize::WriteNifti(v, "/nonexistent/folder/out.nii");
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
}

TEST(NiftiReader, ReportsAMissingFileAsAStatus) {
  EXPECT_EQ(normalize::ReadNifti("/nonexistent/in.nii").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(OutputStem, FollowsDcm2niixProtocolSeriesNaming) {
  common::Volume v;
  v.protocol_name = "1A TRAUMA/PLAIN HEAD DM /Head";
  v.series_number = 201;
  EXPECT_EQ(normalize::OutputStem(v), "1A_TRAUMA_PLAIN_HEAD_DM_Head_201");
  v.protocol_name = "EPI PE=AP";
  v.series_number = 3;
  v.name_suffix = "_e2";
  EXPECT_EQ(normalize::OutputStem(v), "EPI_PE=AP_3_e2");
  v.protocol_name = "../..";
  v.name_suffix.clear();
  EXPECT_EQ(normalize::OutputStem(v), ".._.._3");
  v.protocol_name = "";
  EXPECT_EQ(normalize::OutputStem(v), "series_3");
}

TEST(Sidecar, HoldsAcquisitionKeysAndReconstructionDecisions) {
  common::Volume v = Oblique(common::PixelType::kInt16, 1);
  v.metadata["EchoTime"] = 0.03;
  v.metadata["ImageType"] = std::vector<std::string>{"ORIGINAL", "PRIMARY"};
  v.metadata["SeriesNumber"] = std::int64_t{5};
  v.reconstruction["Resampled"] = std::string("onto a regular grid");
  nlohmann::json json = nlohmann::json::parse(normalize::SidecarJson(v));
  EXPECT_DOUBLE_EQ(json["EchoTime"].get<double>(), 0.03);
  EXPECT_EQ(json["ImageType"][1], "PRIMARY");
  EXPECT_EQ(json["SeriesNumber"], 5);
  EXPECT_EQ(json["TributaryReconstruction"]["Resampled"], "onto a regular grid");
  EXPECT_EQ(json["TributaryReconstruction"]["Dimensions"][2], 3);
  EXPECT_DOUBLE_EQ(json["TributaryReconstruction"]["OriginLPS"][0].get<double>(), -12.5);
}

}  // namespace
}  // namespace tributary

namespace tributary::normalize {
namespace {

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Inflates exactly one gzip member that must span the whole of `gz`.
std::string InflateOneMember(const std::string& gz) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 16 + 15), Z_OK);
  std::string out;
  std::string chunk(1 << 16, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(chunk.data());
    z.avail_out = static_cast<uInt>(chunk.size());
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(chunk.data(), chunk.size() - z.avail_out);
  }
  EXPECT_EQ(rc, Z_STREAM_END) << "not a complete gzip member";
  EXPECT_EQ(z.avail_in, 0u) << "bytes after the first member";
  inflateEnd(&z);
  return out;
}

TEST(GzipFile, OneMemberThatInflatesToTheInputWhateverTheThreads) {
  std::string dir = ::testing::TempDir() + "gzip_" + std::to_string(::getpid()) + "/";
  std::filesystem::create_directories(dir);
  std::mt19937 random(7);
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{131071}, std::size_t{131072},
                           std::size_t{131073}, std::size_t{9 * 1024 * 1024 + 17}}) {
    std::string input(size, '\0');
    for (std::size_t i = 0; i < size; ++i) {
      // Runs that repeat across block boundaries (so the primed window matters), and noise.
      input[i] = (i / 40000) % 2 == 0 ? static_cast<char>("tributary"[i % 9])
                                      : static_cast<char>(random() & 0xFF);
    }
    const std::string in_path = dir + "in";
    std::ofstream(in_path, std::ios::binary) << input;
    std::string first;
    for (unsigned threads : {1u, 3u}) {
      const std::string out_path = dir + "out" + std::to_string(threads) + ".gz";
      ASSERT_TRUE(GzipFile(in_path, out_path, threads).ok());
      std::string gz = ReadWhole(out_path);
      EXPECT_EQ(InflateOneMember(gz), input) << size << " bytes, " << threads << " threads";
      if (first.empty()) first = gz;
      EXPECT_EQ(gz, first) << "output depends on the thread count";
      if (size > 1000) {
        EXPECT_LT(gz.size(), size) << "nothing was compressed";
      }
    }
    // An independent reader: gzip(1), when installed.
    if (std::system("command -v gzip >/dev/null 2>&1") == 0) {
      std::string check = "gzip -t '" + dir + "out1.gz'";
      EXPECT_EQ(std::system(check.c_str()), 0) << size;
    }
  }
  EXPECT_FALSE(GzipFile(dir + "missing", dir + "x.gz", 2).ok());
  std::filesystem::remove_all(dir);
}

// Hand-worked FSL b-vectors. A sagittal volume: i along +y (anterior to posterior), j along -z
// (head to feet), k along -x; det(direction) = +1, so FSL's x (i) is negated.
TEST(FslBvec, SagittalVolumeTakesWorldAxesToVoxelAxes) {
  common::Volume v;
  v.direction = {0, 0, -1, 1, 0, 0, 0, -1, 0};
  auto expect = [&](std::array<double, 3> lps, std::array<double, 3> bvec) {
    std::array<double, 3> got = normalize::FslBvec(v, lps);
    for (int a = 0; a < 3; ++a) EXPECT_NEAR(got[a], bvec[a], 1e-12) << a;
  };
  expect({1, 0, 0}, {0, 0, -1});  // world x (towards the left) is along -k
  expect({0, 1, 0}, {-1, 0, 0});  // world y is along +i, negated for FSL
  expect({0, 0, 1}, {0, -1, 0});  // world z is along -j
}

TEST(FslBvec, AxialVolumesFlipXOnlyWhenTheDeterminantIsPositive) {
  common::Volume v;  // identity: det +1
  std::array<double, 3> got = normalize::FslBvec(v, {0.6, 0.8, 0});
  EXPECT_NEAR(got[0], -0.6, 1e-12);
  EXPECT_NEAR(got[1], 0.8, 1e-12);
  v.direction = {1, 0, 0, 0, -1, 0, 0, 0, 1};  // rows stored bottom to top: det -1
  got = normalize::FslBvec(v, {0.6, 0.8, 0});
  EXPECT_NEAR(got[0], 0.6, 1e-12);
  EXPECT_NEAR(got[1], -0.8, 1e-12);
  EXPECT_NEAR(got[2], 0, 1e-12);
}

TEST(FslBvec, ObliqueVolumeProjectsOntoItsColumns) {
  common::Volume v;
  double c = std::cos(0.5), s = std::sin(0.5);  // rotated about z by 0.5 rad: det +1
  v.direction = {c, -s, 0, s, c, 0, 0, 0, 1};
  std::array<double, 3> got = normalize::FslBvec(v, {c, s, 0});  // along column i
  EXPECT_NEAR(got[0], -1, 1e-12);
  EXPECT_NEAR(got[1], 0, 1e-12);
  got = normalize::FslBvec(v, {0, 0, -1});
  EXPECT_NEAR(got[2], -1, 1e-12);
}

TEST(FslDiffusion, WritesDcm2niixLayoutAndNothingWithoutVariation) {
  common::Volume v;
  v.size = {2, 2, 2, 3};
  EXPECT_FALSE(normalize::FslDiffusion(v).has_value());
  v.diffusion = {{0, {0, 0, 0}}, {1000, {1, 0, 0}}, {1000, {0, 0.6, 0.8}}};
  std::optional<normalize::FslDiffusionText> text = normalize::FslDiffusion(v);
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(text->bval, "0 1000 1000\n");
  EXPECT_EQ(text->bvec, "0 -1 0\n0 0 0.6\n0 0 0.8\n");
  v.diffusion = {{1000, {1, 0, 0}}, {1000, {1, 0, 0}}, {1000, {1, 0, 0}}};
  EXPECT_FALSE(normalize::FslDiffusion(v).has_value());
  v.diffusion.pop_back();  // not one per volume
  EXPECT_FALSE(normalize::FslDiffusion(v).has_value());
}

}  // namespace
}  // namespace tributary::normalize
