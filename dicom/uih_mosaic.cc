#include "dicom/uih_mosaic.h"

#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcsequen.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "dicom/attribute_readers.h"

namespace tributary::dicom {
namespace {

constexpr Uint16 kUihGroup = 0x0065;
constexpr const char* kUihCreator = "Image Private Header";
constexpr Uint16 kImagesInGrid = 0x50;      // DS, NumberOfImagesInGrid
constexpr Uint16 kMrvFrameSequence = 0x51;  // SQ, one item per tile

// The block (0065,00xx) that UIH's "Image Private Header" reserved, or 0.
Uint16 UihBlock(DcmDataset& d) {
  for (Uint16 block = 0x10; block <= 0xFF; ++block) {
    if (String(d, DcmTagKey(kUihGroup, block)) == kUihCreator) return block;
  }
  return 0;
}

DcmTagKey InBlock(Uint16 block, Uint16 element) {
  return DcmTagKey(kUihGroup, static_cast<Uint16>((block << 8) | element));
}

}  // namespace

unsigned UihMosaic::Columns(int images) {
  return images < 1 ? 1 : static_cast<unsigned>(std::ceil(std::sqrt(static_cast<double>(images))));
}

unsigned UihMosaic::Rows(int images) {
  unsigned columns = Columns(images);
  return images < 1 ? 1 : (static_cast<unsigned>(images) + columns - 1) / columns;
}

std::optional<MosaicHeader> UihMosaic::Read(DcmDataset& d) {
  // Manufacturer first, which de-identification keeps: other instances cost one lookup.
  if (String(d, DCM_Manufacturer) != "UIH") return std::nullopt;
  if (std::optional<MosaicHeader> block = ReadReconstructionBlock(d)) {
    if (!block->tile_positions.empty()) return block;
    return std::nullopt;
  }
  Uint16 block = UihBlock(d);
  if (block == 0) return std::nullopt;
  std::optional<std::int64_t> images = Integer(d, InBlock(block, kImagesInGrid));
  if (!images || *images < 2 || *images > 4096) return std::nullopt;
  MosaicHeader header;
  header.images = static_cast<int>(*images);
  DcmSequenceOfItems* frames = nullptr;
  if (d.findAndGetSequence(InBlock(block, kMrvFrameSequence), frames).bad() || frames == nullptr ||
      frames->card() != static_cast<unsigned long>(header.images)) {
    return header;  // a grid whose tiles cannot be placed: Tiles says so
  }
  std::vector<Vec3> positions;
  std::vector<double> seconds;
  for (unsigned long i = 0; i < frames->card(); ++i) {
    DcmItem& item = *frames->getItem(i);
    std::optional<std::vector<double>> position = Numbers(item, DCM_ImagePositionPatient, 3);
    if (!position) return header;
    positions.push_back({(*position)[0], (*position)[1], (*position)[2]});
    if (std::optional<double> time = Seconds(String(item, DCM_AcquisitionTime))) {
      seconds.push_back(*time);
    }
  }
  header.tile_positions = std::move(positions);
  if (seconds.size() == header.tile_positions.size()) {
    double first = *std::min_element(seconds.begin(), seconds.end());
    for (double s : seconds) header.times_ms.push_back(std::round((s - first) * 1e6) / 1e3);
  }
  return header;
}

absl::Status UihMosaic::Tiles(const Instance& in, Slice base, std::vector<Slice>& out) {
  const MosaicHeader& grid = in.mosaic;
  if (grid.tile_positions.size() != static_cast<std::size_t>(grid.images)) {
    return absl::InvalidArgumentError(
        in.source + ": UIH grid of " + std::to_string(grid.images) +
        " images without a position per tile (MRVFrameSequence (0065,xx51); a de-identified copy "
        "carries them only when made with the Retain Safe Private option)");
  }
  unsigned columns = Columns(grid.images), rows = Rows(grid.images);
  if (in.columns % columns != 0 || in.rows % rows != 0) {
    return absl::InvalidArgumentError(in.source + ": UIH grid size is not a multiple of its tiles");
  }
  base.rows = in.rows / rows;
  base.columns = in.columns / columns;
  for (int tile = 0; tile < grid.images; ++tile) {
    Slice slice = base;
    slice.tile = tile;
    slice.geometry.position = grid.tile_positions[static_cast<std::size_t>(tile)];
    if (grid.times_ms.size() == grid.tile_positions.size()) {
      slice.acquired_ms = grid.times_ms[static_cast<std::size_t>(tile)];
    }
    out.push_back(slice);
  }
  return absl::OkStatus();
}

}  // namespace tributary::dicom
