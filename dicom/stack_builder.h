#pragma once

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/volume.h"
#include "dicom/frame_decoder.h"
#include "dicom/instance.h"
#include "dicom/slice.h"
#include "dicom/stack.h"
#include "dicom/stack_geometry.h"
#include "dicom/vec3.h"

namespace tributary::dicom {

// Builds the voxels of one stack: checks its pixels, places its slices (StackGeometry), decodes
// them (FrameDecoder, on several threads for single-frame instances), resamples tilt and gaps onto
// a regular grid, applies rescale and padding, and picks the output pixel type.
class StackBuilder {
 public:
  explicit StackBuilder(Stack& stack) : stack_(stack) {}

  absl::StatusOr<common::Volume> Build();

 private:
  struct Plane {
    std::vector<Slice*> times;  // the slices at this position, in temporal order
    double depth = 0;
  };

  absl::Status CheckPixels();
  absl::Status SortAndGroup();
  absl::Status Geometry();
  void Diffusion();
  void SliceTiming();
  void SliceThicknesses();
  static std::optional<std::pair<double, double>> PaddingRange(const Instance& in);
  absl::Status Decode(const Slice& slice, std::vector<float>& real);
  std::pair<double, double> DeclaredRange() const;
  unsigned DecodeThreads() const;
  template <typename PlaneFn>
  absl::Status ForEachPlane(unsigned threads, PlaneFn plane);
  template <typename T>
  absl::Status DirectInteger(common::PixelType type);
  absl::Status Voxels();
  template <typename T>
  void StoreAs(const std::vector<float>& values, common::PixelType type);
  void RecordPadding(const Instance& first);
  void Store(const std::vector<float>& values, bool integral, unsigned bits_allocated);

  Stack& stack_;
  common::Volume volume_;
  Vec3 normal_ = {0, 0, 1};
  StackGeometry geometry_;
  std::vector<Plane> planes_;
  std::size_t nx_ = 0, ny_ = 0, nz_ = 0, nt_ = 1;
  bool resample_ = false;
  std::size_t padded_ = 0;
  FrameDecoder decoder_;  // for the sequential paths
};

}  // namespace tributary::dicom
