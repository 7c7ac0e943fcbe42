#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "dicom/frame_geometry.h"
#include "dicom/instance.h"

namespace tributary::dicom {

// One 2D image of a stack: a single-frame instance, a frame of a multi-frame instance, or a tile of
// a mosaic.
struct Slice {
  Instance* instance = nullptr;
  unsigned frame = 0;
  int tile = -1;
  unsigned rows = 0;
  unsigned columns = 0;
  FrameGeometry geometry;
  // Per frame in enhanced multi-frame instances, else the instance's values.
  std::int64_t temporal_position = 0;
  std::optional<std::int64_t> echo_number;
  std::optional<double> echo_time;
  std::string image_type;
  std::string stack_id;
  std::optional<double> acquired_ms;  // when the slice was acquired (mosaic tile, enhanced frame)
  // Enhanced multi-frame: the frame's MRDiffusionSequence; else the instance's diffusion applies.
  std::optional<common::DiffusionGradient> diffusion;
};

}  // namespace tributary::dicom
