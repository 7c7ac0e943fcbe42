#include "harmonize/harmonizer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>

#include "common/hash.h"
#include "common/verified_file.h"
#include "common/version.h"
#include "dicom/library_version.h"
#include "normalize/ct_intensity.h"
#include "normalize/diffusion_files.h"
#include "normalize/foreground_mask.h"
#include "normalize/geometry_steps.h"
#include "normalize/library_version.h"
#include "normalize/masked_volume.h"
#include "normalize/mr_intensity.h"
#include "normalize/nifti_io.h"
#include "normalize/qc_picture.h"
#include "normalize/sidecar.h"
#include "normalize/suv_calibration.h"

namespace tributary::harmonize {
namespace {

namespace fs = std::filesystem;
using common::Volume;
using normalize::Recipe;

// CT voxels above this count as the body for the QC statistics (air and padding are below it).
constexpr double kCtBodyHu = -500;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

const char* ModalityName(Recipe::Modality modality) {
  switch (modality) {
    case Recipe::Modality::kCt:
      return "CT";
    case Recipe::Modality::kMr:
      return "MR";
    case Recipe::Modality::kPt:
      return "PT";
    case Recipe::Modality::kAny:
      return "any";
  }
  return "?";
}

std::string MetadataString(const Volume& volume, const std::string& key) {
  auto it = volume.metadata.find(key);
  if (it == volume.metadata.end()) return {};
  const std::string* text = std::get_if<std::string>(&it->second);
  return text ? *text : std::string();
}

absl::Status CheckModality(const Recipe& recipe, const Volume& volume) {
  if (recipe.modality == Recipe::Modality::kAny) return absl::OkStatus();
  std::string modality = MetadataString(volume, "Modality");
  if (modality == ModalityName(recipe.modality)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "recipe '" + recipe.name + "' is for " + ModalityName(recipe.modality) +
      " series; this one is " + (modality.empty() ? std::string("of unknown modality") : modality));
}

std::size_t PlaneVoxels(const Volume& v) { return v.size[0] * v.size[1] * v.size[2]; }

// The recipe's CT step: its clip range (none when `clip` is null) and background for padding.
normalize::CtIntensityOptions CtOptions(const Recipe& recipe, bool mask_padding) {
  normalize::CtIntensityOptions ct;
  ct.min_hu = recipe.intensity.clip ? (*recipe.intensity.clip)[0]
                                    : -std::numeric_limits<double>::infinity();
  ct.max_hu =
      recipe.intensity.clip ? (*recipe.intensity.clip)[1] : std::numeric_limits<double>::infinity();
  ct.mask_padding = mask_padding;
  ct.padding_hu = recipe.background;
  return ct;
}

normalize::MrIntensityOptions MrOptions(const Recipe::Intensity& intensity) {
  normalize::MrIntensityOptions options;
  options.foreground = intensity.mask == Recipe::Mask::kMean
                           ? normalize::ForegroundMethod::kAboveMean
                           : normalize::ForegroundMethod::kOtsu;
  options.bias_correction = intensity.n4;
  options.percentile_low = intensity.percentiles[0];
  options.percentile_high = intensity.percentiles[1];
  options.scaling =
      intensity.method == Recipe::IntensityMethod::kPercentile ? normalize::MrScaling::kPercentile
      : intensity.method == Recipe::IntensityMethod::kNyul     ? normalize::MrScaling::kNyul
                                                               : normalize::MrScaling::kZScore;
  return options;
}

// The recipe's foreground and N4 on a volume already on the output grid. `mask: none` keeps every
// voxel.
absl::StatusOr<normalize::MaskedVolume> PrepareForeground(const Volume& volume,
                                                          const Recipe::Intensity& intensity) {
  if (intensity.mask != Recipe::Mask::kNone) {
    return normalize::PrepareMr(volume, MrOptions(intensity));
  }
  normalize::MaskedVolume prepared{volume, std::vector<std::uint8_t>(PlaneVoxels(volume), 1)};
  if (intensity.n4) {
    TRIB_ASSIGN_OR_RETURN(prepared.volume, normalize::CorrectBias(volume, prepared.mask));
  }
  return prepared;
}

// Statistics of the first time point inside `mask` (all voxels when empty).
common::Metadata IntensityStatistics(const Volume& v, const std::vector<std::uint8_t>& mask) {
  std::size_t n = PlaneVoxels(v);
  std::vector<double> values;
  values.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (mask.empty() || mask[i] != 0) values.push_back(v.ValueAt(i));
  }
  common::Metadata qc;
  qc["ForegroundFraction"] = n == 0 ? 0.0 : static_cast<double>(values.size()) / n;
  if (values.empty()) return qc;
  double mean = std::accumulate(values.begin(), values.end(), 0.0) / values.size();
  double variance = 0;
  for (double x : values) variance += (x - mean) * (x - mean);
  // Order statistics by selection, in increasing rank: each nth_element works on the part above
  // the previous one (the values a full sort would put there).
  auto begin = values.begin();
  auto percentile = [&](double p) {
    auto at =
        values.begin() +
        std::min(values.size() - 1, static_cast<std::size_t>(p / 100 * (values.size() - 1) + 0.5));
    std::nth_element(begin, at, values.end());
    begin = at;
    return *at;
  };
  qc["ForegroundMean"] = mean;
  qc["ForegroundSD"] = std::sqrt(variance / values.size());
  qc["ForegroundP1"] = percentile(1);
  qc["ForegroundP50"] = percentile(50);
  qc["ForegroundP99"] = percentile(99);
  return qc;
}

// The distribution of the first time point's values inside `mask` (all voxels when empty): its
// 0.5th and 99.5th percentiles, and the fraction of those voxels in each of kHistogramBins equal
// bins between them. For the cohort's before/after picture of each centre's intensities.
constexpr std::size_t kHistogramBins = 64;
void AddHistogram(const Volume& v, const std::vector<std::uint8_t>& mask, const std::string& name,
                  common::Metadata& qc) {
  std::size_t n = PlaneVoxels(v);
  std::vector<double> values;
  values.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (mask.empty() || mask[i] != 0) values.push_back(v.ValueAt(i));
  }
  if (values.size() < 2) return;
  auto rank = [&](double p) {
    auto at = values.begin() + static_cast<std::ptrdiff_t>(p * (values.size() - 1) + 0.5);
    std::nth_element(values.begin(), at, values.end());
    return *at;
  };
  const double low = rank(0.005), high = rank(0.995);
  if (!(high > low)) return;
  std::vector<double> fractions(kHistogramBins, 0.0);
  for (double x : values) {
    if (x < low || x > high) continue;
    auto bin = static_cast<std::size_t>((x - low) / (high - low) * kHistogramBins);
    fractions[std::min(bin, kHistogramBins - 1)] += 1.0 / static_cast<double>(values.size());
  }
  qc[name + "Range"] = std::vector<double>{low, high};
  qc[name] = std::move(fractions);
}

std::vector<double> Spacing(const Volume& v) { return {v.spacing[0], v.spacing[1], v.spacing[2]}; }
std::vector<double> Size(const Volume& v) {
  return {static_cast<double>(v.size[0]), static_cast<double>(v.size[1]),
          static_cast<double>(v.size[2]), static_cast<double>(v.size[3])};
}

nlohmann::json ToJson(const common::MetadataValue& value) {
  return std::visit([](const auto& v) { return nlohmann::json(v); }, value);
}

nlohmann::json ToJson(const common::Metadata& metadata) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : metadata) out[key] = ToJson(value);
  return out;
}

// The written file read back and digested.
absl::Status Record(const std::string& role, const fs::path& path, Derivation& derivation) {
  TRIB_ASSIGN_OR_RETURN(FileDigest digest, DigestFile(path.string()));
  derivation.outputs.push_back({role, path, digest.sha256, digest.size});
  return absl::OkStatus();
}

}  // namespace

Harmonizer::Harmonizer(Recipe recipe, std::optional<normalize::NyulModel> model)
    : recipe_(std::move(recipe)),
      recipe_json_(normalize::CanonicalJson(recipe_)),
      recipe_sha256_(normalize::RecipeSha256(recipe_)),
      model_(std::move(model)) {}

absl::StatusOr<Harmonizer> Harmonizer::Create(Recipe recipe,
                                              std::optional<normalize::NyulModel> model) {
  TRIB_RETURN_IF_ERROR(normalize::ValidateRecipe(recipe));
  if (!model) {
    if (recipe.intensity.method == Recipe::IntensityMethod::kNyul) {
      return absl::InvalidArgumentError(
          "recipe '" + recipe.name + "' normalizes with a Nyul model (intensity.model " +
          recipe.intensity.model.value_or("not set") + "): give the model file");
    }
    return Harmonizer(std::move(recipe), std::nullopt);
  }
  TRIB_RETURN_IF_ERROR(normalize::ValidateNyulModel(*model));
  std::string digest = normalize::NyulModelDigest(*model);
  if (recipe.intensity.model && *recipe.intensity.model != digest) {
    return absl::InvalidArgumentError("recipe '" + recipe.name + "' names model " +
                                      *recipe.intensity.model + ", not the one given (" + digest +
                                      ")");
  }
  Harmonizer harmonizer(recipe, std::move(model));
  // The model's method replaces the recipe's intensity step; the identity stays the recipe's.
  harmonizer.recipe_.intensity.method = Recipe::IntensityMethod::kNyul;
  harmonizer.recipe_.intensity.model = digest;
  if (harmonizer.recipe_.intensity.mask == Recipe::Mask::kNone) {
    harmonizer.recipe_.intensity.mask = Recipe::Mask::kOtsu;  // Nyul's landmarks need a foreground
  }
  return harmonizer;
}

SeriesHarmonization Harmonizer::Harmonize(const dicom::SeriesVolumes& series,
                                          const fs::path& out_dir,
                                          const std::vector<std::string>& inputs,
                                          std::vector<std::string>* used_stems) const {
  return HarmonizeSeries(series, nullptr, out_dir, inputs, used_stems);
}

SeriesHarmonization Harmonizer::Harmonize(dicom::SeriesVolumes&& series, const fs::path& out_dir,
                                          const std::vector<std::string>& inputs,
                                          std::vector<std::string>* used_stems) const {
  return HarmonizeSeries(series, &series.volumes, out_dir, inputs, used_stems);
}

SeriesHarmonization Harmonizer::HarmonizeSeries(const dicom::SeriesVolumes& series,
                                                std::vector<Volume>* owned_volumes,
                                                const fs::path& out_dir,
                                                const std::vector<std::string>& inputs,
                                                std::vector<std::string>* used_stems) const {
  SeriesHarmonization result;
  result.series_instance_uid = series.series_instance_uid;
  result.label = series.label;
  result.status = series.status;
  std::vector<std::string> local_stems;
  std::vector<std::string>& stems = used_stems ? *used_stems : local_stems;
  for (std::size_t v = 0; v < series.volumes.size(); ++v) {
    const Volume& input = series.volumes[v];
    // A volume the caller gave up is freed as soon as its first step has made its own copy.
    Volume* owned = owned_volumes ? &(*owned_volumes)[v] : nullptr;
    auto derivation = [&]() -> absl::StatusOr<Derivation> {
      TRIB_RETURN_IF_ERROR(CheckModality(recipe_, input));
      Derivation d;
      d.recipe_sha256 = recipe_sha256_;
      d.recipe_json = recipe_json_;
      if (model_) d.model_sha256 = normalize::NyulModelDigest(*model_);
      d.inputs = inputs;
      d.software = {{"tributary", kVersion},
                    {"itk", normalize::ItkVersion()},
                    {"dcmtk", dicom::DcmtkVersion()}};
      d.qc["SizeBefore"] = Size(input);
      d.qc["SpacingBefore"] = Spacing(input);
      if (recipe_.intensity.method == Recipe::IntensityMethod::kCtHu) {
        // CT before: the acquired HU of the body (as the CT mask below, on the input grid).
        std::vector<std::uint8_t> body(PlaneVoxels(input));
        for (std::size_t i = 0; i < body.size(); ++i) body[i] = input.ValueAt(i) > kCtBodyHu;
        AddHistogram(input, body, "HistogramBefore", d.qc);
      }

      const Recipe::IntensityMethod method = recipe_.intensity.method;
      // `input` is not used past this point: an owned one is freed after the first step.
      Volume volume;
      double start = Now();
      if (method == Recipe::IntensityMethod::kCtHu) {  // on the acquired grid: padding is exact
        TRIB_ASSIGN_OR_RETURN(volume,
                              normalize::NormalizeCt(input, CtOptions(recipe_, /*padding=*/true)));
        if (owned) *owned = Volume();
      } else {
        volume = owned ? std::move(*owned) : input;
      }
      double after_ct = Now();
      // Each step on the volume this loop owns, in place where a step can be.
      TRIB_ASSIGN_OR_RETURN(volume, normalize::ApplyGeometry(std::move(volume), recipe_));
      if (method == Recipe::IntensityMethod::kCtHu) {
        // Clipped again on the output grid: the anti-aliasing filter rings a little past the
        // clip range.
        TRIB_ASSIGN_OR_RETURN(
            volume,
            normalize::NormalizeCt(std::move(volume), CtOptions(recipe_, /*padding=*/false)));
      }
      double after_geometry = Now();

      std::vector<std::uint8_t> mask;
      switch (method) {
        case Recipe::IntensityMethod::kZscore:
        case Recipe::IntensityMethod::kPercentile:
        case Recipe::IntensityMethod::kNyul: {
          TRIB_ASSIGN_OR_RETURN(normalize::MaskedVolume prepared,
                                PrepareForeground(volume, recipe_.intensity));
          // MR before: the scanner's values in the foreground, before bias correction and scaling.
          AddHistogram(volume, prepared.mask, "HistogramBefore", d.qc);
          TRIB_ASSIGN_OR_RETURN(volume, normalize::ScaleMr(prepared, MrOptions(recipe_.intensity),
                                                           model_ ? &*model_ : nullptr));
          mask = std::move(prepared.mask);
          break;
        }
        case Recipe::IntensityMethod::kSuvbw: {
          TRIB_ASSIGN_OR_RETURN(volume, normalize::ToSuvBw(volume));
          break;
        }
        case Recipe::IntensityMethod::kCtHu:
        case Recipe::IntensityMethod::kNone:
          break;
      }
      if (mask.empty() && method == Recipe::IntensityMethod::kCtHu) {
        mask.assign(PlaneVoxels(volume), 0);
        for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = volume.ValueAt(i) > kCtBodyHu;
      } else if (mask.empty() && method == Recipe::IntensityMethod::kSuvbw) {
        absl::StatusOr<std::vector<std::uint8_t>> otsu =
            normalize::ForegroundMask(volume, normalize::ForegroundMethod::kOtsu);
        if (otsu.ok()) mask = std::move(*otsu);
      }
      double after_intensity = Now();
      d.qc["SizeAfter"] = Size(volume);
      d.qc["SpacingAfter"] = Spacing(volume);
      for (const auto& [key, value] : IntensityStatistics(volume, mask)) d.qc[key] = value;
      AddHistogram(volume, mask, "HistogramAfter", d.qc);
      std::vector<std::uint8_t>().swap(mask);

      // Names: the converter's %p_%s, made unique within the run.
      std::string stem = normalize::OutputStem(volume);
      for (int n = 2; std::find(stems.begin(), stems.end(), stem) != stems.end(); ++n) {
        stem = normalize::OutputStem(volume) + "_" + std::to_string(n);
      }
      stems.push_back(stem);
      d.stem = stem;

      fs::path nifti = out_dir / (stem + ".nii.gz");
      fs::path partial = out_dir / (stem + ".partial.nii.gz");
      std::error_code error;
      fs::create_directories(out_dir, error);
      // The picture first: once the NIfTI is written the voxels are freed before it is read back
      // (ITK's reader holds the image twice). Recorded in the same order as before.
      fs::path picture = out_dir / (stem + "_qc.png");
      TRIB_RETURN_IF_ERROR(normalize::WriteQcPicture(volume, picture.string()));
      TRIB_RETURN_IF_ERROR(normalize::WriteNifti(volume, partial.string()));
      common::VoxelBuffer().swap(volume.voxels);  // only its size and metadata are used below
      TRIB_ASSIGN_OR_RETURN(auto back_size, normalize::ReadNiftiBack(partial.string()));
      if (back_size != volume.size) {
        return absl::DataLossError(partial.string() + " does not read back with the volume's size");
      }
      fs::rename(partial, nifti, error);
      if (error) return absl::InternalError("cannot rename into " + nifti.string());
      TRIB_RETURN_IF_ERROR(Record("nifti", nifti, d));
      TRIB_RETURN_IF_ERROR(Record("qc", picture, d));

      if (std::optional<normalize::FslDiffusionText> fsl = normalize::FslDiffusion(volume)) {
        for (auto [role, text] : {std::pair{"bval", &fsl->bval}, std::pair{"bvec", &fsl->bvec}}) {
          fs::path path = out_dir / (stem + "." + role);
          TRIB_RETURN_IF_ERROR(WriteFileVerified(path.string(), *text).status());
          TRIB_RETURN_IF_ERROR(Record(role, path, d));
        }
      }
      double end = Now();
      d.seconds = {{"ct_intensity", after_ct - start},
                   {"geometry", after_geometry - after_ct},
                   {"intensity", after_intensity - after_geometry},
                   {"write", end - after_intensity}};

      // The sidecar: the converter's keys, then everything about this derivation.
      nlohmann::json sidecar = nlohmann::json::parse(normalize::SidecarJson(volume));
      nlohmann::json& h = sidecar["TributaryHarmonization"];
      h["Recipe"] = nlohmann::json::parse(d.recipe_json);
      h["RecipeSHA256"] = d.recipe_sha256;
      if (!d.model_sha256.empty()) h["ModelSHA256"] = d.model_sha256;
      h["Software"] = d.software;
      h["QC"] = ToJson(d.qc);
      h["Seconds"] = d.seconds;
      h["InputCount"] = inputs.size();
      fs::path json = out_dir / (stem + ".json");
      TRIB_RETURN_IF_ERROR(WriteFileVerified(json.string(), sidecar.dump(2) + "\n").status());
      TRIB_RETURN_IF_ERROR(Record("sidecar", json, d));
      return d;
    }();
    if (!derivation.ok()) {
      if (result.status.ok()) result.status = derivation.status();
      continue;
    }
    result.derivations.push_back(std::move(*derivation));
  }
  if (series.volumes.empty() && result.status.ok()) {
    result.status = absl::NotFoundError("series " + series.label + " has no volume to harmonize");
  }
  return result;
}

absl::StatusOr<normalize::NyulModel> TrainNyulModel(const Recipe& recipe,
                                                    const std::vector<Volume>& series,
                                                    const std::vector<std::string>& digests) {
  TRIB_RETURN_IF_ERROR(normalize::ValidateRecipe(recipe));
  if (series.size() < 2) {
    return absl::InvalidArgumentError("a Nyul model needs at least two training series (got " +
                                      std::to_string(series.size()) + ")");
  }
  Recipe::Intensity intensity = recipe.intensity;
  if (intensity.mask == Recipe::Mask::kNone) intensity.mask = Recipe::Mask::kOtsu;
  std::vector<normalize::MaskedVolume> prepared;
  for (const Volume& volume : series) {
    TRIB_RETURN_IF_ERROR(CheckModality(recipe, volume));
    TRIB_ASSIGN_OR_RETURN(Volume on_grid, normalize::ApplyGeometry(volume, recipe));
    TRIB_ASSIGN_OR_RETURN(normalize::MaskedVolume masked, PrepareForeground(on_grid, intensity));
    prepared.push_back(std::move(masked));
  }
  normalize::NyulTrainingOptions options;
  options.recipe = normalize::RecipeSha256(recipe);
  options.training_series = digests;
  return normalize::TrainNyul(prepared, options);
}

}  // namespace tributary::harmonize
