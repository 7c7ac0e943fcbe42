#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/volume.h"
#include "normalize/masked_volume.h"
#include "normalize/nyul_training_options.h"

namespace tributary::normalize {

// A trained Nyúl–Udupa piecewise-linear histogram standardization: the foreground percentiles
// used as landmarks and the standard-scale value of each. Stored as canonical JSON
// (docs/RECIPES.md):
// {"landmarks_percentiles", "method": "nyul", "recipe", "standard_scale", "training_series",
// "tributary_version"}.
struct NyulModel {
  std::vector<double> landmark_percentiles;
  std::vector<double> standard_scale;
  std::string recipe;
  std::vector<std::string> training_series;
  std::string tributary_version;
};

// Each series' foreground landmarks (first time point) mapped linearly from [first, last]
// landmark onto [scale_min, scale_max], averaged over the series. Refuses fewer than two series,
// a digest count that differs from the series count, and an empty mask.
absl::StatusOr<NyulModel> TrainNyul(const std::vector<MaskedVolume>& series,
                                    const NyulTrainingOptions& options);

// Maps every voxel piecewise-linearly from its time point's foreground landmarks onto the model's
// standard scale (the end segments extended beyond the first and last landmark). Float32 out.
absl::StatusOr<common::Volume> ApplyNyul(const MaskedVolume& input, const NyulModel& model);

// Checks what a loaded or built model must satisfy; the error names the field.
absl::Status ValidateNyulModel(const NyulModel& model);

// Canonical JSON (sorted keys, no whitespace) and its SHA-256 in hex: the model's content hash.
std::string NyulModelJson(const NyulModel& model);
std::string NyulModelDigest(const NyulModel& model);

absl::StatusOr<NyulModel> ParseNyulModel(std::string_view json);

// Writes the canonical JSON (so the file's SHA-256 is the model digest); Load parses and validates.
absl::Status SaveNyulModel(const NyulModel& model, const std::string& path);
absl::StatusOr<NyulModel> LoadNyulModel(const std::string& path);

}  // namespace tributary::normalize
