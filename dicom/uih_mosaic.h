#pragma once

#include <optional>
#include <vector>

#include "common/status.h"
#include "dicom/instance.h"
#include "dicom/reconstruction_block.h"
#include "dicom/slice.h"

class DcmDataset;

namespace tributary::dicom {

// A United Imaging (UIH) "SaveBySlc" grid: one image holding the slices of a volume as tiles, left
// to right then top to bottom, ceil(sqrt(n)) tiles per row and as many rows as needed (5 x 4 for
// 20). The image itself has no ImagePositionPatient; UIH's private "Image Private Header" block
// holds the tile count (0065,xx50) and the MRVFrameSequence (0065,xx51), one item per tile with
// its ImagePositionPatient and AcquisitionTime. Internal to dicom/.
struct UihMosaic {
  // The grid's tile count, tile positions and tile times (ms from the first tile acquired), from
  // Tributary's reconstruction block (reconstruction_block.h) when it has tile positions, else from
  // UIH's attributes; nothing when the image is not a UIH grid (or its Manufacturer is not UIH).
  static std::optional<MosaicHeader> Read(DcmDataset& d);

  // The tiles of a grid as slices, each at its own position; `base` describes the whole image.
  static absl::Status Tiles(const Instance& in, Slice base, std::vector<Slice>& out);

  // Tiles per row and rows of tiles of a grid of `images` tiles.
  static unsigned Columns(int images);
  static unsigned Rows(int images);
};

}  // namespace tributary::dicom
