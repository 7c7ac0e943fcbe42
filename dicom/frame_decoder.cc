#include "dicom/frame_decoder.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>

#include "dicom/dcmtk_support.h"
#include "dicom/jpeg2000.h"

namespace tributary::dicom {
namespace {

// Stored values from raw samples: shifted down to BitsStored, masked, sign-extended. The common
// cases (no shift, unsigned or full-width signed) are plain conversions the compiler vectorizes.
template <typename Raw>
Raw Sample(const Uint8* bytes, std::size_t i) {
  Raw raw;  // memcpy: the buffer need not be aligned for Raw; compiles to a plain load
  std::memcpy(&raw, bytes + i * sizeof(Raw), sizeof(Raw));
  return raw;
}

template <typename Raw>
void UnpackStored(const Uint8* bytes, std::size_t count, unsigned shift, std::uint32_t mask,
                  std::uint32_t sign, bool is_signed, std::vector<std::int32_t>& stored) {
  constexpr unsigned kBits = sizeof(Raw) * 8;
  bool full = mask == static_cast<std::uint32_t>((std::uint64_t{1} << kBits) - 1);
  if (shift == 0 && full && kBits < 32) {
    using Signed = std::make_signed_t<Raw>;
    if (is_signed) {
      for (std::size_t i = 0; i < count; ++i)
        stored[i] = static_cast<Signed>(Sample<Raw>(bytes, i));
    } else {
      for (std::size_t i = 0; i < count; ++i)
        stored[i] = static_cast<std::int32_t>(Sample<Raw>(bytes, i));
    }
    return;
  }
  if (shift == 0 && !is_signed) {
    for (std::size_t i = 0; i < count; ++i)
      stored[i] = static_cast<std::int32_t>(Sample<Raw>(bytes, i) & mask);
    return;
  }
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t raw = (static_cast<std::uint32_t>(Sample<Raw>(bytes, i)) >> shift) & mask;
    if (is_signed && (raw & sign)) raw |= ~mask;
    stored[i] = static_cast<std::int32_t>(raw);
  }
}

bool IsJpeg2000(E_TransferSyntax xfer) {
  return xfer == EXS_JPEG2000LosslessOnly || xfer == EXS_JPEG2000 ||
         xfer == EXS_JPEG2000MulticomponentLosslessOnly || xfer == EXS_JPEG2000Multicomponent;
}

// The first fragment (item index; item 0 is the offset table) of each of `frames` frames when a
// multi-frame instance has more fragments than frames: the Basic Offset Table says where each
// frame starts, or, when it is empty, each frame ends with the fragment whose data end with the
// codestream's EOC marker (FF D9, then possibly one byte of padding), as DCMTK's own JPEG decoder
// splits them.
absl::StatusOr<std::vector<unsigned long>> FrameStarts(DcmPixelSequence& fragments,
                                                       unsigned frames) {
  const unsigned long count = fragments.card() - 1;
  std::vector<unsigned long> starts;
  DcmPixelItem* table = nullptr;
  Uint8* table_data = nullptr;
  if (fragments.getItem(table, 0).good() && table->getLength() == 4ul * frames &&
      table->getUint8Array(table_data).good() && table_data != nullptr) {
    std::uint64_t offset = 0;  // of each fragment's item, from the first fragment's item
    for (unsigned long i = 1; i <= count && starts.size() < frames; ++i) {
      const Uint8* entry = table_data + 4 * starts.size();
      const std::uint32_t wanted = entry[0] | (entry[1] << 8) | (entry[2] << 16) |
                                   (static_cast<std::uint32_t>(entry[3]) << 24);
      if (offset == wanted) starts.push_back(i);
      DcmPixelItem* item = nullptr;
      if (fragments.getItem(item, i).bad()) break;
      offset += 8 + item->getLength();
    }
  } else {
    starts.push_back(1);
    for (unsigned long i = 1; i < count; ++i) {
      DcmPixelItem* item = nullptr;
      Uint8* data = nullptr;
      if (fragments.getItem(item, i).bad() || item->getUint8Array(data).bad() || data == nullptr)
        continue;
      const Uint32 length = item->getLength();
      const bool eoc = (length >= 2 && data[length - 2] == 0xFF && data[length - 1] == 0xD9) ||
                       (length >= 3 && data[length - 3] == 0xFF && data[length - 2] == 0xD9 &&
                        data[length - 1] == 0x00);
      if (eoc) starts.push_back(i + 1);
    }
  }
  if (starts.size() != frames) {
    return absl::InvalidArgumentError(
        "JPEG 2000 pixel data: cannot tell which of its " + std::to_string(count) +
        " fragments belong to which of its " + std::to_string(frames) +
        " frames (the offset table and end-of-codestream markers do not match the frame count)");
  }
  return starts;
}

// DCMTK has no JPEG 2000 codec: the frame's fragments go to OpenJPEG (jpeg2000.h).
absl::Status DecodeJpeg2000Frame(Instance& instance, DcmElement& element, unsigned frame,
                                 std::vector<std::int32_t>& stored) {
  auto& pixel_data = static_cast<DcmPixelData&>(element);
  E_TransferSyntax xfer = EXS_Unknown;
  const DcmRepresentationParameter* parameter = nullptr;
  pixel_data.getOriginalRepresentationKey(xfer, parameter);
  DcmPixelSequence* fragments = nullptr;
  if (pixel_data.getEncapsulatedRepresentation(xfer, parameter, fragments).bad() ||
      fragments == nullptr || fragments->card() < 2) {
    return absl::InvalidArgumentError(instance.source + ": JPEG 2000 pixel data without fragments");
  }
  // Item 0 is the offset table; then all fragments for one frame, one fragment per frame, or
  // frames split over several fragments (found once per instance).
  const unsigned long count = fragments->card() - 1;
  unsigned long first = 1, last = count;
  if (instance.frames > 1 && count == instance.frames) {
    first = last = frame + 1;
  } else if (instance.frames > 1) {
    if (instance.fragment_starts.empty()) {
      absl::StatusOr<std::vector<unsigned long>> starts = FrameStarts(*fragments, instance.frames);
      if (!starts.ok()) {
        return absl::InvalidArgumentError(instance.source + ": " +
                                          std::string(starts.status().message()));
      }
      instance.fragment_starts = *std::move(starts);
    }
    first = instance.fragment_starts[frame];
    last = frame + 1 < instance.frames ? instance.fragment_starts[frame + 1] - 1 : count;
  }
  std::string encoded;
  for (unsigned long i = first; i <= last; ++i) {
    DcmPixelItem* item = nullptr;
    Uint8* data = nullptr;
    if (fragments->getItem(item, i).bad() || item->getUint8Array(data).bad()) {
      return absl::InvalidArgumentError(instance.source + ": unreadable JPEG 2000 fragment");
    }
    if (data != nullptr) encoded.append(reinterpret_cast<const char*>(data), item->getLength());
  }
  absl::Status status = DecodeJpeg2000(encoded, instance.rows, instance.columns, stored);
  if (!status.ok())
    return absl::InvalidArgumentError(instance.source + ": " + std::string(status.message()));
  return absl::OkStatus();
}

// Stored values of one frame as signed integers (bits masked and sign-extended). `raw` is scratch
// space for the frame's bytes, kept by the caller across frames: a fresh buffer per frame costs
// page faults on every slice.
absl::Status DecodeFrame(Instance& instance, unsigned frame, std::vector<std::uint8_t>& raw,
                         std::vector<std::int32_t>& stored) {
  DcmDataset& dataset = *instance.file->getDataset();
  DcmElement* element = nullptr;
  if (dataset.findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) {
    return absl::InvalidArgumentError(instance.source + ": no pixel data");
  }
  if (IsJpeg2000(instance.xfer)) return DecodeJpeg2000Frame(instance, *element, frame, stored);
  std::size_t count = std::size_t{instance.rows} * instance.columns;
  std::size_t bytes_per = instance.bits_allocated / 8;
  std::size_t even = (count * bytes_per + 1) & ~std::size_t{1};
  raw.resize(std::max<std::size_t>(even, 2));
  Uint32 fragment = 0;
  OFString color;
  OFCondition condition = element->getUncompressedFrame(&dataset, frame, fragment, raw.data(),
                                                        static_cast<Uint32>(raw.size()), color);
  if (condition.bad()) {
    DcmXfer xfer(instance.xfer);
    return absl::UnimplementedError(
        instance.source + ": cannot decode pixel data (transfer syntax " + xfer.getXferName() +
        " " + xfer.getXferID() + "): " + condition.text());
  }
  stored.resize(count);
  unsigned shift = instance.high_bit + 1 >= instance.bits_stored
                       ? instance.high_bit + 1 - instance.bits_stored
                       : 0;
  std::uint32_t mask =
      instance.bits_stored >= 32 ? 0xFFFFFFFFu : ((1u << instance.bits_stored) - 1);
  std::uint32_t sign =
      instance.bits_stored >= 32 ? 0x80000000u : (1u << (instance.bits_stored - 1));
  switch (bytes_per) {
    case 1:
      UnpackStored<Uint8>(raw.data(), count, shift, mask, sign, instance.is_signed, stored);
      break;
    case 2:
      UnpackStored<Uint16>(raw.data(), count, shift, mask, sign, instance.is_signed, stored);
      break;
    default:
      UnpackStored<Uint32>(raw.data(), count, shift, mask, sign, instance.is_signed, stored);
      break;
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterCodecs() {
  static std::once_flag once;
  std::call_once(once, [] {
    QuietDcmtkLogging();
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

absl::StatusOr<const std::vector<std::int32_t>*> FrameDecoder::Stored(const Slice& slice) {
  Instance& in = *slice.instance;
  if (cached_instance_ != &in || cached_frame_ != slice.frame) {
    cached_instance_ = nullptr;
    TRIB_RETURN_IF_ERROR(DecodeFrame(in, slice.frame, raw_, cached_));
    cached_instance_ = &in;
    cached_frame_ = slice.frame;
  }
  if (slice.tile < 0) return &cached_;
  std::size_t per_row = in.columns / slice.columns;
  std::size_t tile_row = static_cast<std::size_t>(slice.tile) / per_row;
  std::size_t tile_col = static_cast<std::size_t>(slice.tile) % per_row;
  tile_.resize(std::size_t{slice.rows} * slice.columns);
  for (std::size_t row = 0; row < slice.rows; ++row) {
    const std::int32_t* from =
        cached_.data() + (tile_row * slice.rows + row) * in.columns + tile_col * slice.columns;
    std::copy(from, from + slice.columns, tile_.begin() + row * slice.columns);
  }
  return &tile_;
}

}  // namespace tributary::dicom
