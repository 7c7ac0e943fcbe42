#include "normalize/recipe.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "common/hash.h"

namespace tributary::normalize {
namespace {

using Json = nlohmann::json;

template <typename E>
using Names = std::vector<std::pair<E, const char*>>;

const Names<Recipe::Modality> kModalities = {{Recipe::Modality::kCt, "CT"},
                                             {Recipe::Modality::kMr, "MR"},
                                             {Recipe::Modality::kPt, "PT"},
                                             {Recipe::Modality::kAny, "any"}};
const Names<Recipe::Orientation> kOrientations = {{Recipe::Orientation::kNone, "none"},
                                                  {Recipe::Orientation::kLossless, "lossless"},
                                                  {Recipe::Orientation::kResampled, "resampled"}};
const Names<Interpolator> kInterpolators = {{Interpolator::kLinear, "linear"},
                                            {Interpolator::kBSpline, "bspline"},
                                            {Interpolator::kNearest, "nearest"}};
const Names<Recipe::IntensityMethod> kMethods = {
    {Recipe::IntensityMethod::kNone, "none"},
    {Recipe::IntensityMethod::kCtHu, "ct-hu"},
    {Recipe::IntensityMethod::kZscore, "zscore"},
    {Recipe::IntensityMethod::kPercentile, "percentile"},
    {Recipe::IntensityMethod::kNyul, "nyul"},
    {Recipe::IntensityMethod::kSuvbw, "suvbw"}};
const Names<Recipe::Mask> kMasks = {
    {Recipe::Mask::kOtsu, "otsu"}, {Recipe::Mask::kMean, "mean"}, {Recipe::Mask::kNone, "none"}};

constexpr std::array<double, 2> kCtClip = {-1024, 3071};
constexpr double kCtBackground = -1024;

template <typename E>
const char* NameOf(const Names<E>& names, E value) {
  for (const auto& [e, name] : names) {
    if (e == value) return name;
  }
  return "?";
}

absl::Status FieldError(const std::string& path, const std::string& message) {
  return absl::InvalidArgumentError(path + ": " + message);
}

std::string Join(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// An object's fields, checked against the allowed keys.
absl::Status CheckObject(const Json& json, const std::string& path,
                         const std::set<std::string>& allowed) {
  if (!json.is_object()) return FieldError(path.empty() ? "recipe" : path, "must be an object");
  for (const auto& [key, value] : json.items()) {
    if (!allowed.count(key)) return FieldError(Join(path, key), "unknown field");
  }
  return absl::OkStatus();
}

template <typename E>
absl::Status ReadEnum(const Json& json, const std::string& path, const Names<E>& names, E* out) {
  if (!json.is_string()) return FieldError(path, "must be a string");
  const std::string value = json.get<std::string>();
  std::string allowed;
  for (const auto& [e, name] : names) {
    if (value == name) {
      *out = e;
      return absl::OkStatus();
    }
    allowed += (allowed.empty() ? "" : ", ") + std::string(name);
  }
  return FieldError(path, "unknown value \"" + value + "\" (" + allowed + ")");
}

absl::Status ReadNumber(const Json& json, const std::string& path, double* out) {
  if (!json.is_number()) return FieldError(path, "must be a number");
  *out = json.get<double>();
  if (!std::isfinite(*out)) return FieldError(path, "must be finite");
  return absl::OkStatus();
}

absl::Status ReadBool(const Json& json, const std::string& path, bool* out) {
  if (!json.is_boolean()) return FieldError(path, "must be true or false");
  *out = json.get<bool>();
  return absl::OkStatus();
}

template <std::size_t N>
absl::Status ReadNumbers(const Json& json, const std::string& path, std::array<double, N>* out) {
  if (!json.is_array() || json.size() != N) {
    return FieldError(path, "must be an array of " + std::to_string(N) + " numbers");
  }
  for (std::size_t i = 0; i < N; ++i) {
    TRIB_RETURN_IF_ERROR(ReadNumber(json[i], path + "[" + std::to_string(i) + "]", &(*out)[i]));
  }
  return absl::OkStatus();
}

absl::Status ReadOrientation(const Json& json, Recipe* recipe) {
  TRIB_RETURN_IF_ERROR(CheckObject(json, "orientation", {"mode"}));
  if (!json.contains("mode")) return absl::OkStatus();
  return ReadEnum(json["mode"], "orientation.mode", kOrientations, &recipe->orientation);
}

absl::Status ReadSpacing(const Json& json, Recipe::Spacing* spacing) {
  TRIB_RETURN_IF_ERROR(CheckObject(json, "spacing", {"target_mm", "interpolator", "anti_alias"}));
  if (json.contains("target_mm") && !json["target_mm"].is_null()) {
    const Json& target = json["target_mm"];
    std::array<double, 3> mm;
    if (target.is_number()) {
      TRIB_RETURN_IF_ERROR(ReadNumber(target, "spacing.target_mm", &mm[0]));
      mm = {mm[0], mm[0], mm[0]};
    } else if (target.is_array()) {
      TRIB_RETURN_IF_ERROR(ReadNumbers(target, "spacing.target_mm", &mm));
    } else {
      return FieldError("spacing.target_mm", "must be a number, an array of 3 numbers or null");
    }
    spacing->target_mm = mm;
  }
  if (json.contains("interpolator")) {
    TRIB_RETURN_IF_ERROR(ReadEnum(json["interpolator"], "spacing.interpolator", kInterpolators,
                                  &spacing->interpolator));
  }
  if (json.contains("anti_alias")) {
    TRIB_RETURN_IF_ERROR(ReadBool(json["anti_alias"], "spacing.anti_alias", &spacing->anti_alias));
  }
  return absl::OkStatus();
}

absl::Status ReadIntensity(const Json& json, Recipe::Intensity* intensity) {
  TRIB_RETURN_IF_ERROR(
      CheckObject(json, "intensity", {"method", "mask", "n4", "percentiles", "clip", "model"}));
  if (json.contains("method")) {
    TRIB_RETURN_IF_ERROR(
        ReadEnum(json["method"], "intensity.method", kMethods, &intensity->method));
  }
  if (json.contains("mask")) {
    TRIB_RETURN_IF_ERROR(ReadEnum(json["mask"], "intensity.mask", kMasks, &intensity->mask));
  }
  if (json.contains("n4")) {
    TRIB_RETURN_IF_ERROR(ReadBool(json["n4"], "intensity.n4", &intensity->n4));
  }
  if (json.contains("percentiles")) {
    TRIB_RETURN_IF_ERROR(
        ReadNumbers(json["percentiles"], "intensity.percentiles", &intensity->percentiles));
  }
  if (json.contains("clip") && !json["clip"].is_null()) {
    std::array<double, 2> clip;
    TRIB_RETURN_IF_ERROR(ReadNumbers(json["clip"], "intensity.clip", &clip));
    intensity->clip = clip;
  }
  if (json.contains("model") && !json["model"].is_null()) {
    if (!json["model"].is_string()) {
      return FieldError("intensity.model", "must be a SHA-256 string or null");
    }
    intensity->model = json["model"].get<std::string>();
  }
  return absl::OkStatus();
}

bool IsSha256Hex(const std::string& text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Json ToJson(const Recipe& recipe) {
  Json spacing = {{"interpolator", NameOf(kInterpolators, recipe.spacing.interpolator)},
                  {"anti_alias", recipe.spacing.anti_alias},
                  {"target_mm", nullptr}};
  if (recipe.spacing.target_mm) spacing["target_mm"] = *recipe.spacing.target_mm;
  const Recipe::Intensity& in = recipe.intensity;
  Json intensity = {{"method", NameOf(kMethods, in.method)},
                    {"mask", NameOf(kMasks, in.mask)},
                    {"n4", in.n4},
                    {"percentiles", in.percentiles},
                    {"clip", nullptr},
                    {"model", nullptr}};
  if (in.clip) intensity["clip"] = *in.clip;
  if (in.model) intensity["model"] = *in.model;
  // Doubles are written as doubles whatever the document said (1 and 1.0 hash alike).
  return Json{{"name", recipe.name},
              {"version", recipe.version},
              {"modality", NameOf(kModalities, recipe.modality)},
              {"orientation", {{"mode", NameOf(kOrientations, recipe.orientation)}}},
              {"spacing", spacing},
              {"intensity", intensity},
              {"background", recipe.background}};
}

const std::map<std::string, std::string>& Builtins() {
  static const auto* builtins = new std::map<std::string, std::string>{
      {"ct-default", R"({"name": "ct-default", "version": 1, "modality": "CT",
          "orientation": {"mode": "lossless"},
          "spacing": {"target_mm": 1, "interpolator": "linear"},
          "intensity": {"method": "ct-hu", "clip": [-1024, 3071]}})"},
      {"mr-default", R"({"name": "mr-default", "version": 1, "modality": "MR",
          "orientation": {"mode": "lossless"},
          "spacing": {"target_mm": 1, "interpolator": "linear"},
          "intensity": {"method": "zscore", "mask": "otsu", "n4": false}})"},
      {"pet-default", R"({"name": "pet-default", "version": 1, "modality": "PT",
          "orientation": {"mode": "lossless"},
          "spacing": {"target_mm": 2, "interpolator": "linear"},
          "intensity": {"method": "suvbw"}})"},
  };
  return *builtins;
}

}  // namespace

absl::StatusOr<Recipe> ParseRecipe(std::string_view text) {
  Json json = Json::parse(text, nullptr, false);
  if (json.is_discarded()) return absl::InvalidArgumentError("recipe: not valid JSON");
  TRIB_RETURN_IF_ERROR(CheckObject(
      json, "",
      {"name", "version", "modality", "orientation", "spacing", "intensity", "background"}));
  Recipe recipe;
  for (const char* required : {"name", "version", "modality"}) {
    if (!json.contains(required)) return FieldError(required, "missing");
  }
  if (!json["name"].is_string()) return FieldError("name", "must be a string");
  recipe.name = json["name"].get<std::string>();
  if (!json["version"].is_number_integer()) return FieldError("version", "must be an integer");
  recipe.version = json["version"].get<std::int64_t>();
  TRIB_RETURN_IF_ERROR(ReadEnum(json["modality"], "modality", kModalities, &recipe.modality));
  if (json.contains("orientation"))
    TRIB_RETURN_IF_ERROR(ReadOrientation(json["orientation"], &recipe));
  if (json.contains("spacing")) TRIB_RETURN_IF_ERROR(ReadSpacing(json["spacing"], &recipe.spacing));
  if (json.contains("intensity")) {
    TRIB_RETURN_IF_ERROR(ReadIntensity(json["intensity"], &recipe.intensity));
  }
  const bool ct = recipe.modality == Recipe::Modality::kCt ||
                  recipe.intensity.method == Recipe::IntensityMethod::kCtHu;
  const bool clip_given = json.contains("intensity") && json["intensity"].contains("clip");
  if (ct && !clip_given) recipe.intensity.clip = kCtClip;
  if (json.contains("background")) {
    TRIB_RETURN_IF_ERROR(ReadNumber(json["background"], "background", &recipe.background));
  } else {
    recipe.background = recipe.modality == Recipe::Modality::kCt ? kCtBackground : 0;
  }
  TRIB_RETURN_IF_ERROR(ValidateRecipe(recipe));
  return recipe;
}

absl::Status ValidateRecipe(const Recipe& recipe) {
  if (recipe.name.empty()) return FieldError("name", "must not be empty");
  if (recipe.version < 1) return FieldError("version", "must be >= 1");
  if (recipe.spacing.target_mm) {
    for (int axis = 0; axis < 3; ++axis) {
      double mm = (*recipe.spacing.target_mm)[axis];
      if (!(mm > 0) || !std::isfinite(mm)) return FieldError("spacing.target_mm", "must be > 0");
    }
  }
  const Recipe::Intensity& in = recipe.intensity;
  using Method = Recipe::IntensityMethod;
  using Modality = Recipe::Modality;
  if (in.method == Method::kCtHu && recipe.modality != Modality::kCt &&
      recipe.modality != Modality::kAny) {
    return FieldError("intensity.method", "\"ct-hu\" needs modality CT or any");
  }
  if (in.method == Method::kSuvbw && recipe.modality != Modality::kPt &&
      recipe.modality != Modality::kAny) {
    return FieldError("intensity.method", "\"suvbw\" needs modality PT or any");
  }
  const auto [low, high] = in.percentiles;
  if (!(low >= 0 && low < high && high <= 100)) {
    return FieldError("intensity.percentiles", "must satisfy 0 <= low < high <= 100");
  }
  if (in.clip && !((*in.clip)[0] < (*in.clip)[1])) {
    return FieldError("intensity.clip", "must satisfy lo < hi");
  }
  if (in.model) {
    if (in.method != Method::kNyul)
      return FieldError("intensity.model", "only for method \"nyul\"");
    if (!IsSha256Hex(*in.model)) {
      return FieldError("intensity.model", "must be 64 lowercase hexadecimal digits");
    }
  }
  if (!std::isfinite(recipe.background)) return FieldError("background", "must be finite");
  return absl::OkStatus();
}

std::string CanonicalJson(const Recipe& recipe) { return ToJson(recipe).dump(); }

std::string RecipeSha256(const Recipe& recipe) { return ToHex(Sha256(CanonicalJson(recipe))); }

std::string RecipeJson(const Recipe& recipe) { return ToJson(recipe).dump(2) + "\n"; }

std::vector<std::string> BuiltinRecipeNames() {
  std::vector<std::string> names;
  for (const auto& [name, text] : Builtins()) names.push_back(name);
  return names;
}

absl::StatusOr<Recipe> BuiltinRecipe(std::string_view name) {
  auto found = Builtins().find(std::string(name));
  if (found == Builtins().end()) {
    return absl::NotFoundError("no built-in recipe \"" + std::string(name) + "\"");
  }
  return ParseRecipe(found->second);
}

absl::StatusOr<Recipe> LoadRecipe(const std::string& name_or_path) {
  if (Builtins().count(name_or_path)) return BuiltinRecipe(name_or_path);
  std::ifstream in(name_or_path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError("\"" + name_or_path +
                               "\" is neither a built-in recipe nor a readable file");
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  absl::StatusOr<Recipe> recipe = ParseRecipe(text);
  if (!recipe.ok()) {
    return absl::InvalidArgumentError(name_or_path + ": " + std::string(recipe.status().message()));
  }
  return recipe;
}

}  // namespace tributary::normalize
