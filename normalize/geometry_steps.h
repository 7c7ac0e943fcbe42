#pragma once

#include "common/status.h"
#include "common/volume.h"
#include "normalize/recipe.h"

namespace tributary::normalize {

// A recipe's geometric steps on `volume`: orientation (recipe.orientation), then resampling to
// spacing.target_mm along the axes the orientation produced, with the recipe's interpolator,
// anti-aliasing and background. Steps the recipe leaves out leave the volume as it is.
absl::StatusOr<common::Volume> ApplyGeometry(const common::Volume& volume, const Recipe& recipe);
// The same on a volume the caller gives up: each step frees the previous step's voxels as soon as
// it has its own, and the resampling smooths in place (same voxels, less memory).
absl::StatusOr<common::Volume> ApplyGeometry(common::Volume&& volume, const Recipe& recipe);

}  // namespace tributary::normalize
