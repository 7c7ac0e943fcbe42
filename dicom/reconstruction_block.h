#pragma once

#include <optional>
#include <vector>

#include "dicom/vec3.h"

class DcmItem;

namespace tributary::dicom {

// What a mosaic's private attributes say about its tiles. Siemens: the tile count
// (NumberOfImagesInMosaic), their order in space (CSA SliceNormalVector) and their acquisition
// times (CSA MosaicRefAcqTimes, ms). UIH grids (uih_mosaic.h): the tile count
// (NumberOfImagesInGrid), each tile's ImagePositionPatient and its AcquisitionTime (as ms from
// the first tile acquired), from the MRVFrameSequence.
struct MosaicHeader {
  int images = 0;
  std::optional<Vec3> normal;
  std::vector<double> times_ms;
  std::vector<Vec3> tile_positions;  // UIH grids only: LPS, mm, one per tile
};

// Tributary's own private block, (0077,xx01-04) of "TRIBUTARY RECONSTRUCTION 1": the values above
// copied as binary numbers before de-identification: 01 tile count (US), 02 slice normal (FD, 3),
// 03 tile times (FD, ms, one per tile), 04 tile positions (FD, 3 per tile). PS3.15 Table E.3.10-1
// does not list Siemens' (0019,xx0A) or the CSA header (0029,xx10), nor UIH's (0065,xx50) or
// MRVFrameSequence (0065,xx51), as safe, and the standard has no attribute for them in a single
// frame image, so without this a de-identified mosaic could not be rebuilt. It holds only numbers
// that de-identification derives from the acquisition geometry and relative timing (no time of
// day); no vendor bytes or text are copied.
inline constexpr const char* kReconstructionCreator = "TRIBUTARY RECONSTRUCTION 1";
inline constexpr unsigned short kReconstructionGroup = 0x0077;

// Writes the block into `item` (the first free block of the group); a header without a tile count
// writes nothing.
void WriteReconstructionBlock(DcmItem& item, const MosaicHeader& header);

// The block's values, when `item` has the block.
std::optional<MosaicHeader> ReadReconstructionBlock(DcmItem& item);

}  // namespace tributary::dicom
