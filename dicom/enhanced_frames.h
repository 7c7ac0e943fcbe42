#pragma once

#include <vector>

#include "common/status.h"
#include "dicom/instance.h"
#include "dicom/slice.h"

class DcmDataset;

namespace tributary::dicom {

// Acquisition keys that enhanced multi-frame instances keep in functional groups (first frame).
void EnhancedAcquisition(DcmDataset& d, Instance& instance);

// Enhanced multi-frame: each frame is a slice placed by its functional groups; `base` holds the
// instance's own values.
absl::Status EnhancedFrames(Instance& in, const Slice& base, std::vector<Slice>& out);

}  // namespace tributary::dicom
