#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "dicom/instance.h"
#include "dicom/slice.h"

namespace tributary::dicom {

// Registers DCMTK's decoders (RLE, JPEG, JPEG-LS) once per process, and quiets its logging.
void RegisterCodecs();

// Decodes slices to stored values, keeping the last decoded frame (a mosaic is decoded once for
// all its tiles) and the scratch buffers across slices. One per thread: DCMTK loads pixel data
// lazily, so one instance must not be decoded from two threads at once. JPEG 2000 goes to
// OpenJPEG (jpeg2000.h), everything else through DCMTK's codecs.
class FrameDecoder {
 public:
  // The stored values of one slice (a mosaic tile cut out), row by row; valid until the next call.
  absl::StatusOr<const std::vector<std::int32_t>*> Stored(const Slice& slice);

 private:
  const Instance* cached_instance_ = nullptr;
  unsigned cached_frame_ = 0;
  std::vector<std::uint8_t> raw_;  // the frame's bytes
  std::vector<std::int32_t> cached_;
  std::vector<std::int32_t> tile_;
};

}  // namespace tributary::dicom
