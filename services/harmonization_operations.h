#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "provenance/repository.h"

namespace tributary::services {

// What Reprocess applies a recipe to: exactly one of these is set.
struct ReprocessTarget {
  std::int64_t series_id = 0;
  std::int64_t study_id = 0;
  std::string centre;
};

struct ReprocessResult {
  std::int64_t series_count = 0;
  std::vector<std::int64_t> job_ids;
};

// The operator's side of harmonization above the repository: recipes by name or digest, recipe
// and model documents validated before they are stored, the built-in recipes and modality
// defaults, reprocessing. No gRPC here: the handlers convert and call these.
class HarmonizationOperations {
 public:
  explicit HarmonizationOperations(provenance::Repository& repository) : repository_(repository) {}

  // Stores the built-in recipes (normalize::BuiltinRecipeNames) and makes ct-default,
  // mr-default and pet-default the CT, MR and PT defaults where a modality has no default yet.
  absl::Status InstallBuiltinRecipes();

  // A stored recipe by SHA-256, else by name (its highest version, then newest).
  absl::StatusOr<provenance::Recipe> ResolveRecipe(const std::string& name_or_sha256);

  // Validates (the error names the field), canonicalizes and stores a recipe document.
  absl::StatusOr<provenance::Recipe> AddRecipe(const std::string& json);

  absl::StatusOr<provenance::Recipe> AssignRecipe(const std::string& centre,
                                                  const std::string& modality,
                                                  const std::string& recipe);

  // Validates a Nyul model document and stores it under its digest, for the recipe it names.
  absl::StatusOr<provenance::Model> AddModel(const std::string& json);

  // Queues a job with the recipe (and its model, or `model_sha256`) for each series of the target.
  absl::StatusOr<ReprocessResult> Reprocess(const std::string& recipe,
                                            const std::string& model_sha256,
                                            const ReprocessTarget& target);

 private:
  provenance::Repository& repository_;
};

}  // namespace tributary::services
