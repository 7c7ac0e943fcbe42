#include "dicom/series_reader.h"

#include <dcmtk/dcmdata/dcdeftag.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <utility>

#include "common/parallel.h"
#include "dicom/attribute_readers.h"
#include "dicom/enhanced_frames.h"
#include "dicom/frame_decoder.h"
#include "dicom/instance.h"
#include "dicom/instance_header.h"
#include "dicom/siemens_csa.h"
#include "dicom/slice.h"
#include "dicom/stack.h"
#include "dicom/stack_builder.h"
#include "dicom/uih_mosaic.h"

namespace tributary::dicom {
namespace {

using common::Volume;

std::string Rounded(double value, double step) {
  long long q = std::llround(value / step);
  return std::to_string(q == 0 ? 0 : q);
}

// What of ImageType separates stacks: values 1 and 2 (ORIGINAL/DERIVED, PRIMARY/SECONDARY) and,
// of the rest, only values that say what a pixel is (a complex component, a field or parameter
// map). Vendor flags there (GE's ADD on part of a head CT, Siemens' ND, NORM, MOSAIC) do not.
std::string ImageTypeKey(const std::string& image_type) {
  static const std::set<std::string> kMeaning = {
      "M",     "P",         "R",      "I",   "MAGNITUDE", "PHASE", "REAL",  "IMAGINARY",
      "MIXED", "FIELD_MAP", "B0 MAP", "ADC", "EADC",      "FA",    "TRACEW"};
  std::vector<std::string> values = Split(image_type);
  std::string key;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i < 2 || kMeaning.count(values[i]) != 0) key += (key.empty() ? "" : "\\") + values[i];
  }
  return key;
}

std::string StackKey(const Slice& s) {
  const FrameGeometry& g = s.geometry;
  std::string key;
  for (double v : g.row_dir) key += Rounded(v, 1e-4) + ",";
  for (double v : g.col_dir) key += Rounded(v, 1e-4) + ",";
  key += "|" + std::to_string(s.rows) + "x" + std::to_string(s.columns);
  key += "|" + Rounded(g.dx, 1e-4) + "," + Rounded(g.dy, 1e-4);
  key += "|echo " + (s.echo_number ? std::to_string(*s.echo_number)
                     : s.echo_time ? Rounded(*s.echo_time, 1e-3)
                                   : std::string("-"));
  key += "|" + ImageTypeKey(s.image_type) + "|" + s.stack_id;
  return key;
}

// The slices of one instance: itself, its frames (enhanced multi-frame) or its tiles (mosaic).
absl::Status SlicesOf(Instance& in, std::vector<Slice>& out) {
  Slice base;
  base.instance = &in;
  base.rows = in.rows;
  base.columns = in.columns;
  base.geometry = in.geometry;
  base.temporal_position = in.temporal_position;
  base.echo_number = in.echo_number;
  base.echo_time = in.echo_time;
  base.image_type = in.image_type;
  DcmDataset& d = *in.file->getDataset();
  if (d.tagExists(DCM_PerFrameFunctionalGroupsSequence)) return EnhancedFrames(in, base, out);
  if (in.image_type.find("MOSAIC") != std::string::npos) return MosaicTiles(in, base, out);
  if (in.mosaic.images > 1) return UihMosaic::Tiles(in, base, out);
  if (in.frames > 1) {
    return absl::UnimplementedError(in.source + ": multi-frame instances (" +
                                    std::to_string(in.frames) + " frames) are not converted yet");
  }
  out.push_back(base);
  return absl::OkStatus();
}

}  // namespace

struct SeriesReader::Impl {
  std::vector<std::unique_ptr<Instance>> instances;
  std::vector<std::string> series_order;

  void Register(std::unique_ptr<Instance> instance) {
    if (std::find(series_order.begin(), series_order.end(), instance->series_uid) ==
        series_order.end()) {
      series_order.push_back(instance->series_uid);
    }
    instances.push_back(std::move(instance));
  }
};

SeriesReader::SeriesReader() : impl_(std::make_unique<Impl>()) { RegisterCodecs(); }
SeriesReader::SeriesReader(SeriesReader&&) noexcept = default;
SeriesReader& SeriesReader::operator=(SeriesReader&&) noexcept = default;
SeriesReader::~SeriesReader() = default;

absl::Status SeriesReader::AddFile(const std::string& path) {
  TRIB_ASSIGN_OR_RETURN(std::unique_ptr<Instance> instance, LoadHeader(path));
  impl_->Register(std::move(instance));
  return absl::OkStatus();
}

std::vector<absl::Status> SeriesReader::AddFiles(const std::vector<std::string>& paths,
                                                 unsigned threads,
                                                 const std::function<void(std::size_t)>& progress) {
  std::vector<absl::StatusOr<std::unique_ptr<Instance>>> loaded(paths.size());
  std::atomic<std::size_t> done{0};
  std::mutex progress_mutex;
  common::ParallelFor(paths.size(), threads, [&](std::size_t i) {
    loaded[i] = LoadHeader(paths[i]);
    std::size_t finished = ++done;
    if (progress) {
      std::lock_guard lock(progress_mutex);
      progress(finished);
    }
  });
  std::vector<absl::Status> statuses;
  statuses.reserve(paths.size());
  for (auto& instance : loaded) {
    statuses.push_back(instance.status());
    if (instance.ok()) impl_->Register(std::move(*instance));
  }
  return statuses;
}

absl::Status SeriesReader::AddBytes(std::string bytes, std::string source) {
  TRIB_ASSIGN_OR_RETURN(std::unique_ptr<Instance> instance,
                        LoadHeaderFromBytes(std::move(bytes), std::move(source)));
  impl_->Register(std::move(instance));
  return absl::OkStatus();
}

std::vector<std::string> SeriesReader::SeriesUids() const { return impl_->series_order; }

SeriesVolumes SeriesReader::Describe(const std::string& series_instance_uid) const {
  SeriesVolumes result;
  result.series_instance_uid = series_instance_uid;
  for (const auto& instance : impl_->instances) {
    if (instance->series_uid != series_instance_uid) continue;
    if (result.instance_count++ == 0) {
      result.protocol_name = instance->protocol;
      result.series_number = instance->series_number;
      result.label = instance->protocol + "_" + std::to_string(instance->series_number);
    }
  }
  if (result.instance_count == 0)
    result.status = absl::NotFoundError("no instances of series " + series_instance_uid);
  return result;
}

SeriesVolumes SeriesReader::BuildSeries(const std::string& series_instance_uid) {
  SeriesVolumes result;
  result.series_instance_uid = series_instance_uid;
  std::vector<std::unique_ptr<Instance>> mine;
  auto& all = impl_->instances;
  for (auto& instance : all) {
    if (instance && instance->series_uid == series_instance_uid)
      mine.push_back(std::move(instance));
  }
  all.erase(std::remove(all.begin(), all.end(), nullptr), all.end());
  impl_->series_order.erase(
      std::remove(impl_->series_order.begin(), impl_->series_order.end(), series_instance_uid),
      impl_->series_order.end());
  result.instance_count = mine.size();
  if (mine.empty()) {
    result.status = absl::NotFoundError("no instances of series " + series_instance_uid);
    return result;
  }
  const Instance& first = *mine.front();
  result.label = first.protocol + "_" + std::to_string(first.series_number);
  result.protocol_name = first.protocol;
  result.series_number = first.series_number;
  result.subject = first.subject;

  std::vector<Stack> stacks;
  std::map<std::string, std::size_t> by_key;
  for (auto& instance : mine) {
    std::vector<Slice> slices;
    absl::Status status = SlicesOf(*instance, slices);
    if (!status.ok()) {
      result.status = status;
      return result;
    }
    for (Slice& slice : slices) {
      std::string key = StackKey(slice);
      auto [it, inserted] = by_key.emplace(key, stacks.size());
      if (inserted) {
        stacks.push_back(
            {key, {}, slice.echo_number, slice.echo_time, ImageTypeKey(slice.image_type)});
      }
      stacks[it->second].slices.push_back(slice);
    }
  }
  // Echoes are numbered by EchoNumbers, or by rank of echo time when only times are known.
  std::set<std::int64_t> echo_numbers;
  std::set<double> echo_times;
  std::set<std::string> types;
  for (const Stack& stack : stacks) {
    if (stack.echo_number) echo_numbers.insert(*stack.echo_number);
    if (stack.echo_time) echo_times.insert(std::round(*stack.echo_time * 1000) / 1000);
    types.insert(stack.image_type);
  }
  auto echo_label = [&](const Stack& stack) -> std::optional<std::int64_t> {
    if (echo_numbers.size() > 1 && stack.echo_number) return *stack.echo_number;
    if (echo_numbers.size() <= 1 && echo_times.size() > 1 && stack.echo_time) {
      auto it = echo_times.find(std::round(*stack.echo_time * 1000) / 1000);
      return std::distance(echo_times.begin(), it) + 1;
    }
    return std::nullopt;
  };
  std::map<std::string, int> used;
  std::vector<std::string> failures;
  for (std::size_t s = 0; s < stacks.size(); ++s) {
    Stack& stack = stacks[s];
    StackBuilder builder(stack);
    absl::StatusOr<Volume> volume = absl::InternalError("not built");
    try {
      volume = builder.Build();
    } catch (const std::bad_alloc&) {
      volume = absl::ResourceExhaustedError("out of memory building a " +
                                            std::to_string(stack.slices.size()) + "-slice stack");
    }
    if (!volume.ok()) {
      failures.push_back(std::string(volume.status().message()));
      if (result.status.ok()) result.status = volume.status();
      continue;
    }
    const Instance& head = *stack.slices.front().instance;
    volume->protocol_name = head.protocol;
    volume->series_number = head.series_number;
    volume->metadata.insert(head.metadata.begin(), head.metadata.end());
    // PET: the earliest acquisition of the volume (QIBA's scan time for post-processed series).
    if (auto earliest = volume->metadata.find("AcquisitionDateTime");
        earliest != volume->metadata.end()) {
      for (const Slice& slice : stack.slices) {
        auto it = slice.instance->metadata.find("AcquisitionDateTime");
        if (it != slice.instance->metadata.end() && it->second < earliest->second)
          earliest->second = it->second;
      }
    }
    if (volume->reconstruction.count("SliceThicknessesFound") != 0) {
      volume->metadata.erase("SliceThickness");
    }
    if (stack.echo_time) volume->metadata["EchoTime"] = *stack.echo_time / 1000;
    if (stack.echo_number) volume->metadata["EchoNumber"] = *stack.echo_number;
    std::string suffix;
    if (std::optional<std::int64_t> echo = echo_label(stack))
      suffix += "_e" + std::to_string(*echo);
    if (types.size() > 1) {
      std::vector<std::string> parts = Split(stack.image_type);
      bool phase = std::find(parts.begin(), parts.end(), "P") != parts.end() ||
                   std::find(parts.begin(), parts.end(), "PHASE") != parts.end();
      if (phase) suffix += "_ph";
    }
    int count = ++used[suffix];
    if (count > 1) suffix += "_stack" + std::to_string(count);
    volume->name_suffix = suffix;
    if (stacks.size() > 1) {
      volume->reconstruction["StackSplit"] =
          std::string("series split into " + std::to_string(stacks.size()) +
                      " stacks by orientation, size, pixel spacing, echo and image type");
      volume->reconstruction["StackKey"] = stack.key;
    }
    volume->reconstruction["InstanceCount"] = static_cast<std::int64_t>(stack.slices.size());
    result.volumes.push_back(std::move(*volume));
  }
  if (!failures.empty() && failures.size() > 1) {
    std::string message;
    for (const std::string& f : failures) message += (message.empty() ? "" : "; ") + f;
    result.status = absl::Status(result.status.code(), message);
  }
  return result;
}

}  // namespace tributary::dicom
