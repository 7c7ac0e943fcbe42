#include "services/harmonization_operations.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <regex>

#include "normalize/nyul_model.h"
#include "normalize/recipe.h"

namespace tributary::services {
namespace {

bool IsSha256Hex(const std::string& text) {
  static const std::regex kHex("[0-9a-f]{64}");
  return std::regex_match(text, kHex);
}

provenance::Recipe ToStored(const normalize::Recipe& recipe) {
  provenance::Recipe stored;
  stored.json = normalize::CanonicalJson(recipe);
  stored.sha256 = normalize::RecipeSha256(recipe);
  stored.name = recipe.name;
  stored.version = std::to_string(recipe.version);
  return stored;
}

// Versions are stored as text; compare them as numbers where they are.
bool NewerVersion(const provenance::Recipe& a, const provenance::Recipe& b) {
  auto number = [](const std::string& v) {
    try {
      return std::stoll(v);
    } catch (...) {
      return 0LL;
    }
  };
  if (number(a.version) != number(b.version)) return number(a.version) > number(b.version);
  return a.created_at > b.created_at;
}

}  // namespace

absl::Status HarmonizationOperations::InstallBuiltinRecipes() {
  static const std::pair<const char*, const char*> kDefaults[] = {
      {"ct-default", "CT"}, {"mr-default", "MR"}, {"pet-default", "PT"}};
  for (const std::string& name : normalize::BuiltinRecipeNames()) {
    TRIB_ASSIGN_OR_RETURN(normalize::Recipe recipe, normalize::BuiltinRecipe(name));
    provenance::Recipe stored = ToStored(recipe);
    TRIB_RETURN_IF_ERROR(repository_.PutRecipe(stored));
    for (const auto& [default_name, modality] : kDefaults) {
      if (name != default_name) continue;
      TRIB_ASSIGN_OR_RETURN(auto defaults, repository_.RecipesFor("", modality));
      if (!defaults.empty()) continue;
      TRIB_RETURN_IF_ERROR(repository_.AssignRecipe("", modality, stored.sha256));
      spdlog::info("recipe {} ({}) is the default for {}", name, stored.sha256.substr(0, 12),
                   modality);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<provenance::Recipe> HarmonizationOperations::ResolveRecipe(
    const std::string& name_or_sha256) {
  if (name_or_sha256.empty()) return absl::InvalidArgumentError("no recipe given");
  if (IsSha256Hex(name_or_sha256)) return repository_.GetRecipe(name_or_sha256);
  TRIB_ASSIGN_OR_RETURN(auto recipes, repository_.ListRecipes());
  const provenance::Recipe* best = nullptr;
  for (const auto& recipe : recipes) {
    if (recipe.name != name_or_sha256) continue;
    if (best == nullptr || NewerVersion(recipe, *best)) best = &recipe;
  }
  if (best == nullptr) return absl::NotFoundError("no recipe named " + name_or_sha256);
  return repository_.GetRecipe(best->sha256);
}

absl::StatusOr<provenance::Recipe> HarmonizationOperations::AddRecipe(const std::string& json) {
  TRIB_ASSIGN_OR_RETURN(normalize::Recipe recipe, normalize::ParseRecipe(json));
  provenance::Recipe stored = ToStored(recipe);
  TRIB_RETURN_IF_ERROR(repository_.PutRecipe(stored));
  spdlog::info("recipe {} version {} stored as {}", stored.name, stored.version, stored.sha256);
  return repository_.GetRecipe(stored.sha256);
}

absl::StatusOr<provenance::Recipe> HarmonizationOperations::AssignRecipe(
    const std::string& centre, const std::string& modality, const std::string& recipe) {
  static const std::regex kModality("[A-Z0-9]{1,16}");
  if (!std::regex_match(modality, kModality))
    return absl::InvalidArgumentError("modality: a DICOM Modality such as CT, MR or PT");
  TRIB_ASSIGN_OR_RETURN(provenance::Recipe stored, ResolveRecipe(recipe));
  TRIB_RETURN_IF_ERROR(repository_.AssignRecipe(centre, modality, stored.sha256));
  spdlog::info("recipe {} assigned to {} {}", stored.name, centre.empty() ? "default" : centre,
               modality);
  return stored;
}

absl::StatusOr<provenance::Model> HarmonizationOperations::AddModel(const std::string& json) {
  TRIB_ASSIGN_OR_RETURN(normalize::NyulModel model, normalize::ParseNyulModel(json));
  absl::StatusOr<provenance::Recipe> recipe = ResolveRecipe(model.recipe);
  if (!recipe.ok()) {
    return absl::FailedPreconditionError("recipe: " + std::string(recipe.status().message()) +
                                         " (add the recipe first)");
  }
  provenance::Model stored;
  stored.json = normalize::NyulModelJson(model);
  stored.sha256 = normalize::NyulModelDigest(model);
  stored.method = "nyul";
  stored.recipe_sha256 = recipe->sha256;
  TRIB_RETURN_IF_ERROR(repository_.PutModel(stored));
  spdlog::info("model {} stored for recipe {}", stored.sha256, recipe->name);
  return repository_.GetModel(stored.sha256);
}

absl::StatusOr<ReprocessResult> HarmonizationOperations::Reprocess(const std::string& recipe,
                                                                   const std::string& model_sha256,
                                                                   const ReprocessTarget& target) {
  int targets = (target.series_id != 0) + (target.study_id != 0) + !target.centre.empty();
  if (targets != 1)
    return absl::InvalidArgumentError("give exactly one of a series, a study or a centre");
  if (!model_sha256.empty() && !IsSha256Hex(model_sha256))
    return absl::InvalidArgumentError("model_sha256: 64 lowercase hex digits");
  TRIB_ASSIGN_OR_RETURN(provenance::Recipe stored, ResolveRecipe(recipe));
  std::string model = model_sha256;
  if (model.empty()) {
    TRIB_ASSIGN_OR_RETURN(normalize::Recipe parsed, normalize::ParseRecipe(stored.json));
    if (parsed.intensity.model) model = *parsed.intensity.model;
  }
  if (!model.empty()) TRIB_RETURN_IF_ERROR(repository_.GetModel(model).status());

  provenance::SeriesFilter filter;
  filter.series_id = target.series_id;
  filter.study_id = target.study_id;
  filter.centre = target.centre;
  filter.limit = 1000000;
  TRIB_ASSIGN_OR_RETURN(auto series, repository_.ListSeries(filter));
  if (series.empty()) return absl::NotFoundError("no series matches");
  std::vector<std::int64_t> ids;
  for (const auto& s : series) ids.push_back(s.id);
  ReprocessResult result;
  result.series_count = static_cast<std::int64_t>(ids.size());
  TRIB_ASSIGN_OR_RETURN(result.job_ids, repository_.EnqueueJobs(ids, stored.sha256, model));
  spdlog::info("reprocess with recipe {}: {} series, {} jobs queued", stored.name,
               result.series_count, result.job_ids.size());
  return result;
}

}  // namespace tributary::services
