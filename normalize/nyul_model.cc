#include "normalize/nyul_model.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/hash.h"
#include "common/version.h"
#include "normalize/voxel_values.h"

namespace tributary::normalize {
namespace {

using nlohmann::json;

absl::Status Invalid(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError("Nyul model: '" + field + "' " + why);
}

absl::Status StrictlyIncreasing(const std::string& field, const std::vector<double>& values) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) return Invalid(field, "holds a value that is not finite");
    if (i > 0 && !(values[i] > values[i - 1])) {
      return Invalid(field, "must be strictly increasing (value " + std::to_string(i) + ")");
    }
  }
  return absl::OkStatus();
}

std::vector<double> Landmarks(const std::vector<float>& values, std::size_t t,
                              const std::vector<std::uint8_t>& mask,
                              const std::vector<double>& percentiles) {
  std::vector<double> foreground = MaskedValues(values, t, mask);
  std::sort(foreground.begin(), foreground.end());
  std::vector<double> landmarks;
  for (double p : percentiles) landmarks.push_back(Percentile(foreground, p));
  return landmarks;
}

// Piecewise-linear through (x[i], y[i]), the end segments extended; flat where x repeats.
double Interpolate(const std::vector<double>& x, const std::vector<double>& y, double v) {
  std::size_t hi = std::upper_bound(x.begin(), x.end(), v) - x.begin();
  hi = std::clamp<std::size_t>(hi, 1, x.size() - 1);
  std::size_t lo = hi - 1;
  // A repeated landmark (ties in the histogram) has no slope of its own: use the next segment.
  while (lo > 0 && x[hi] <= x[lo]) --lo;
  while (hi + 1 < x.size() && x[hi] <= x[lo]) ++hi;
  if (x[hi] <= x[lo]) return y[lo];
  return y[lo] + (v - x[lo]) * (y[hi] - y[lo]) / (x[hi] - x[lo]);
}

absl::Status CheckMask(const MaskedVolume& input, const std::string& what) {
  const std::size_t n = input.volume.size[0] * input.volume.size[1] * input.volume.size[2];
  if (n == 0 || input.mask.size() != n) {
    return absl::InvalidArgumentError(what + ": the mask does not match the volume");
  }
  if (std::none_of(input.mask.begin(), input.mask.end(), [](std::uint8_t m) { return m != 0; })) {
    return absl::FailedPreconditionError(what + ": the foreground mask is empty");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NyulModel> TrainNyul(const std::vector<MaskedVolume>& series,
                                    const NyulTrainingOptions& options) {
  if (series.size() < 2) {
    return absl::FailedPreconditionError(
        "Nyul training needs at least two series (got " + std::to_string(series.size()) +
        "): one series' landmarks would define the standard scale by itself");
  }
  if (options.training_series.size() != series.size()) {
    return absl::InvalidArgumentError(
        "Nyul training: " + std::to_string(options.training_series.size()) +
        " series digests for " + std::to_string(series.size()) + " series");
  }
  if (!(options.scale_min < options.scale_max)) {
    return absl::InvalidArgumentError("Nyul training: scale_min must be below scale_max");
  }
  NyulModel model;
  model.landmark_percentiles = options.landmark_percentiles;
  model.recipe = options.recipe;
  model.training_series = options.training_series;
  model.tributary_version = kVersion;
  model.standard_scale.assign(options.landmark_percentiles.size(), 0);
  for (std::size_t s = 0; s < series.size(); ++s) {
    TRIB_RETURN_IF_ERROR(CheckMask(series[s], "Nyul training series " + std::to_string(s)));
    std::vector<double> landmarks =
        Landmarks(FloatVoxels(series[s].volume), 0, series[s].mask, options.landmark_percentiles);
    const double lo = landmarks.front(), hi = landmarks.back();
    if (!(hi > lo)) {
      return absl::FailedPreconditionError("Nyul training series " + std::to_string(s) +
                                           ": foreground has one value only");
    }
    for (std::size_t i = 0; i < landmarks.size(); ++i) {
      model.standard_scale[i] += (options.scale_min + (landmarks[i] - lo) / (hi - lo) *
                                                          (options.scale_max - options.scale_min)) /
                                 static_cast<double>(series.size());
    }
  }
  TRIB_RETURN_IF_ERROR(ValidateNyulModel(model));
  return model;
}

absl::StatusOr<common::Volume> ApplyNyul(const MaskedVolume& input, const NyulModel& model) {
  TRIB_RETURN_IF_ERROR(ValidateNyulModel(model));
  TRIB_RETURN_IF_ERROR(CheckMask(input, "Nyul"));
  std::vector<float> values = FloatVoxels(input.volume);
  const std::size_t n = input.mask.size();
  for (std::size_t t = 0; t < input.volume.size[3]; ++t) {
    std::vector<double> landmarks = Landmarks(values, t, input.mask, model.landmark_percentiles);
    if (!(landmarks.back() > landmarks.front())) {
      return absl::FailedPreconditionError("Nyul: foreground of time point " + std::to_string(t) +
                                           " has one value only");
    }
    for (std::size_t i = t * n; i < (t + 1) * n; ++i) {
      values[i] = static_cast<float>(Interpolate(landmarks, model.standard_scale, values[i]));
    }
  }
  common::Volume out = FloatVolume(input.volume, values);
  out.reconstruction["IntensityMethod"] = std::string("nyul");
  out.reconstruction["IntensityModel"] = NyulModelDigest(model);
  return out;
}

absl::Status ValidateNyulModel(const NyulModel& model) {
  const std::vector<double>& p = model.landmark_percentiles;
  if (p.size() < 3) return Invalid("landmarks_percentiles", "needs at least three values");
  TRIB_RETURN_IF_ERROR(StrictlyIncreasing("landmarks_percentiles", p));
  if (p.front() < 0 || p.back() > 100) {
    return Invalid("landmarks_percentiles", "must lie within [0, 100]");
  }
  if (model.standard_scale.size() != p.size()) {
    return Invalid("standard_scale", "must have one value per landmark (" +
                                         std::to_string(p.size()) + "), has " +
                                         std::to_string(model.standard_scale.size()));
  }
  TRIB_RETURN_IF_ERROR(StrictlyIncreasing("standard_scale", model.standard_scale));
  if (model.recipe.empty()) return Invalid("recipe", "is empty");
  if (model.training_series.size() < 2) {
    return Invalid("training_series", "must name at least two series");
  }
  for (const std::string& digest : model.training_series) {
    if (digest.empty()) return Invalid("training_series", "holds an empty digest");
  }
  if (model.tributary_version.empty()) return Invalid("tributary_version", "is empty");
  return absl::OkStatus();
}

std::string NyulModelJson(const NyulModel& model) {
  json j = {{"method", "nyul"},
            {"landmarks_percentiles", model.landmark_percentiles},
            {"standard_scale", model.standard_scale},
            {"recipe", model.recipe},
            {"training_series", model.training_series},
            {"tributary_version", model.tributary_version}};
  return j.dump();
}

std::string NyulModelDigest(const NyulModel& model) { return ToHex(Sha256(NyulModelJson(model))); }

absl::StatusOr<NyulModel> ParseNyulModel(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) return absl::InvalidArgumentError("Nyul model: not valid JSON");
  if (!j.is_object()) return absl::InvalidArgumentError("Nyul model: not a JSON object");
  if (!j.contains("method") || j["method"] != "nyul") {
    return Invalid("method", "must be \"nyul\"");
  }
  NyulModel model;
  auto numbers = [&](const char* field, std::vector<double>& out) -> absl::Status {
    if (!j.contains(field) || !j[field].is_array()) return Invalid(field, "must be an array");
    for (const json& v : j[field]) {
      if (!v.is_number()) return Invalid(field, "must hold numbers only");
      out.push_back(v.get<double>());
    }
    return absl::OkStatus();
  };
  auto text_field = [&](const char* field, std::string& out) -> absl::Status {
    if (!j.contains(field) || !j[field].is_string()) return Invalid(field, "must be a string");
    out = j[field].get<std::string>();
    return absl::OkStatus();
  };
  TRIB_RETURN_IF_ERROR(numbers("landmarks_percentiles", model.landmark_percentiles));
  TRIB_RETURN_IF_ERROR(numbers("standard_scale", model.standard_scale));
  TRIB_RETURN_IF_ERROR(text_field("recipe", model.recipe));
  TRIB_RETURN_IF_ERROR(text_field("tributary_version", model.tributary_version));
  if (!j.contains("training_series") || !j["training_series"].is_array()) {
    return Invalid("training_series", "must be an array");
  }
  for (const json& v : j["training_series"]) {
    if (!v.is_string()) return Invalid("training_series", "must hold strings only");
    model.training_series.push_back(v.get<std::string>());
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    static const char* kKnown[] = {"method", "landmarks_percentiles", "standard_scale",
                                   "recipe", "training_series",       "tributary_version"};
    if (std::none_of(std::begin(kKnown), std::end(kKnown),
                     [&](const char* k) { return it.key() == k; })) {
      return Invalid(it.key(), "is not a field of a Nyul model");
    }
  }
  TRIB_RETURN_IF_ERROR(ValidateNyulModel(model));
  return model;
}

absl::Status SaveNyulModel(const NyulModel& model, const std::string& path) {
  TRIB_RETURN_IF_ERROR(ValidateNyulModel(model));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << NyulModelJson(model);
  out.close();
  if (!out) return absl::UnavailableError("cannot write Nyul model " + path);
  return absl::OkStatus();
}

absl::StatusOr<NyulModel> LoadNyulModel(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read Nyul model " + path);
  std::ostringstream text;
  text << in.rdbuf();
  absl::StatusOr<NyulModel> model = ParseNyulModel(text.str());
  if (!model.ok())
    return absl::Status(model.status().code(), path + ": " + std::string(model.status().message()));
  return model;
}

}  // namespace tributary::normalize
