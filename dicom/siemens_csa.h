#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "dicom/instance.h"
#include "dicom/slice.h"

class DcmDataset;
class DcmItem;

namespace tributary::dicom {

// The items of one element of a Siemens CSA header (SV10 layout, as nibabel's csareader reads it),
// or nothing when the header or the element is absent.
std::vector<std::string> CsaItems(const std::uint8_t* data, std::size_t size,
                                  const std::string& name);

// The items of element `name` of the CSA image header, (0029,xx10) of "SIEMENS CSA HEADER".
std::vector<std::string> CsaImageItems(DcmItem& d, const std::string& name);

// A Siemens mosaic's header: its tile count (NumberOfImagesInMosaic), the tiles' acquisition
// times (CSA MosaicRefAcqTimes) and the order of the tiles in space (CSA SliceNormalVector).
// Tributary's reconstruction block (reconstruction_block.h), which de-identified copies carry
// instead of the vendor's attributes, comes first.
MosaicHeader ReadMosaicHeader(DcmDataset& d);

// The tiles of a mosaic as slices, each placed along the slice normal; `base` describes the whole
// mosaic image.
absl::Status MosaicTiles(Instance& in, Slice base, std::vector<Slice>& out);

}  // namespace tributary::dicom
