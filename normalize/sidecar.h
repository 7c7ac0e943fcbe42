#pragma once

#include <string>

#include "common/volume.h"

namespace tributary::normalize {

// The JSON sidecar of a volume: its BIDS-style acquisition keys at the top level, and the
// reconstruction decisions (sorting, spacing source, resampling, 4D, rescale, padding) under
// "TributaryReconstruction".
std::string SidecarJson(const common::Volume& volume);

// dcm2niix's %p_%s: protocol name (characters other than letters, digits and -=+. become one '_')
// and series number, then the volume's suffix (echo, phase, stack).
std::string OutputStem(const common::Volume& volume);

}  // namespace tributary::normalize
