#pragma once

#include <optional>
#include <vector>

#include "dicom/vec3.h"

class DcmItem;

namespace tributary::dicom {

// What a Siemens mosaic's private attributes say about its tiles: the tile count
// (NumberOfImagesInMosaic), their order in space (CSA SliceNormalVector) and their acquisition
// times (CSA MosaicRefAcqTimes, ms).
struct MosaicHeader {
  int images = 0;
  std::optional<Vec3> normal;
  std::vector<double> times_ms;
};

// Tributary's own private block, (0077,xx01-03) of "TRIBUTARY RECONSTRUCTION 1": the values above
// copied as binary numbers before de-identification. PS3.15 Table E.3.10-1 does not list Siemens'
// (0019,xx0A) or the CSA header (0029,xx10) as safe, and the standard has no attribute for them, so
// without this a de-identified mosaic could not be rebuilt. It holds only numbers that
// de-identification derives from the acquisition geometry; no vendor bytes are copied.
inline constexpr const char* kReconstructionCreator = "TRIBUTARY RECONSTRUCTION 1";
inline constexpr unsigned short kReconstructionGroup = 0x0077;

// Writes the block into `item` (the first free block of the group); a header without a tile count
// writes nothing.
void WriteReconstructionBlock(DcmItem& item, const MosaicHeader& header);

// The block's values, when `item` has the block.
std::optional<MosaicHeader> ReadReconstructionBlock(DcmItem& item);

}  // namespace tributary::dicom
