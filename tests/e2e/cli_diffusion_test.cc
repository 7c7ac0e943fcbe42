// End-to-end: diffusion-weighted series written here with DCMTK (known gradients), converted by
// `tributary convert` and by Debian's dcm2niix; both tools' b-vectors, turned back into world space
// through each tool's own NIfTI affine (read by nibabel), must be the gradients written, and the
// b-values equal. The de-identified copy (`tributary deidentify`) must give the same files.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e/server_process.h"
#include "tests/unit/synthetic_dicom.h"
#include "tests/unit/synthetic_series.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::Quote;
using testing::Shell;
using testing::SliceTruth;
using Vec = std::array<double, 3>;

constexpr const char* kDcm2niix = "/usr/bin/dcm2niix";

Vec Unit(Vec v) {
  double n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  return {v[0] / n, v[1] / n, v[2] / n};
}

// b = 0, then b = 1000 along three oblique directions (LPS).
struct Gradient {
  double b;
  Vec lps;
};
const std::vector<Gradient>& Gradients() {
  static const std::vector<Gradient> kGradients = {{0, {0, 0, 0}},
                                                   {1000, Unit({1, 0.2, -0.3})},
                                                   {1000, Unit({0.1, -1, 0.4})},
                                                   {1000, Unit({-0.3, 0.2, 1})}};
  return kGradients;
}

enum class Attributes { kStandard, kSiemens };

// The series: 3 slices per volume along the normal of (row, col).
std::vector<SliceTruth> Series(const Vec& row, const Vec& col, const std::string& uid) {
  Vec normal = {row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2],
                row[0] * col[1] - row[1] * col[0]};
  std::vector<SliceTruth> slices;
  for (std::size_t t = 0; t < Gradients().size(); ++t) {
    for (int k = 0; k < 3; ++k) {
      SliceTruth s;
      s.protocol = "dwi";
      s.series_uid = uid;
      s.orientation = {row[0], row[1], row[2], col[0], col[1], col[2]};
      for (int i = 0; i < 3; ++i) s.position[i] = -20.0 + 3.0 * k * normal[i] + 5.0 * i;
      s.dx = 2;
      s.dy = 2;
      s.time = t;
      s.instance_number = static_cast<int>(t * 3 + k + 1);
      testing::FillPattern(s, static_cast<int>(t * 3 + k));
      slices.push_back(s);
    }
  }
  return slices;
}

void AddDiffusion(DcmDataset& d, const Gradient& g, Attributes attributes) {
  d.putAndInsertString(DCM_Manufacturer, "SIEMENS");
  d.putAndInsertString(DCM_PatientPosition, "HFS");
  d.putAndInsertString(DCM_ImageType, "ORIGINAL\\PRIMARY\\DIFFUSION\\NONE");
  d.putAndInsertString(DCM_StudyInstanceUID, "1.2.826.0.1.3680043.2.1125.9.77");
  d.putAndInsertString(DCM_SeriesNumber, "7");
  if (attributes == Attributes::kSiemens) {
    d.putAndInsertString(DcmTagKey(0x0019, 0x0010), "SIEMENS MR HEADER");
    d.putAndInsertString(DcmTag(0x0019, 0x100C, EVR_IS),
                         std::to_string(static_cast<int>(g.b)).c_str());
    if (g.b > 0) {
      DcmTag tag(0x0019, 0x100E, EVR_FD);
      d.putAndInsertFloat64Array(tag, g.lps.data(), 3);
    }
    return;
  }
  DcmItem* item = nullptr;
  ASSERT_TRUE(d.findOrCreateSequenceItem(DCM_MRDiffusionSequence, item, 0).good());
  item->putAndInsertFloat64(DCM_DiffusionBValue, g.b);
  item->putAndInsertString(DCM_DiffusionDirectionality, g.b > 0 ? "DIRECTIONAL" : "NONE");
  if (g.b == 0) return;
  DcmItem* gradient = nullptr;
  ASSERT_TRUE(
      item->findOrCreateSequenceItem(DCM_DiffusionGradientDirectionSequence, gradient, 0).good());
  gradient->putAndInsertFloat64Array(DCM_DiffusionGradientOrientation, g.lps.data(), 3);
}

std::vector<std::vector<double>> ReadRows(const fs::path& path) {
  std::vector<std::vector<double>> rows;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    std::istringstream values(line);
    std::vector<double> row;
    for (double v; values >> v;) row.push_back(v);
    if (!row.empty()) rows.push_back(row);
  }
  return rows;
}

// One tool's output: its NIfTI affine (RAS, nibabel's sform) and its FSL files.
struct ToolOutput {
  std::array<std::array<double, 3>, 3> rotation{};  // affine columns, normalized
  double determinant = 0;
  std::vector<double> bvals;
  std::vector<std::vector<double>> bvecs;  // 3 rows
  std::string bval_text, bvec_text;

  // Volume t's b-vector in world space (LPS): FSL's x flip undone when the determinant is
  // positive, then the voxel axes turned into RAS, then RAS into LPS.
  Vec World(std::size_t t) const {
    Vec voxel = {bvecs[0][t], bvecs[1][t], bvecs[2][t]};
    if (determinant > 0) voxel[0] = -voxel[0];
    Vec ras = {0, 0, 0};
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) ras[r] += rotation[r][c] * voxel[c];
    return {-ras[0], -ras[1], ras[2]};
  }
};

ToolOutput ReadOutput(const fs::path& nii, const fs::path& bval, const fs::path& bvec) {
  ToolOutput out;
  CommandResult run = Shell(
      "/usr/bin/python3 -c 'import sys, json, nibabel; "
      "print(json.dumps(nibabel.load(sys.argv[1]).affine.tolist()))' " +
          Quote(nii),
      false);
  EXPECT_EQ(run.exit_code, 0) << run.out;
  if (run.exit_code != 0) return out;
  nlohmann::json affine = nlohmann::json::parse(run.out);
  for (int c = 0; c < 3; ++c) {
    double norm = 0;
    for (int r = 0; r < 3; ++r) norm += std::pow(affine[r][c].get<double>(), 2);
    for (int r = 0; r < 3; ++r) out.rotation[r][c] = affine[r][c].get<double>() / std::sqrt(norm);
  }
  const auto& m = out.rotation;
  out.determinant = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                    m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                    m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  std::vector<std::vector<double>> b = ReadRows(bval);
  if (!b.empty()) out.bvals = b[0];
  out.bvecs = ReadRows(bvec);
  out.bval_text = testing::ReadFile(bval);
  out.bvec_text = testing::ReadFile(bvec);
  return out;
}

// 180 degrees when either vector is zero (no direction where one was written).
double AngleDegrees(const Vec& a, const Vec& b) {
  auto zero = [](const Vec& v) { return v[0] == 0 && v[1] == 0 && v[2] == 0; };
  if (zero(a) || zero(b)) return 180;
  Vec ua = Unit(a), ub = Unit(b);
  double dot = ua[0] * ub[0] + ua[1] * ub[1] + ua[2] * ub[2];
  Vec cross = {ua[1] * ub[2] - ua[2] * ub[1], ua[2] * ub[0] - ua[0] * ub[2],
               ua[0] * ub[1] - ua[1] * ub[0]};
  double sine = std::sqrt(cross[0] * cross[0] + cross[1] * cross[1] + cross[2] * cross[2]);
  return std::atan2(sine, dot) * 180 / M_PI;
}

class CliDiffusion : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("trib_dwi_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    if (!fs::exists(kDcm2niix)) GTEST_SKIP() << "dcm2niix is not installed";
    if (Shell("/usr/bin/python3 -c 'import nibabel'").exit_code != 0)
      GTEST_SKIP() << "python3-nibabel is not installed for /usr/bin/python3";
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::vector<SliceTruth>& slices, Attributes attributes, const fs::path& to) {
    fs::create_directories(to);
    for (std::size_t i = 0; i < slices.size(); ++i) {
      auto file = testing::MakeSeriesSlice(slices[i], static_cast<int>(i));
      AddDiffusion(*file->getDataset(), Gradients()[slices[i].time], attributes);
      testing::WriteFile(to / ("IM" + std::to_string(i)), testing::Encode(*file));
    }
  }

  ToolOutput Tributary(const fs::path& in, const std::string& name) {
    fs::path out = dir_ / name;
    CommandResult run = Shell(std::string(TRIBUTARY_CLI) + " convert " + Quote(in) + " --out " +
                                  Quote(out) + " --no-compress --json",
                              false);
    EXPECT_EQ(run.exit_code, 0) << run.out;
    nlohmann::json report = nlohmann::json::parse(run.out);
    std::vector<std::string> outputs = report["series"][0]["outputs"];
    fs::path nii, bval, bvec;
    for (const std::string& o : outputs) {
      fs::path p(o);
      if (p.extension() == ".nii") nii = p;
      if (p.extension() == ".bval") bval = p;
      if (p.extension() == ".bvec") bvec = p;
    }
    EXPECT_FALSE(bval.empty()) << run.out;
    EXPECT_FALSE(bvec.empty()) << run.out;
    if (nii.empty() || bval.empty() || bvec.empty()) return {};
    return ReadOutput(nii, bval, bvec);
  }

  ToolOutput Dcm2niix(const fs::path& in, const std::string& name) {
    fs::path out = dir_ / name;
    fs::create_directories(out);
    CommandResult run =
        Shell(std::string(kDcm2niix) + " -b y -z n -f dcm -o " + Quote(out) + " " + Quote(in));
    EXPECT_EQ(run.exit_code, 0) << run.out;
    EXPECT_TRUE(fs::exists(out / "dcm.bvec")) << run.out;
    if (!fs::exists(out / "dcm.bvec")) return {};
    return ReadOutput(out / "dcm.nii", out / "dcm.bval", out / "dcm.bvec");
  }

  // Both tools, on the original series and on its de-identified copy.
  void Compare(const Vec& row, const Vec& col, Attributes attributes, const std::string& label) {
    Write(Series(row, col, "1.2.826.0.1.3680043.2.1125.9.70"), attributes, dir_ / "in");
    fs::path key = dir_ / "deid.key";
    ASSERT_EQ(Shell(std::string(TRIBUTARY_CLI) + " keygen --out " + Quote(key)).exit_code, 0);
    CommandResult deid = Shell(std::string(TRIBUTARY_CLI) + " deidentify " + Quote(dir_ / "in") +
                               " --key-file " + Quote(key) + " --out " + Quote(dir_ / "deid"));
    ASSERT_EQ(deid.exit_code, 0) << deid.out;

    ToolOutput ours = Tributary(dir_ / "in", "ours");
    ToolOutput theirs = Dcm2niix(dir_ / "in", "dcm2niix");
    ToolOutput ours_deid = Tributary(dir_ / "deid", "ours_deid");
    ToolOutput theirs_deid = Dcm2niix(dir_ / "deid", "dcm2niix_deid");
    EXPECT_EQ(ours_deid.bval_text, ours.bval_text);
    EXPECT_EQ(ours_deid.bvec_text, ours.bvec_text);

    const std::size_t n = Gradients().size();
    double max_ours = 0, max_theirs = 0, max_between = 0, max_deid = 0;
    for (const ToolOutput* tool : {&ours, &theirs, &ours_deid, &theirs_deid}) {
      ASSERT_EQ(tool->bvals.size(), n);
      ASSERT_EQ(tool->bvecs.size(), 3u);
      for (std::size_t t = 0; t < n; ++t) {
        EXPECT_EQ(tool->bvals[t], Gradients()[t].b) << label << " volume " << t;
        if (Gradients()[t].b == 0) {
          for (int a = 0; a < 3; ++a) EXPECT_EQ(tool->bvecs[a][t], 0) << label;
        }
      }
    }
    for (std::size_t t = 0; t < n; ++t) {
      if (Gradients()[t].b == 0) continue;
      const Vec& truth = Gradients()[t].lps;
      max_ours = std::max(max_ours, AngleDegrees(ours.World(t), truth));
      max_theirs = std::max(max_theirs, AngleDegrees(theirs.World(t), truth));
      max_between = std::max(max_between, AngleDegrees(ours.World(t), theirs.World(t)));
      max_deid = std::max({max_deid, AngleDegrees(theirs_deid.World(t), truth),
                           AngleDegrees(ours_deid.World(t), truth)});
    }
    std::cout << label << ": determinant ours " << ours.determinant << ", dcm2niix "
              << theirs.determinant << "; max angle to the written gradients: ours " << max_ours
              << " deg, dcm2niix " << max_theirs << " deg; ours vs dcm2niix " << max_between
              << " deg; de-identified copies " << max_deid << " deg\nours:\n"
              << ours.bvec_text << "dcm2niix:\n"
              << theirs.bvec_text;
    EXPECT_LT(max_ours, 0.01) << label;
    EXPECT_LT(max_theirs, 0.01) << label;
    EXPECT_LT(max_between, 0.01) << label;
    EXPECT_LT(max_deid, 0.01) << label;
  }

  fs::path dir_;
};

Vec Oblique(double degrees, const Vec& a, const Vec& b) {
  double r = degrees * M_PI / 180;
  return Unit({std::cos(r) * a[0] + std::sin(r) * b[0], std::cos(r) * a[1] + std::sin(r) * b[1],
               std::cos(r) * a[2] + std::sin(r) * b[2]});
}

// Axial rotated 10 degrees about z, then tilted 20 degrees about the new row direction.
std::pair<Vec, Vec> ObliqueAxial() {
  Vec row = Oblique(10, {1, 0, 0}, {0, 1, 0});
  Vec col0 = {-std::sin(10 * M_PI / 180), std::cos(10 * M_PI / 180), 0};
  return {row, Oblique(20, col0, {0, 0, 1})};
}

TEST_F(CliDiffusion, ObliqueAxialStandardAttributesMatchDcm2niix) {
  auto [row, col] = ObliqueAxial();
  Compare(row, col, Attributes::kStandard, "oblique axial, standard");
}

TEST_F(CliDiffusion, SagittalStandardAttributesMatchDcm2niix) {
  Compare({0, 1, 0}, {0, 0, -1}, Attributes::kStandard, "sagittal, standard");
}

TEST_F(CliDiffusion, ObliqueAxialSiemensPrivateAttributesMatchDcm2niix) {
  auto [row, col] = ObliqueAxial();
  Compare(row, col, Attributes::kSiemens, "oblique axial, Siemens");
}

TEST_F(CliDiffusion, SagittalObliqueSiemensPrivateAttributesMatchDcm2niix) {
  Vec row = Oblique(15, {0, 1, 0}, {1, 0, 0});
  Compare(row, {0, 0, -1}, Attributes::kSiemens, "oblique sagittal, Siemens");
}

}  // namespace
}  // namespace tributary
