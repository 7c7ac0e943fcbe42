// normalize/: CT HU clipping and padding, MR foreground scaling and Nyul standardization across
// two synthetic sites, PET SUVbw per QIBA. Expectations are worked out from the definitions.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "common/hash.h"
#include "normalize/ct_intensity.h"
#include "normalize/mr_intensity.h"
#include "normalize/nyul_model.h"
#include "normalize/suv_calibration.h"

namespace tributary::normalize {
namespace {

common::Volume FloatVolumeOf(std::array<std::size_t, 4> size, const std::vector<float>& values) {
  common::Volume v;
  v.size = size;
  v.spacing = {1.5, 1.5, 1.5};
  v.pixel_type = common::PixelType::kFloat32;
  v.voxels.resize(values.size() * sizeof(float));
  std::memcpy(v.voxels.data(), values.data(), v.voxels.size());
  return v;
}

std::vector<double> Values(const common::Volume& v) {
  std::vector<double> out(v.VoxelCount());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = v.ValueAt(i);
  return out;
}

// ---- CT ----

common::Volume CtVolume(const std::vector<std::int16_t>& hu) {
  common::Volume v;
  v.size = {hu.size(), 1, 1, 1};
  v.pixel_type = common::PixelType::kInt16;
  v.voxels.resize(hu.size() * 2);
  std::memcpy(v.voxels.data(), hu.data(), v.voxels.size());
  v.metadata["Modality"] = std::string("CT");
  return v;
}

TEST(CtIntensity, ClipsToTheHuWindow) {
  auto out = NormalizeCt(CtVolume({-3000, -1024, -1000, 0, 40, 1000, 3071, 3072, 5000}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->pixel_type, common::PixelType::kFloat32);
  EXPECT_EQ(Values(*out),
            (std::vector<double>{-1024, -1024, -1000, 0, 40, 1000, 3071, 3071, 3071}));
  CtIntensityOptions narrow;
  narrow.min_hu = -100;
  narrow.max_hu = 200;
  auto windowed = NormalizeCt(CtVolume({-3000, -101, -100, 0, 200, 201}), narrow);
  ASSERT_TRUE(windowed.ok());
  EXPECT_EQ(Values(*windowed), (std::vector<double>{-100, -100, -100, 0, 200, 200}));
}

TEST(CtIntensity, MasksTheVoxelsDicomFilledForPadding) {
  // dicom/ filled two padding voxels with the lowest real value (-1200) and recorded it.
  common::Volume v = CtVolume({-1200, 30, -1200, -500, 2000});
  v.reconstruction["FillValue"] = -1200.0;
  v.reconstruction["FilledVoxels"] = std::int64_t{2};
  EXPECT_EQ(CtPaddingMask(v), (std::vector<std::uint8_t>{1, 0, 1, 0, 0}));
  CtIntensityOptions options;
  options.padding_hu = -2000;
  auto out = NormalizeCt(v, options);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(Values(*out), (std::vector<double>{-2000, 30, -2000, -500, 2000}));
  EXPECT_EQ(std::get<std::int64_t>(out->reconstruction.at("PaddingVoxelsMaskedByIntensity")), 2);
  // Nothing filled: nothing masked, -1200 is clipped like any other value.
  common::Volume unpadded = CtVolume({-1200, 30});
  EXPECT_EQ(CtPaddingMask(unpadded), (std::vector<std::uint8_t>{0, 0}));
  EXPECT_EQ(Values(*NormalizeCt(unpadded)), (std::vector<double>{-1024, 30}));
}

TEST(CtIntensity, RefusesOtherModalities) {
  common::Volume v = CtVolume({0});
  v.metadata["Modality"] = std::string("MR");
  EXPECT_EQ(NormalizeCt(v).status().code(), absl::StatusCode::kFailedPrecondition);
}

// ---- MR: a phantom through two scanners ----

constexpr std::size_t kN = 40;

struct Site {
  double gain, offset, gamma, noise;
  double bias_x, bias_y, bias_z, bias_quadratic;  // log bias field coefficients
};
const Site kSiteA = {1000, 0, 1.0, 8, 0.10, -0.05, 0.04, 0.00};
const Site kSiteB = {2600, 300, 0.75, 20, -0.06, 0.08, 0.00, 0.10};

// Latent tissue of subject `s`: background 0, "grey" 0.65, "white" 0.9, two "ventricles" 0.45,
// with a texture that belongs to the subject (the same at every site).
std::vector<double> Anatomy(int s, std::vector<std::uint8_t>* head) {
  std::mt19937 rng(1000 + s);
  std::normal_distribution<double> texture(0, 0.03);
  const double grow = 0.5 * (s % 3) - 0.5;
  std::vector<double> latent(kN * kN * kN, 0);
  head->assign(latent.size(), 0);
  for (std::size_t k = 0; k < kN; ++k) {
    for (std::size_t j = 0; j < kN; ++j) {
      for (std::size_t i = 0; i < kN; ++i) {
        double x = i - 19.5, y = j - 19.5, z = k - 19.5;
        auto inside = [&](double a, double b, double c) {
          return x * x / (a * a) + y * y / (b * b) + z * z / (c * c) <= 1;
        };
        std::size_t at = (k * kN + j) * kN + i;
        double t = texture(rng);
        if (!inside(17 + grow, 15 + grow, 16 + grow)) continue;
        (*head)[at] = 1;
        double value = 0.65;
        if (inside(12 + grow, 10 + grow, 11)) value = 0.9;
        double vx = std::abs(x) - 4;
        if (vx * vx + y * y + z * z <= 3.5 * 3.5) value = 0.45;
        latent[at] = value + t;
      }
    }
  }
  return latent;
}

common::Volume Scan(const std::vector<double>& latent, const Site& site, int seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0, site.noise);
  std::vector<float> values(latent.size());
  for (std::size_t k = 0; k < kN; ++k) {
    for (std::size_t j = 0; j < kN; ++j) {
      for (std::size_t i = 0; i < kN; ++i) {
        double x = (i - 19.5) / 20, y = (j - 19.5) / 20, z = (k - 19.5) / 20;
        double bias = std::exp(site.bias_x * x + site.bias_y * y + site.bias_z * z +
                               site.bias_quadratic * (x * x + y * y - 0.5));
        std::size_t at = (k * kN + j) * kN + i;
        double signal = site.offset + site.gain * std::pow(bias * latent[at], site.gamma);
        values[at] = static_cast<float>(signal + noise(rng));
      }
    }
  }
  common::Volume v = FloatVolumeOf({kN, kN, kN, 1}, values);
  v.metadata["Modality"] = std::string("MR");
  return v;
}

std::vector<double> Foreground(const common::Volume& v, const std::vector<std::uint8_t>& mask) {
  std::vector<double> out;
  for (std::size_t i = 0; i < mask.size(); ++i) {
    if (mask[i]) out.push_back(v.ValueAt(i));
  }
  return out;
}

// Wasserstein-1 between two samples: the integral of |F_a(x) - F_b(x)| over x.
double Wasserstein1(std::vector<double> a, std::vector<double> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::size_t i = 0, j = 0;
  double distance = 0, x = std::min(a.front(), b.front());
  while (i < a.size() || j < b.size()) {
    double next = j == b.size() || (i < a.size() && a[i] <= b[j]) ? a[i] : b[j];
    distance += std::abs(static_cast<double>(i) / a.size() - static_cast<double>(j) / b.size()) *
                (next - x);
    x = next;
    while (i < a.size() && a[i] == x) ++i;
    while (j < b.size() && b[j] == x) ++j;
  }
  return distance;
}

double PooledSd(const std::vector<double>& a, const std::vector<double>& b) {
  auto variance = [](const std::vector<double>& v) {
    double mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size(), sum = 0;
    for (double x : v) sum += (x - mean) * (x - mean);
    return sum / v.size();
  };
  return std::sqrt((variance(a) + variance(b)) / 2);
}

TEST(Wasserstein1, MatchesHandWorkedSamples) {
  EXPECT_DOUBLE_EQ(Wasserstein1({0, 1}, {0, 1}), 0);
  EXPECT_DOUBLE_EQ(Wasserstein1({0, 1}, {2, 3}), 2);  // a shift by 2
  EXPECT_DOUBLE_EQ(Wasserstein1({0}, {0, 1}), 0.5);   // half the mass moves by 1
}

MrIntensityOptions WithN4(MrScaling scaling) {
  MrIntensityOptions options;
  options.scaling = scaling;
  options.bias_correction = true;
  options.bias.shrink_factor = 2;
  return options;
}

TEST(MrIntensity, ZScoreAndPercentileOfTheForeground) {
  // Foreground 10, 20, 30, 40 (mean 25, SD sqrt(125)), background 0.
  common::Volume v = FloatVolumeOf({8, 1, 1, 1}, {0, 0, 10, 20, 30, 40, 0, 0});
  MaskedVolume prepared{v, {0, 0, 1, 1, 1, 1, 0, 0}};
  MrIntensityOptions z;
  auto scaled = ScaleMr(prepared, z);
  ASSERT_TRUE(scaled.ok()) << scaled.status();
  std::vector<double> values = Values(*scaled);
  const double sd = std::sqrt(125.0);
  EXPECT_NEAR(values[2], -15 / sd, 1e-6);
  EXPECT_NEAR(values[5], 15 / sd, 1e-6);
  EXPECT_NEAR(values[0], -25 / sd, 1e-6);
  MrIntensityOptions p;
  p.scaling = MrScaling::kPercentile;
  p.percentile_low = 0;
  p.percentile_high = 100;
  values = Values(*ScaleMr(prepared, p));
  EXPECT_NEAR(values[2], 0, 1e-6);
  EXPECT_NEAR(values[5], 1, 1e-6);
  EXPECT_NEAR(values[3], 1.0 / 3, 1e-6);
  // numpy: percentile 50 of {10, 20, 30, 40} is 25 -> with p 50..100: (20 - 25) / 15.
  p.percentile_low = 50;
  EXPECT_NEAR(Values(*ScaleMr(prepared, p))[3], -5.0 / 15, 1e-6);
}

TEST(MrIntensity, FourDimensionalUsesTheFirstTimePointsMask) {
  // Time point 0: foreground {2, 4} above the mean; time point 1: the same voxels hold 10, 30.
  common::Volume v = FloatVolumeOf({4, 1, 1, 2}, {0, 2, 4, 0, 100, 10, 30, 100});
  MrIntensityOptions options;
  options.foreground = ForegroundMethod::kAboveMean;
  auto out = NormalizeMr(v, options);
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<double> values = Values(*out);
  EXPECT_NEAR(values[1], -1, 1e-6);
  EXPECT_NEAR(values[2], 1, 1e-6);
  EXPECT_NEAR(values[5], -1, 1e-6);
  EXPECT_NEAR(values[6], 1, 1e-6);
  EXPECT_NEAR(values[4], 8, 1e-6);  // (100 - 20) / 10
}

TEST(MrIntensity, OtsuFindsThePhantom) {
  std::vector<std::uint8_t> head;
  std::vector<double> latent = Anatomy(0, &head);
  for (const Site& site : {kSiteA, kSiteB}) {
    auto mask = ForegroundMask(Scan(latent, site, 7), ForegroundMethod::kOtsu);
    ASSERT_TRUE(mask.ok()) << mask.status();
    std::size_t differ = 0;
    for (std::size_t i = 0; i < head.size(); ++i) differ += (*mask)[i] != head[i];
    EXPECT_LT(differ, head.size() / 1000);
  }
}

TEST(NyulModel, HarmonizesTwoSites) {
  // Train on subjects 1..4 at each site; the held-out subject 0 is scanned at both.
  std::vector<MaskedVolume> training;
  NyulTrainingOptions options;
  options.recipe = "test-recipe";
  const MrIntensityOptions nyul = WithN4(MrScaling::kNyul);
  for (int s = 1; s <= 4; ++s) {
    std::vector<std::uint8_t> head;
    std::vector<double> latent = Anatomy(s, &head);
    for (const Site* site : {&kSiteA, &kSiteB}) {
      auto prepared = PrepareMr(Scan(latent, *site, 100 * s + (site == &kSiteA)), nyul);
      ASSERT_TRUE(prepared.ok()) << prepared.status();
      training.push_back(std::move(*prepared));
      options.training_series.push_back(ToHex(Sha256(std::to_string(training.size()))));
    }
  }
  auto model = TrainNyul(training, options);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_NEAR(model->standard_scale.front(), 1, 1e-9);
  EXPECT_NEAR(model->standard_scale.back(), 100, 1e-9);

  std::vector<std::uint8_t> head;
  std::vector<double> latent = Anatomy(0, &head);
  const common::Volume a = Scan(latent, kSiteA, 1), b = Scan(latent, kSiteB, 2);
  auto w1 = [&](const common::Volume& x, const common::Volume& y) {
    std::vector<double> fx = Foreground(x, head), fy = Foreground(y, head);
    return Wasserstein1(fx, fy) / PooledSd(fx, fy);
  };
  const double raw = w1(a, b);
  auto za = NormalizeMr(a, WithN4(MrScaling::kZScore));
  auto zb = NormalizeMr(b, WithN4(MrScaling::kZScore));
  ASSERT_TRUE(za.ok() && zb.ok());
  const double zscore = w1(*za, *zb);
  auto na = NormalizeMr(a, nyul, &*model), nb = NormalizeMr(b, nyul, &*model);
  ASSERT_TRUE(na.ok() && nb.ok()) << na.status() << nb.status();
  const double standardized = w1(*na, *nb);
  std::printf("foreground W1 between sites (pooled-SD units): raw %.4f, z-score %.4f, Nyul %.4f\n",
              raw, zscore, standardized);
  RecordProperty("W1Raw", std::to_string(raw));
  RecordProperty("W1ZScore", std::to_string(zscore));
  RecordProperty("W1Nyul", std::to_string(standardized));
  EXPECT_LT(standardized, 0.02);
  EXPECT_LT(standardized * 10, raw);
  EXPECT_EQ(std::get<std::string>(na->reconstruction.at("IntensityModel")),
            NyulModelDigest(*model));
}

NyulModel SmallModel() {
  NyulModel m;
  m.landmark_percentiles = {1, 50, 99};
  m.standard_scale = {1, 40, 100};
  m.recipe = "r";
  m.training_series = {"aa", "bb"};
  m.tributary_version = "0.1.0";
  return m;
}

TEST(NyulModel, ApplyMapsLandmarksPiecewiseLinearly) {
  // Foreground 0..100 in steps of 1 (101 voxels): percentile p is p itself.
  std::vector<float> ramp(101);
  std::iota(ramp.begin(), ramp.end(), 0.0f);
  MaskedVolume input{FloatVolumeOf({101, 1, 1, 1}, ramp), std::vector<std::uint8_t>(101, 1)};
  auto out = ApplyNyul(input, SmallModel());
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<double> v = Values(*out);
  EXPECT_NEAR(v[1], 1, 1e-5);
  EXPECT_NEAR(v[50], 40, 1e-5);
  EXPECT_NEAR(v[99], 100, 1e-5);
  EXPECT_NEAR(v[25], 1 + 24 * 39.0 / 49, 1e-4);
  EXPECT_NEAR(v[0], 1 - 39.0 / 49, 1e-4);  // below p1: the first segment extended
  EXPECT_NEAR(v[100], 100 + 60.0 / 49, 1e-4);
}

TEST(NyulModel, TrainingNeedsTwoSeries) {
  std::vector<float> ramp(101);
  std::iota(ramp.begin(), ramp.end(), 0.0f);
  std::vector<MaskedVolume> one = {
      {FloatVolumeOf({101, 1, 1, 1}, ramp), std::vector<std::uint8_t>(101, 1)}};
  NyulTrainingOptions options;
  options.recipe = "r";
  options.training_series = {"aa"};
  absl::Status status = TrainNyul(one, options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("at least two series"), std::string::npos) << status;
}

TEST(NyulModel, TrainsTheAverageOfMappedLandmarks) {
  // Series 1: foreground 0..100; series 2: 0..100 squared / 100. Percentiles 0, 50, 100.
  std::vector<float> ramp(101), squared(101);
  for (int i = 0; i <= 100; ++i) {
    ramp[i] = static_cast<float>(i);
    squared[i] = static_cast<float>(i * i / 100.0);
  }
  std::vector<MaskedVolume> series = {
      {FloatVolumeOf({101, 1, 1, 1}, ramp), std::vector<std::uint8_t>(101, 1)},
      {FloatVolumeOf({101, 1, 1, 1}, squared), std::vector<std::uint8_t>(101, 1)}};
  NyulTrainingOptions options;
  options.landmark_percentiles = {0, 50, 100};
  options.scale_min = 0;
  options.scale_max = 100;
  options.recipe = "r";
  options.training_series = {"aa", "bb"};
  auto model = TrainNyul(series, options);
  ASSERT_TRUE(model.ok()) << model.status();
  // Median: 50 -> 50 and 25 -> 25; averaged 37.5.
  EXPECT_NEAR(model->standard_scale[0], 0, 1e-6);
  EXPECT_NEAR(model->standard_scale[1], 37.5, 1e-4);
  EXPECT_NEAR(model->standard_scale[2], 100, 1e-6);
}

TEST(NyulModel, SavesLoadsAndHashesCanonicalJson) {
  NyulModel m = SmallModel();
  const std::string json = NyulModelJson(m);
  EXPECT_EQ(json, R"({"landmarks_percentiles":[1.0,50.0,99.0],"method":"nyul","recipe":"r",)"
                  R"("standard_scale":[1.0,40.0,100.0],"training_series":["aa","bb"],)"
                  R"("tributary_version":"0.1.0"})");
  EXPECT_EQ(NyulModelDigest(m), ToHex(Sha256(json)));
  const std::string path =
      (std::filesystem::temp_directory_path() / ("nyul_" + std::to_string(getpid()) + ".json"))
          .string();
  ASSERT_TRUE(SaveNyulModel(m, path).ok());
  std::ifstream in(path, std::ios::binary);
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(file, json);  // the file's SHA-256 is the model digest
  auto loaded = LoadNyulModel(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(NyulModelDigest(*loaded), NyulModelDigest(m));
  std::filesystem::remove(path);
  EXPECT_EQ(LoadNyulModel(path).status().code(), absl::StatusCode::kNotFound);
}

TEST(NyulModel, ValidationNamesTheField) {
  struct Case {
    std::string json;
    std::string field;
  };
  const std::string tail = R"("recipe":"r","training_series":["aa","bb"],"tributary_version":"1"})";
  const std::vector<Case> cases = {
      {R"({"method":"zscore","landmarks_percentiles":[1,50,99],"standard_scale":[1,2,3],)" + tail,
       "'method'"},
      {R"({"method":"nyul","landmarks_percentiles":[1,99],"standard_scale":[1,2],)" + tail,
       "'landmarks_percentiles'"},
      {R"({"method":"nyul","landmarks_percentiles":[1,50,40],"standard_scale":[1,2,3],)" + tail,
       "'landmarks_percentiles'"},
      {R"({"method":"nyul","landmarks_percentiles":[1,50,99],"standard_scale":[1,2],)" + tail,
       "'standard_scale'"},
      {R"({"method":"nyul","landmarks_percentiles":[1,50,99],"standard_scale":[1,3,2],)" + tail,
       "'standard_scale'"},
      {R"({"method":"nyul","landmarks_percentiles":[1,50,99],"standard_scale":"x",)" + tail,
       "'standard_scale'"},
      {R"({"method":"nyul","landmarks_percentiles":[1,50,99],"standard_scale":[1,2,3],)"
       R"("recipe":"r","training_series":["aa"],"tributary_version":"1"})",
       "'training_series'"},
      {R"({"method":"nyul","landmarks_percentiles":[1,50,99],"standard_scale":[1,2,3],)"
       R"("training_series":["aa","bb"],"tributary_version":"1"})",
       "'recipe'"},
      {R"({"method":"nyul","landmarks_percentiles":[1,50,99],"standard_scale":[1,2,3],)"
       R"("recipe":"r","training_series":["aa","bb"]})",
       "'tributary_version'"},
      {R"({"method":"nyul","landmarks_percentiles":[1,50,99],"standard_scale":[1,2,3],)"
       R"("extra":1,)" +
           tail,
       "'extra'"},
  };
  for (const Case& c : cases) {
    absl::Status status = ParseNyulModel(c.json).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_NE(status.message().find(c.field), std::string::npos) << status << " / " << c.field;
  }
  EXPECT_EQ(ParseNyulModel("{not json").status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- PET ----

// 370 MBq F-18 (half-life 6586.2 s) injected at 09:00, series at 10:00, 70 kg.
common::Metadata PetMetadata() {
  common::Metadata m;
  m["Modality"] = std::string("PT");
  m["Units"] = std::string("BQML");
  m["DecayCorrection"] = std::string("START");
  m["CorrectedImage"] = std::vector<std::string>{"NORM", "DECY", "ATTN", "SCAT"};
  m["PatientWeight"] = 70.0;
  m["RadionuclideTotalDose"] = 370e6;
  m["RadionuclideHalfLife"] = 6586.2;
  m["RadiopharmaceuticalStartTime"] = std::string("09:00:00.000000");
  m["SeriesDateTime"] = std::string("2024-03-15T10:00:00.000000");
  m["AcquisitionDateTime"] = std::string("2024-03-15T10:00:00.000000");
  return m;
}

common::Volume PetVolume(const common::Metadata& m) {
  common::Volume v = FloatVolumeOf({2, 1, 1, 1}, {1000, 0});
  v.metadata = m;
  return v;
}

// By hand: decayed dose 370e6 * 2^(-3600 / 6586.2) = 253314180 Bq; SUV = 1000 * 70000 / that.
constexpr double kSuvAfterOneHour = 0.27633668;

TEST(SuvBw, DecaysTheDoseFromInjectionToSeriesTime) {
  auto suv = ToSuvBw(PetVolume(PetMetadata()));
  ASSERT_TRUE(suv.ok()) << suv.status();
  EXPECT_NEAR(suv->ValueAt(0), kSuvAfterOneHour, kSuvAfterOneHour * 1e-3);
  EXPECT_EQ(suv->ValueAt(1), 0);
  EXPECT_EQ(std::get<std::string>(suv->metadata.at("Units")), "GML");
  auto c = SuvBwCalibration(PetMetadata());
  ASSERT_TRUE(c.ok());
  EXPECT_NEAR(c->decay_seconds, 3600, 1e-6);
  EXPECT_NEAR(c->decayed_dose_bq, 253314180, 1);
  // The injection as a date and time wins over the time alone; across midnight too.
  common::Metadata m = PetMetadata();
  m["RadiopharmaceuticalStartDateTime"] = std::string("2024-03-14T23:30:00.000000");
  m["RadiopharmaceuticalStartTime"] = std::string("23:30:00.000000");
  m["SeriesDateTime"] = std::string("2024-03-15T00:30:00.000000");
  m["AcquisitionDateTime"] = std::string("2024-03-15T00:30:00.000000");
  EXPECT_NEAR(ToSuvBw(PetVolume(m))->ValueAt(0), kSuvAfterOneHour, kSuvAfterOneHour * 1e-3);
}

TEST(SuvBw, PostProcessedSeriesUsesTheEarliestAcquisition) {
  // Series time 11:30 is after the acquisition (10:00): reconstructed later; 10:00 counts.
  common::Metadata m = PetMetadata();
  m["SeriesDateTime"] = std::string("2024-03-15T11:30:00.000000");
  auto c = SuvBwCalibration(m);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->scan_time_source, "AcquisitionDateTime");
  EXPECT_NEAR(ToSuvBw(PetVolume(m))->ValueAt(0), kSuvAfterOneHour, kSuvAfterOneHour * 1e-3);
  // Series 09:50, before the acquisition: the series time counts (3000 s): by hand 0.25942680.
  m["SeriesDateTime"] = std::string("2024-03-15T09:50:00.000000");
  EXPECT_NEAR(ToSuvBw(PetVolume(m))->ValueAt(0), 0.25942680, 0.25942680 * 1e-3);
}

TEST(SuvBw, AdminDecayCorrectionNeedsNoDecay) {
  common::Metadata m = PetMetadata();
  m["DecayCorrection"] = std::string("ADMIN");
  m.erase("RadionuclideHalfLife");
  // 1000 * 70000 / 370e6.
  EXPECT_NEAR(ToSuvBw(PetVolume(m))->ValueAt(0), 0.18918919, 0.18918919 * 1e-3);
}

TEST(SuvBw, RefusalsNameTheAttribute) {
  struct Case {
    const char* key;
    common::MetadataValue value;  // bool false: erase the key
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"CorrectedImage", false, "CorrectedImage (0028,0051) is missing"},
      {"CorrectedImage", std::vector<std::string>{"ATTN", "NORM"}, "lacks DECY"},
      {"CorrectedImage", std::vector<std::string>{"DECY"}, "lacks ATTN"},
      {"DecayCorrection", false, "DecayCorrection (0054,1102) is missing"},
      {"DecayCorrection", std::string("NONE"), "DecayCorrection (0054,1102) is NONE"},
      {"Units", false, "Units (0054,1001) is missing"},
      {"Units", std::string("CNTS"), "Units (0054,1001) is CNTS, not BQML"},
      {"PatientWeight", false, "PatientWeight (0010,1030)"},
      {"PatientWeight", 0.0, "PatientWeight (0010,1030)"},
      {"RadionuclideTotalDose", false, "RadionuclideTotalDose (0018,1074)"},
      {"RadionuclideHalfLife", false, "RadionuclideHalfLife (0018,1075)"},
      {"SeriesDateTime", false, "SeriesDate/SeriesTime (0008,0021/0031)"},
      {"RadiopharmaceuticalStartTime", false, "RadiopharmaceuticalStartTime (0018,1072)"},
      {"RadiopharmaceuticalStartTime", std::string("11:00:00.000000"), "after the scan time"},
  };
  for (const Case& c : cases) {
    common::Metadata m = PetMetadata();
    if (std::holds_alternative<bool>(c.value)) {
      m.erase(c.key);
    } else {
      m[c.key] = c.value;
    }
    absl::Status status = ToSuvBw(PetVolume(m)).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << c.key;
    EXPECT_NE(status.message().find(c.reason), std::string::npos) << status << " / " << c.reason;
  }
}

}  // namespace
}  // namespace tributary::normalize
