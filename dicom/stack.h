#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dicom/slice.h"

namespace tributary::dicom {

// A stack: slices that can share one grid.
struct Stack {
  std::string key;
  std::vector<Slice> slices;
  std::optional<std::int64_t> echo_number;
  std::optional<double> echo_time;
  std::string image_type;
};

}  // namespace tributary::dicom
