#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "dicom/series_volumes.h"

namespace tributary::dicom {

// Rebuilds volumes from DICOM instances, following the standard rather than InstanceNumber.
//
// Instances are grouped by series, then split into stacks by orientation, echo, image type, size
// and pixel spacing. A stack is sorted by position along the slice normal; spacing comes from the
// positions; repeated positions make a 4D volume. Missing slices, variable gaps (beyond 0.2 mm) and
// gantry tilt are resampled onto a regular orthogonal grid, and the sidecar records it. Rescale
// slope and intercept apply per slice; PixelPaddingValue voxels are masked to the lowest real
// value.
//
// Headers are read when an instance is added; pixels are decoded only when its series is built, and
// released afterwards, so a reader holds one series' pixels at a time.
class SeriesReader {
 public:
  SeriesReader();
  SeriesReader(SeriesReader&&) noexcept;
  SeriesReader& operator=(SeriesReader&&) noexcept;
  ~SeriesReader();

  // Errors: InvalidArgument when the file is not a readable DICOM image instance (the message says
  // why: "not DICOM" and "DICOMDIR (media directory, not an image)" come from ProbeDicom on the
  // file's first bytes), NotFound when it cannot be read; the instance is then not kept.
  absl::Status AddFile(const std::string& path);
  // AddFile over many files, headers parsed on `threads` threads; instances are kept in the order
  // of `paths` whatever the threads do. `progress`, if set, is told how many files are done.
  std::vector<absl::Status> AddFiles(const std::vector<std::string>& paths, unsigned threads,
                                     const std::function<void(std::size_t)>& progress = {});
  // The same for bytes held in memory; `source` names them in messages.
  absl::Status AddBytes(std::string bytes, std::string source);

  // Series Instance UIDs of the instances added so far, in the order first seen.
  std::vector<std::string> SeriesUids() const;

  // What is known of a series before it is built: label, protocol, number, instance count.
  SeriesVolumes Describe(const std::string& series_instance_uid) const;

  // Builds the volumes of one series and forgets its instances.
  SeriesVolumes BuildSeries(const std::string& series_instance_uid);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tributary::dicom
