#include "dicom/reconstruction_block.h"

#include <dcmtk/dcmdata/dcelem.h>
#include <dcmtk/dcmdata/dcitem.h>

#include <string>
#include <vector>

#include "dicom/dcmtk_support.h"

namespace tributary::dicom {
namespace {

constexpr Uint16 kMosaicImages = 0x01;   // US
constexpr Uint16 kSliceNormal = 0x02;    // FD, 3 values
constexpr Uint16 kTileTimes = 0x03;      // FD, one value per tile (ms)
constexpr Uint16 kTilePositions = 0x04;  // FD, three values per tile (LPS, mm)

DcmTag BlockTag(Uint16 block, Uint16 element, DcmEVR vr) {
  DcmTag tag(kReconstructionGroup, static_cast<Uint16>((block << 8) | element),
             kReconstructionCreator);
  tag.setVR(DcmVR(vr));
  return tag;
}

std::string Creator(DcmItem& item, Uint16 block) {
  OFString value;
  if (item.findAndGetOFString(DcmTagKey(kReconstructionGroup, block), value).bad()) return {};
  return Trimmed(value);
}

}  // namespace

void WriteReconstructionBlock(DcmItem& item, const MosaicHeader& header) {
  if (header.images < 1) return;
  Uint16 block = 0x10;
  while (block < 0xFF && !Creator(item, block).empty()) ++block;
  item.putAndInsertString(DcmTag(kReconstructionGroup, block, EVR_LO), kReconstructionCreator);
  item.putAndInsertUint16(BlockTag(block, kMosaicImages, EVR_US),
                          static_cast<Uint16>(header.images));
  if (header.normal) {
    item.putAndInsertFloat64Array(BlockTag(block, kSliceNormal, EVR_FD), header.normal->data(), 3);
  }
  if (!header.times_ms.empty()) {
    item.putAndInsertFloat64Array(BlockTag(block, kTileTimes, EVR_FD), header.times_ms.data(),
                                  static_cast<unsigned long>(header.times_ms.size()));
  }
  if (!header.tile_positions.empty()) {
    std::vector<Float64> flat;
    for (const Vec3& position : header.tile_positions) {
      flat.insert(flat.end(), position.begin(), position.end());
    }
    item.putAndInsertFloat64Array(BlockTag(block, kTilePositions, EVR_FD), flat.data(),
                                  static_cast<unsigned long>(flat.size()));
  }
}

std::optional<MosaicHeader> ReadReconstructionBlock(DcmItem& item) {
  for (Uint16 block = 0x10; block <= 0xFF; ++block) {
    if (Creator(item, block) != kReconstructionCreator) continue;
    MosaicHeader header;
    DcmElement* element = nullptr;
    Uint16 images = 0;
    if (item.findAndGetElement(DcmTagKey(kReconstructionGroup, (block << 8) | kMosaicImages),
                               element)
            .bad() ||
        element->getUint16(images).bad()) {
      return std::nullopt;
    }
    header.images = images;
    if (item.findAndGetElement(DcmTagKey(kReconstructionGroup, (block << 8) | kSliceNormal),
                               element)
            .good() &&
        element->getVM() == 3) {
      Vec3 normal;
      for (unsigned long i = 0; i < 3; ++i) element->getFloat64(normal[i], i);
      header.normal = normal;
    }
    if (item.findAndGetElement(DcmTagKey(kReconstructionGroup, (block << 8) | kTileTimes), element)
            .good()) {
      for (unsigned long i = 0; i < element->getVM(); ++i) {
        Float64 time = 0;
        if (element->getFloat64(time, i).good()) header.times_ms.push_back(time);
      }
    }
    if (item.findAndGetElement(DcmTagKey(kReconstructionGroup, (block << 8) | kTilePositions),
                               element)
            .good()) {
      for (unsigned long i = 0; i + 2 < element->getVM(); i += 3) {
        Vec3 position;
        for (unsigned long k = 0; k < 3; ++k) element->getFloat64(position[k], i + k);
        header.tile_positions.push_back(position);
      }
    }
    return header;
  }
  return std::nullopt;
}

}  // namespace tributary::dicom
