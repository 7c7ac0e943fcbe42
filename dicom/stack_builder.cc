#include "dicom/stack_builder.h"

#include <dcmtk/dcmdata/dcdeftag.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <new>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>

#include "common/parallel.h"

namespace tributary::dicom {
namespace {

using common::Metadata;
using common::Volume;

// Larger volumes are refused rather than allocated (8 GiB as float32): headers can claim anything.
constexpr std::size_t kMaxVoxels = std::size_t{1} << 31;

// Linear interpolation within one plane of nx by ny values; NaN outside it. A free function with
// internal linkage, so that it is inlined into the resampling loop.
double Bilinear(const std::vector<float>& plane, std::size_t nx, std::size_t ny, double u,
                double v) {
  constexpr double kEdge = 1e-6;
  if (u < -kEdge || v < -kEdge || u > nx - 1 + kEdge || v > ny - 1 + kEdge) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  u = std::clamp(u, 0.0, static_cast<double>(nx - 1));
  v = std::clamp(v, 0.0, static_cast<double>(ny - 1));
  std::size_t i0 = static_cast<std::size_t>(u), j0 = static_cast<std::size_t>(v);
  std::size_t i1 = std::min(i0 + 1, nx - 1), j1 = std::min(j0 + 1, ny - 1);
  double fu = u - i0, fv = v - j0;
  auto at = [&](std::size_t i, std::size_t j) { return static_cast<double>(plane[j * nx + i]); };
  double top = fu < 1e-9 ? at(i0, j0) : (1 - fu) * at(i0, j0) + fu * at(i1, j0);
  if (fv < 1e-9) return top;
  double bottom = fu < 1e-9 ? at(i0, j1) : (1 - fu) * at(i0, j1) + fu * at(i1, j1);
  return (1 - fv) * top + fv * bottom;
}

}  // namespace

absl::StatusOr<Volume> StackBuilder::Build() {
  TRIB_RETURN_IF_ERROR(CheckPixels());
  TRIB_RETURN_IF_ERROR(SortAndGroup());
  TRIB_RETURN_IF_ERROR(Geometry());
  Diffusion();
  TRIB_RETURN_IF_ERROR(Voxels());
  return std::move(volume_);
}

absl::Status StackBuilder::CheckPixels() {
  const Instance& first = *stack_.slices.front().instance;
  for (const Slice& slice : stack_.slices) {
    const Instance& in = *slice.instance;
    if (in.samples != 1 || (in.photometric != "MONOCHROME1" && in.photometric != "MONOCHROME2")) {
      return absl::UnimplementedError(in.source + ": colour images (" + in.photometric +
                                      ") are not converted; only MONOCHROME1/2");
    }
    if (!in.has_geometry &&
        !slice.instance->file->getDataset()->tagExists(DCM_PerFrameFunctionalGroupsSequence)) {
      return absl::InvalidArgumentError(in.source +
                                        ": no ImagePositionPatient/ImageOrientationPatient: no "
                                        "patient geometry to place the image");
    }
    if (in.bits_allocated != first.bits_allocated) {
      return absl::InvalidArgumentError("BitsAllocated varies within the stack");
    }
  }
  return absl::OkStatus();
}

// Planes along the slice normal, each with its slices in temporal order (StackGeometry).
absl::Status StackBuilder::SortAndGroup() {
  const FrameGeometry& g = stack_.slices.front().geometry;
  normal_ = Cross(g.row_dir, g.col_dir);
  std::vector<Vec3> positions;
  for (const Slice& slice : stack_.slices) positions.push_back(slice.geometry.position);
  auto temporal = [this](std::size_t i) {
    const Slice& s = stack_.slices[i];
    return std::make_tuple(s.temporal_position, s.instance->instance_number,
                           s.instance->acquisition_time, s.frame, s.instance->sop_uid);
  };
  TRIB_ASSIGN_OR_RETURN(geometry_,
                        StackGeometry::Place(normal_, positions, [&](std::size_t a, std::size_t b) {
                          return temporal(a) < temporal(b);
                        }));
  for (std::size_t p = 0; p < geometry_.planes.size(); ++p) {
    Plane& plane = planes_.emplace_back();
    plane.depth = geometry_.plane_depths[p];
    for (std::size_t i : geometry_.planes[p]) plane.times.push_back(&stack_.slices[i]);
  }
  return absl::OkStatus();
}

absl::Status StackBuilder::Geometry() {
  const Slice& first = *planes_.front().times.front();
  const FrameGeometry& g = first.geometry;
  Metadata& r = volume_.reconstruction;
  nx_ = first.columns;
  ny_ = first.rows;
  nt_ = planes_.front().times.size();
  volume_.spacing = {g.dx, g.dy, 1};
  volume_.origin = g.position;
  volume_.direction = {g.row_dir[0], g.col_dir[0], normal_[0],   g.row_dir[1], g.col_dir[1],
                       normal_[1],   g.row_dir[2], g.col_dir[2], normal_[2]};
  r["SortedBy"] = std::string("position along the slice normal (ImagePositionPatient)");
  SliceTiming();
  r["SourceSliceCount"] = static_cast<std::int64_t>(planes_.size());
  r["VolumeCount"] = static_cast<std::int64_t>(nt_);
  if (first.instance->repetition_time_ms && *first.instance->repetition_time_ms > 0) {
    volume_.time_step = *first.instance->repetition_time_ms / 1000.0;
  }
  if (nt_ > 1) {
    r["FourD"] =
        std::string("repeated slice positions: kept as one 4D volume of " + std::to_string(nt_) +
                    " time points, ordered by "
                    "TemporalPositionIdentifier, InstanceNumber, AcquisitionTime");
  }
  std::size_t n = planes_.size();
  if (n == 1) {
    const Instance& in = *first.instance;
    double dz = in.spacing_between_slices.value_or(in.slice_thickness.value_or(1));
    if (dz <= 0) dz = 1;
    volume_.spacing[2] = dz;
    nz_ = 1;
    r["SliceSpacingSource"] = std::string("single slice: SpacingBetweenSlices or SliceThickness");
    return absl::OkStatus();
  }
  r["SliceSpacingSource"] = std::string("ImagePositionPatient (never SliceThickness)");
  r["SliceSpacingMaxDeviation"] = geometry_.max_deviation;
  nz_ = geometry_.slice_count;
  volume_.spacing[2] = geometry_.spacing;
  if (geometry_.irregular || geometry_.tilted) {
    resample_ = true;
    std::vector<std::string> reasons;
    if (geometry_.irregular) {
      reasons.push_back("slice gaps vary by " + std::to_string(geometry_.max_deviation) +
                        " mm (> " + std::to_string(kGapToleranceMm) +
                        " mm): missing slices or variable spacing");
    }
    if (geometry_.tilted) {
      reasons.push_back("slices shifted in plane by up to " + std::to_string(geometry_.max_shift) +
                        " mm: gantry tilt or sheared geometry");
      r["GantryTiltDetectedDegrees"] = geometry_.tilt_degrees;
    }
    r["Resampled"] = std::string("onto a regular orthogonal grid by linear interpolation");
    r["ResampleReasons"] = reasons;
    std::vector<double> depths, positions;
    for (const Plane& plane : planes_) {
      depths.push_back(plane.depth - planes_.front().depth);
      for (double v : plane.times.front()->geometry.position) positions.push_back(v);
    }
    r["OriginalSliceDepths"] = depths;
    r["OriginalImagePositionPatient"] = positions;
    r["OriginalSliceStepMedian"] = geometry_.median_step;
    r["ResampledSliceStep"] = geometry_.grid_step;
  }
  SliceThicknesses();
  return absl::OkStatus();
}

// Slices of several thicknesses (a thin posterior-fossa block under a thick upper block) make one
// volume: the thicknesses found are recorded (and the sidecar claims no single SliceThickness).
void StackBuilder::SliceThicknesses() {
  std::set<double> found;
  for (const Plane& plane : planes_) {
    if (std::optional<double> t = plane.times.front()->instance->slice_thickness) {
      found.insert(std::round(*t * 1000) / 1000);
    }
  }
  if (found.size() < 2) return;
  volume_.reconstruction["SliceThicknessesFound"] = std::vector<double>(found.begin(), found.end());
}

// BIDS SliceTiming (seconds from the first slice of the volume, in the volume's slice order) for
// MR stacks whose slices say when they were acquired: Siemens mosaics (CSA MosaicRefAcqTimes)
// and enhanced multi-frame (FrameAcquisitionDateTime).
void StackBuilder::SliceTiming() {
  if (planes_.size() < 2 || planes_.front().times.front()->instance->modality != "MR") return;
  std::vector<double> times;
  for (const Plane& plane : planes_) {
    const Slice& first = *plane.times.front();
    if (!first.acquired_ms) return;
    times.push_back(*first.acquired_ms);
  }
  double start = *std::min_element(times.begin(), times.end());
  double end = *std::max_element(times.begin(), times.end());
  std::optional<double> tr = planes_.front().times.front()->instance->repetition_time_ms;
  if (tr && end - start >= *tr) {
    // Seen in multiband mosaics from older Siemens software: the times overrun one TR.
    volume_.reconstruction["SliceTimingOmitted"] =
        std::string("slice acquisition times span more than RepetitionTime: not trusted");
    return;
  }
  for (double& t : times) t = std::round((t - start) * 1000) / 1e6;
  volume_.metadata["SliceTiming"] = times;
}

// One b-value and gradient direction per volume of a 4D stack whose slices state them (enhanced
// frames their own, other slices their instance's); every slice of a volume must agree.
void StackBuilder::Diffusion() {
  auto of = [](const Slice& s) { return s.diffusion ? s.diffusion : s.instance->diffusion; };
  if (nt_ < 2) return;
  bool any = false;
  for (const Slice& slice : stack_.slices) any = any || of(slice).has_value();
  if (!any) return;
  // The image is still written when the slices disagree; only the .bval/.bvec are not, and the
  // sidecar says why.
  auto omit = [this](const std::string& why) {
    volume_.reconstruction["DiffusionOmitted"] = "no .bval/.bvec: " + why;
  };
  std::vector<common::DiffusionGradient> volumes;
  for (std::size_t t = 0; t < nt_; ++t) {
    std::optional<common::DiffusionGradient> first;
    for (const Plane& plane : planes_) {
      std::optional<common::DiffusionGradient> g = of(*plane.times[t]);
      std::string where = "volume " + std::to_string(t + 1) + ", slice at depth " +
                          std::to_string(plane.depth - planes_.front().depth) + " mm";
      if (!g) return omit(where + " states no b-value");
      if (!first) {
        first = g;
        continue;
      }
      if (std::abs(g->b_value - first->b_value) > 0.5 ||
          Norm(Sub(g->direction, first->direction)) > 1e-3) {
        return omit(where + " has b = " + std::to_string(g->b_value) +
                    " and a gradient other than the volume's first slice (b = " +
                    std::to_string(first->b_value) + ")");
      }
    }
    volumes.push_back(*first);
  }
  volume_.diffusion = std::move(volumes);
}

// Padding range of an instance, if it declares one.
std::optional<std::pair<double, double>> StackBuilder::PaddingRange(const Instance& in) {
  if (!in.padding_value) return std::nullopt;
  double lo = *in.padding_value, hi = in.padding_limit.value_or(lo);
  if (hi < lo) std::swap(lo, hi);
  return std::make_pair(lo, hi);
}

// Decodes one slice into real values; padding voxels become NaN.
absl::Status StackBuilder::Decode(const Slice& slice, std::vector<float>& real) {
  TRIB_ASSIGN_OR_RETURN(const std::vector<std::int32_t>* stored, decoder_.Stored(slice));
  real.resize(stored->size());
  double slope = slice.geometry.slope, intercept = slice.geometry.intercept;
  std::optional<std::pair<double, double>> pad = PaddingRange(*slice.instance);
  for (std::size_t i = 0; i < stored->size(); ++i) {
    std::int32_t v = (*stored)[i];
    if (pad && v >= pad->first && v <= pad->second) {
      real[i] = std::numeric_limits<float>::quiet_NaN();
      ++padded_;
    } else {
      real[i] = static_cast<float>(slope * v + intercept);
    }
  }
  return absl::OkStatus();
}

// The range of real values the headers allow: stored range (BitsStored, sign) plus intercepts.
std::pair<double, double> StackBuilder::DeclaredRange() const {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const Slice& slice : stack_.slices) {
    const Instance& in = *slice.instance;
    double span = std::ldexp(1.0, static_cast<int>(in.bits_stored));
    double min = in.is_signed ? -span / 2 : 0, max = in.is_signed ? span / 2 - 1 : span - 1;
    lo = std::min(lo, min + slice.geometry.intercept);
    hi = std::max(hi, max + slice.geometry.intercept);
  }
  return {lo, hi};
}

// How many threads decode this stack's slices: one per core for stacks of many single-frame
// instances; one when instances hold several slices (frames, mosaic tiles), since an instance
// must not be decoded from two threads.
unsigned StackBuilder::DecodeThreads() const {
  constexpr std::size_t kSlicesPerThread = 8;
  std::set<const Instance*> instances;
  for (const Slice& slice : stack_.slices) {
    if (!instances.insert(slice.instance).second) return 1;
  }
  std::size_t by_size = stack_.slices.size() / kSlicesPerThread;
  return static_cast<unsigned>(std::clamp<std::size_t>(by_size, 1, common::CoreCount()));
}

// Runs plane(index, w, decoder) for every (t, k) plane index, split into contiguous ranges over
// `threads` threads (w = 0 .. threads - 1), each with its own decoder. Returns the first error.
template <typename PlaneFn>
absl::Status StackBuilder::ForEachPlane(unsigned threads, PlaneFn plane) {
  const std::size_t planes = nz_ * nt_;
  std::vector<absl::Status> results(threads);
  std::vector<FrameDecoder> decoders(threads - 1);
  common::ParallelFor(threads, threads, [&](std::size_t w) {
    FrameDecoder& decoder = w == 0 ? decoder_ : decoders[w - 1];
    try {
      for (std::size_t i = planes * w / threads; i < planes * (w + 1) / threads; ++i) {
        results[w] = plane(i, static_cast<unsigned>(w), decoder);
        if (!results[w].ok()) return;
      }
    } catch (const std::bad_alloc&) {
      results[w] = absl::ResourceExhaustedError("out of memory decoding slices");
    }
  });
  for (const absl::Status& result : results) TRIB_RETURN_IF_ERROR(result);
  return absl::OkStatus();
}

// Integer data whose declared range fits T: written straight into the volume, no float pass.
template <typename T>
absl::Status StackBuilder::DirectInteger(common::PixelType type) {
  volume_.pixel_type = type;
  const std::size_t plane_size = nx_ * ny_;
  volume_.voxels.resize(plane_size * nz_ * nt_ * sizeof(T));
  T* out = reinterpret_cast<T*>(volume_.voxels.data());
  // The lowest value is needed only to fill padding.
  const bool pad_possible =
      std::any_of(stack_.slices.begin(), stack_.slices.end(),
                  [](const Slice& s) { return s.instance->padding_value.has_value(); });
  std::vector<std::uint8_t> padding(pad_possible ? plane_size * nz_ * nt_ : 0);
  struct Tally {
    std::size_t padded = 0;
    std::int64_t lowest = std::numeric_limits<std::int64_t>::max();
  };
  const unsigned threads = DecodeThreads();
  std::vector<Tally> tallies(threads);
  TRIB_RETURN_IF_ERROR(ForEachPlane(
      threads, [&](std::size_t index, unsigned w, FrameDecoder& decoder) -> absl::Status {
        const Slice& slice = *planes_[index % nz_].times[index / nz_];
        TRIB_ASSIGN_OR_RETURN(const std::vector<std::int32_t>* stored, decoder.Stored(slice));
        const std::int64_t intercept = std::llround(slice.geometry.intercept);
        const std::optional<std::pair<double, double>> pad = PaddingRange(*slice.instance);
        const std::size_t base = index * plane_size;  // index = t * nz_ + k
        T* plane = out + base;
        Tally& tally = tallies[w];
        if (!pad) {
          for (std::size_t i = 0; i < plane_size; ++i)
            plane[i] = static_cast<T>((*stored)[i] + intercept);
          if (pad_possible) {
            tally.lowest =
                std::min<std::int64_t>(tally.lowest, *std::min_element(plane, plane + plane_size));
          }
          return absl::OkStatus();
        }
        for (std::size_t i = 0; i < plane_size; ++i) {
          std::int32_t v = (*stored)[i];
          if (v >= pad->first && v <= pad->second) {
            padding[base + i] = 1;
            ++tally.padded;
            plane[i] = 0;
          } else {
            plane[i] = static_cast<T>(v + intercept);
            tally.lowest = std::min<std::int64_t>(tally.lowest, plane[i]);
          }
        }
        return absl::OkStatus();
      }));
  std::int64_t lowest = std::numeric_limits<std::int64_t>::max();
  for (const Tally& tally : tallies) {
    padded_ += tally.padded;
    lowest = std::min(lowest, tally.lowest);
  }
  if (padded_ > 0) {
    if (lowest == std::numeric_limits<std::int64_t>::max()) lowest = 0;
    for (std::size_t i = 0; i < padding.size(); ++i) {
      if (padding[i]) out[i] = static_cast<T>(lowest);
    }
    volume_.reconstruction["FillValue"] = static_cast<double>(lowest);
    volume_.reconstruction["FilledVoxels"] = static_cast<std::int64_t>(padded_);
  }
  return absl::OkStatus();
}

absl::Status StackBuilder::Voxels() {
  Metadata& r = volume_.reconstruction;
  bool integral = !resample_;
  double slope0 = planes_.front().times.front()->geometry.slope;
  double intercept0 = planes_.front().times.front()->geometry.intercept;
  bool constant = true;
  for (const Slice& slice : stack_.slices) {
    if (slice.geometry.slope != 1 ||
        slice.geometry.intercept != std::floor(slice.geometry.intercept)) {
      integral = false;
    }
    if (slice.geometry.slope != slope0 || slice.geometry.intercept != intercept0) constant = false;
  }
  if (constant) {
    r["RescaleSlope"] = slope0;
    r["RescaleIntercept"] = intercept0;
  } else {
    r["RescaleVariesPerSlice"] = std::string("applied per slice");
  }
  volume_.size = {nx_, ny_, nz_, nt_};
  if (volume_.VoxelCount() > kMaxVoxels) {
    return absl::ResourceExhaustedError("volume of " + std::to_string(volume_.VoxelCount()) +
                                        " voxels is larger than the limit of " +
                                        std::to_string(kMaxVoxels));
  }
  const Instance& first = *planes_.front().times.front()->instance;
  if (integral) {
    auto [lo, hi] = DeclaredRange();
    bool bytes = std::all_of(stack_.slices.begin(), stack_.slices.end(),
                             [](const Slice& s) { return s.instance->bits_allocated == 8; });
    absl::Status direct = absl::CancelledError();
    if (bytes && lo >= 0 && hi <= 255) {
      direct = DirectInteger<std::uint8_t>(common::PixelType::kUint8);
    } else if (lo >= -32768 && hi <= 32767) {
      direct = DirectInteger<std::int16_t>(common::PixelType::kInt16);
    }
    if (!absl::IsCancelled(direct)) {
      TRIB_RETURN_IF_ERROR(direct);
      RecordPadding(first);
      r["OutputPixelType"] = std::string(common::PixelTypeName(volume_.pixel_type));
      return absl::OkStatus();
    }
  }
  std::size_t plane_size = nx_ * ny_;
  std::vector<float> values(plane_size * nz_ * nt_);
  std::vector<float> real;
  if (!resample_) {
    for (std::size_t t = 0; t < nt_; ++t) {
      for (std::size_t k = 0; k < nz_; ++k) {
        TRIB_RETURN_IF_ERROR(Decode(*planes_[k].times[t], real));
        std::copy(real.begin(), real.end(), values.begin() + (t * nz_ + k) * plane_size);
      }
    }
  } else {
    std::vector<std::vector<float>> decoded(planes_.size());
    const FrameGeometry& g0 = planes_.front().times.front()->geometry;
    for (std::size_t t = 0; t < nt_; ++t) {
      for (std::size_t p = 0; p < planes_.size(); ++p) {
        TRIB_RETURN_IF_ERROR(Decode(*planes_[p].times[t], decoded[p]));
      }
      for (std::size_t k = 0; k < nz_; ++k) {
        double depth = planes_.front().depth + static_cast<double>(k) * volume_.spacing[2];
        std::size_t a = 0;
        while (a + 2 < planes_.size() && planes_[a + 1].depth <= depth) ++a;
        double span = planes_[a + 1].depth - planes_[a].depth;
        double w = std::clamp((depth - planes_[a].depth) / span, 0.0, 1.0);
        float* out = values.data() + (t * nz_ + k) * plane_size;
        for (std::size_t j = 0; j < ny_; ++j) {
          for (std::size_t i = 0; i < nx_; ++i) {
            double v = 0;
            for (int side = 0; side < 2; ++side) {
              double weight = side == 0 ? 1 - w : w;
              if (weight < 1e-9) continue;
              std::size_t p = a + side;
              const FrameGeometry& gp = planes_[p].times[t]->geometry;
              Vec3 shift = Sub(g0.position, gp.position);
              double u = static_cast<double>(i) + Dot(shift, gp.row_dir) / gp.dx;
              double s = static_cast<double>(j) + Dot(shift, gp.col_dir) / gp.dy;
              v += weight * Bilinear(decoded[p], nx_, ny_, u, s);
            }
            out[j * nx_ + i] = static_cast<float>(v);
          }
        }
      }
    }
  }
  // Padding (and, after resampling, voxels outside every source slice) take the lowest real
  // value.
  float lowest = std::numeric_limits<float>::infinity();
  std::size_t missing = 0;
  for (float v : values) {
    if (std::isnan(v)) {
      ++missing;
    } else {
      lowest = std::min(lowest, v);
    }
  }
  if (!std::isfinite(lowest)) lowest = 0;
  if (missing > 0) {
    for (float& v : values) {
      if (std::isnan(v)) v = lowest;
    }
    r["FillValue"] = static_cast<double>(lowest);
    r["FilledVoxels"] = static_cast<std::int64_t>(missing);
  }
  RecordPadding(first);
  Store(values, integral, first.bits_allocated);
  r["OutputPixelType"] = std::string(common::PixelTypeName(volume_.pixel_type));
  return absl::OkStatus();
}

template <typename T>
void StackBuilder::StoreAs(const std::vector<float>& values, common::PixelType type) {
  volume_.pixel_type = type;
  volume_.voxels.resize(values.size() * sizeof(T));
  T* out = reinterpret_cast<T*>(volume_.voxels.data());
  for (std::size_t i = 0; i < values.size(); ++i) {
    if constexpr (std::is_integral_v<T>) {
      out[i] = static_cast<T>(std::lround(values[i]));
    } else {
      out[i] = static_cast<T>(values[i]);
    }
  }
}

void StackBuilder::RecordPadding(const Instance& first) {
  Metadata& r = volume_.reconstruction;
  if (!first.padding_value) return;
  r["PixelPaddingValue"] = *first.padding_value;
  if (first.padding_limit) r["PixelPaddingRangeLimit"] = *first.padding_limit;
  r["PaddingVoxelsMasked"] = static_cast<std::int64_t>(padded_);
}

// Integer data stay integers in the narrowest type that holds them; anything else is float32.
void StackBuilder::Store(const std::vector<float>& values, bool integral, unsigned bits_allocated) {
  if (!integral) return StoreAs<float>(values, common::PixelType::kFloat32);
  float lo = 0, hi = 0;
  if (!values.empty()) {
    auto [min_it, max_it] = std::minmax_element(values.begin(), values.end());
    lo = *min_it;
    hi = *max_it;
  }
  if (bits_allocated == 8 && lo >= 0 && hi <= 255)
    return StoreAs<std::uint8_t>(values, common::PixelType::kUint8);
  if (lo >= -32768 && hi <= 32767) return StoreAs<std::int16_t>(values, common::PixelType::kInt16);
  if (lo >= 0 && hi <= 65535) return StoreAs<std::uint16_t>(values, common::PixelType::kUint16);
  StoreAs<std::int32_t>(values, common::PixelType::kInt32);
}

}  // namespace tributary::dicom
