#pragma once

#include <string>

#include "common/volume.h"

namespace tributary::testing {

// Compares two float32 volumes in physical space, the way ../shared/data/dicom/README.md says:
// axes matched by permutation and flip, dimensions equal, spacing within 1e-4 mm, every corner's
// world position within 1e-3 mm, voxels equal within `value_tolerance` (absolute, plus relative
// 1e-6). Returns an empty string when they agree, else what differs.
std::string CompareInPhysicalSpace(const common::Volume& actual, const common::Volume& expected,
                                   double value_tolerance);

}  // namespace tributary::testing
