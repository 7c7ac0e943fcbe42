#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "normalize/interpolator.h"

namespace tributary::normalize {

// A harmonization recipe: which geometric and intensity steps to apply, as data. Parsed from a
// versioned JSON document (docs/RECIPES.md); every field holds its default when the document left
// it out, so two documents that mean the same recipe are equal here.
struct Recipe {
  enum class Modality { kCt, kMr, kPt, kAny };
  enum class Orientation { kNone, kLossless, kResampled };
  enum class IntensityMethod { kNone, kCtHu, kZscore, kPercentile, kNyul, kSuvbw };
  enum class Mask { kOtsu, kMean, kNone };

  struct Spacing {
    std::optional<std::array<double, 3>> target_mm;  // empty: keep the input's spacing
    Interpolator interpolator = Interpolator::kLinear;
    bool anti_alias = true;
  };

  struct Intensity {
    IntensityMethod method = IntensityMethod::kNone;
    Mask mask = Mask::kNone;
    bool n4 = false;
    std::array<double, 2> percentiles = {1, 99};
    std::optional<std::array<double, 2>> clip;  // CT and ct-hu default: [-1024, 3071]
    std::optional<std::string> model;           // SHA-256 (hex) of a Nyul model
  };

  std::string name;
  std::int64_t version = 1;
  Modality modality = Modality::kAny;
  Orientation orientation = Orientation::kNone;
  Spacing spacing;
  Intensity intensity;
  double background = 0;  // CT default: -1024
};

// Parses and validates a recipe document. Errors name the field: "spacing.target_mm: must be > 0".
absl::StatusOr<Recipe> ParseRecipe(std::string_view json);

// Checks the values of a recipe built in code the way ParseRecipe checks a document's.
absl::Status ValidateRecipe(const Recipe& recipe);

// The canonical document: sorted keys, every default filled in, no whitespace.
std::string CanonicalJson(const Recipe& recipe);

// SHA-256 (lowercase hex) of CanonicalJson: the recipe's identity in provenance.
std::string RecipeSha256(const Recipe& recipe);

// The canonical document pretty-printed (two-space indent), for `recipes show`.
std::string RecipeJson(const Recipe& recipe);

std::vector<std::string> BuiltinRecipeNames();
absl::StatusOr<Recipe> BuiltinRecipe(std::string_view name);

// A built-in recipe by name, else the recipe document at that path.
absl::StatusOr<Recipe> LoadRecipe(const std::string& name_or_path);

}  // namespace tributary::normalize
