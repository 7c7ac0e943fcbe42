#include "dicom/siemens_csa.h"

#include <dcmtk/dcmdata/dcdatset.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "dicom/attribute_readers.h"
#include "dicom/vec3.h"

namespace tributary::dicom {

std::vector<std::string> CsaImageItems(DcmItem& d, const std::string& name) {
  for (Uint16 block = 0x10; block <= 0xFF; ++block) {
    if (String(d, DcmTagKey(0x0029, block)) != "SIEMENS CSA HEADER") continue;
    DcmElement* element = nullptr;
    DcmTagKey tag(0x0029, static_cast<Uint16>((block << 8) | 0x10));
    if (d.findAndGetElement(tag, element).bad()) return {};
    Uint8* data = nullptr;
    if (element->getUint8Array(data).bad() || data == nullptr) return {};
    return CsaItems(data, element->getLength(), name);
  }
  return {};
}

namespace {

// The number of images in a Siemens mosaic: (0019,100A) NumberOfImagesInMosaic.
int MosaicImages(DcmDataset& d) {
  for (Uint16 block = 0x10; block <= 0xFF; ++block) {
    std::string creator = String(d, DcmTagKey(0x0019, block));
    if (creator.empty()) continue;
    if (creator != "SIEMENS MR HEADER") continue;
    Uint16 value = 0;
    if (d.findAndGetUint16(DcmTagKey(0x0019, static_cast<Uint16>((block << 8) | 0x0A)), value)
            .good()) {
      return value;
    }
    std::optional<double> number =
        Number(d, DcmTagKey(0x0019, static_cast<Uint16>((block << 8) | 0x0A)));
    if (number) return static_cast<int>(*number);
  }
  return 0;
}

}  // namespace

std::vector<std::string> CsaItems(const std::uint8_t* data, std::size_t size,
                                  const std::string& name) {
  auto u32 = [&](std::size_t at) {
    Uint32 v = 0;
    std::memcpy(&v, data + at, 4);
    return v;
  };
  if (size < 16 || std::memcmp(data, "SV10", 4) != 0) return {};
  Uint32 tags = u32(8);
  std::size_t at = 16;
  for (Uint32 t = 0; t < tags && t < 1000; ++t) {
    if (at + 84 > size) return {};
    const char* text = reinterpret_cast<const char*>(data + at);
    std::string tag_name(text, strnlen(text, 64));
    Uint32 items = u32(at + 76);
    at += 84;
    std::vector<std::string> values;
    for (Uint32 i = 0; i < items && i < 10000; ++i) {
      if (at + 16 > size) return {};
      Uint32 length = u32(at + 4);
      at += 16;
      if (length > size - at) return {};
      const char* item = reinterpret_cast<const char*>(data + at);
      values.emplace_back(item, strnlen(item, length));
      at += (length + 3) & ~Uint32{3};
    }
    if (tag_name == name) return values;
  }
  return {};
}

MosaicHeader ReadMosaicHeader(DcmDataset& d) {
  if (std::optional<MosaicHeader> extracted = ReadReconstructionBlock(d)) return *extracted;
  MosaicHeader header;
  header.images = MosaicImages(d);
  if (header.images == 0) {
    std::vector<std::string> count = CsaImageItems(d, "NumberOfImagesInMosaic");
    if (!count.empty()) header.images = std::atoi(count[0].c_str());
  }
  for (const std::string& time : CsaImageItems(d, "MosaicRefAcqTimes")) {
    if (!time.empty()) header.times_ms.push_back(std::atof(time.c_str()));
  }
  std::vector<std::string> normal = CsaImageItems(d, "SliceNormalVector");
  if (normal.size() >= 3) {
    Vec3 n = {std::atof(normal[0].c_str()), std::atof(normal[1].c_str()),
              std::atof(normal[2].c_str())};
    if (Norm(n) > 0.5) header.normal = Scaled(n, 1 / Norm(n));
  }
  return header;
}

absl::Status MosaicTiles(Instance& in, Slice base, std::vector<Slice>& out) {
  if (in.mosaic.images < 1) {
    return absl::InvalidArgumentError(
        in.source +
        ": MOSAIC image without NumberOfImagesInMosaic (Siemens (0019,xx0A) or the CSA header; a "
        "de-identified copy carries it only when made with the Retain Safe Private option)");
  }
  unsigned per_row =
      static_cast<unsigned>(std::ceil(std::sqrt(static_cast<double>(in.mosaic.images))));
  if (in.rows % per_row != 0 || in.columns % per_row != 0) {
    return absl::InvalidArgumentError(in.source + ": mosaic size is not a multiple of its tiles");
  }
  base.rows = in.rows / per_row;
  base.columns = in.columns / per_row;
  // ImagePositionPatient of a mosaic places the whole mosaic as one image; the first tile has
  // the same centre, so it starts half the difference in size further along rows and columns.
  const FrameGeometry& g = in.geometry;
  Vec3 first = g.position;
  first = Sub(first, Scaled(g.row_dir, -g.dx * (in.columns - base.columns) / 2.0));
  first = Sub(first, Scaled(g.col_dir, -g.dy * (in.rows - base.rows) / 2.0));
  Vec3 normal = Cross(g.row_dir, g.col_dir);
  if (in.mosaic.normal && Dot(*in.mosaic.normal, normal) < 0) normal = Scaled(normal, -1);
  double step = in.spacing_between_slices.value_or(in.slice_thickness.value_or(1));
  for (int tile = 0; tile < in.mosaic.images; ++tile) {
    Slice slice = base;
    slice.tile = tile;
    if (in.mosaic.times_ms.size() == static_cast<std::size_t>(in.mosaic.images)) {
      slice.acquired_ms = in.mosaic.times_ms[static_cast<std::size_t>(tile)];
    }
    slice.geometry.position = Sub(first, Scaled(normal, -step * tile));
    out.push_back(slice);
  }
  return absl::OkStatus();
}

}  // namespace tributary::dicom
