// The QC picture read back by an independent reader (Pillow, from Debian's /usr/bin/python3).
#include "normalize/qc_picture.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace tributary {
namespace {

namespace fs = std::filesystem;

std::string Capture(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) out += buffer;
  ::pclose(pipe);
  return out;
}

// 20 x 30 x 40 voxels of 1 x 2 x 0.5 mm, axes along LPS: brighter on the patient's left
// (i >= 15), superior (k >= 30) and anterior (j <= 5) sides.
common::Volume Phantom() {
  common::Volume v;
  v.size = {20, 30, 40, 1};
  v.spacing = {1, 2, 0.5};
  v.pixel_type = common::PixelType::kFloat32;
  v.voxels.resize(v.VoxelCount() * sizeof(float));
  auto* out = reinterpret_cast<float*>(v.voxels.data());
  for (std::size_t k = 0; k < 40; ++k) {
    for (std::size_t j = 0; j < 30; ++j) {
      for (std::size_t i = 0; i < 20; ++i) {
        out[i + 20 * (j + 30 * k)] =
            10.0f + (i >= 15 ? 100.0f : 0.0f) + (k >= 30 ? 50.0f : 0.0f) + (j <= 5 ? 25.0f : 0.0f);
      }
    }
  }
  return v;
}

TEST(QcPicture, ShowsTheThreeMidPlanesInRadiologicalOrientation) {
  if (Capture("/usr/bin/python3 -c 'import PIL; print(1)'") != "1\n")
    GTEST_SKIP() << "python3-pil is not installed for /usr/bin/python3";
  fs::path png = fs::temp_directory_path() / ("qc_" + std::to_string(::getpid()) + ".png");
  ASSERT_TRUE(normalize::WriteQcPicture(Phantom(), png.string()).ok());
  fs::path script = png.string() + ".py";
  std::ofstream(script) << R"(
import json, sys
from PIL import Image
im = Image.open(sys.argv[1]); px = im.load()
def mean(x0, x1, y0, y1):
    v = [px[x, y] for x in range(x0, x1) for y in range(y0, y1)]
    return sum(v) / len(v)
print(json.dumps({"mode": im.mode, "size": im.size,
  "axial_left": mean(15, 20, 20, 60), "axial_right_of_patient": mean(0, 15, 20, 60),
  "axial_anterior": mean(0, 15, 0, 12), "axial_posterior": mean(0, 15, 12, 60),
  "coronal_superior": mean(20, 50, 10, 20), "coronal_inferior": mean(20, 50, 30, 50),
  "sagittal_anterior": mean(60, 84, 30, 50), "sagittal_posterior": mean(84, 180, 30, 50)}))
)";
  nlohmann::json r =
      nlohmann::json::parse(Capture("/usr/bin/python3 " + script.string() + " " + png.string()));
  fs::remove(png);
  fs::remove(script);
  // Panels: axial 20 x 60 px (1 mm pixels), coronal 40 x 40 and sagittal 120 x 40 (0.5 mm),
  // side by side: 180 x 60, 8-bit grey.
  EXPECT_EQ(r["mode"], "L");
  EXPECT_EQ(r["size"], nlohmann::json::array({180, 60}));
  EXPECT_GT(r["axial_left"].get<double>(), r["axial_right_of_patient"].get<double>() + 50);
  EXPECT_GT(r["axial_anterior"].get<double>(), r["axial_posterior"].get<double>() + 10);
  // Coronal panel (x 20..60, centred vertically: rows 10..50): superior at the top.
  EXPECT_GT(r["coronal_superior"].get<double>(), r["coronal_inferior"].get<double>() + 10);
  // Sagittal panel (x 60..180): anterior on the left.
  EXPECT_GT(r["sagittal_anterior"].get<double>(), r["sagittal_posterior"].get<double>() + 10);
}

}  // namespace
}  // namespace tributary
