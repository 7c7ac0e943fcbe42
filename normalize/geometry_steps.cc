#include "normalize/geometry_steps.h"

#include "normalize/reorientation.h"
#include "normalize/resampling.h"

namespace tributary::normalize {

absl::StatusOr<common::Volume> ApplyGeometry(const common::Volume& volume, const Recipe& recipe) {
  common::Volume out;
  const common::Volume* current = &volume;
  switch (recipe.orientation) {
    case Recipe::Orientation::kNone:
      break;
    case Recipe::Orientation::kLossless: {
      TRIB_ASSIGN_OR_RETURN(out, ReorientLossless(volume));
      current = &out;
      break;
    }
    case Recipe::Orientation::kResampled: {
      TRIB_ASSIGN_OR_RETURN(
          out, ReorientResampled(volume, recipe.spacing.interpolator, recipe.background));
      current = &out;
      break;
    }
  }
  if (!recipe.spacing.target_mm) {
    if (current == &volume) return volume;
    return out;
  }
  return ResampleToSpacing(*current, *recipe.spacing.target_mm, recipe.spacing.interpolator,
                           recipe.spacing.anti_alias, recipe.background);
}

absl::StatusOr<common::Volume> ApplyGeometry(common::Volume&& volume, const Recipe& recipe) {
  switch (recipe.orientation) {
    case Recipe::Orientation::kNone:
      break;
    case Recipe::Orientation::kLossless: {
      TRIB_ASSIGN_OR_RETURN(volume, ReorientLossless(volume));
      break;
    }
    case Recipe::Orientation::kResampled: {
      TRIB_ASSIGN_OR_RETURN(
          volume, ReorientResampled(volume, recipe.spacing.interpolator, recipe.background));
      break;
    }
  }
  if (!recipe.spacing.target_mm) return std::move(volume);
  return ResampleToSpacing(std::move(volume), *recipe.spacing.target_mm,
                           recipe.spacing.interpolator, recipe.spacing.anti_alias,
                           recipe.background);
}

}  // namespace tributary::normalize
