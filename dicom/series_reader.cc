#include "dicom/series_reader.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

#include "common/parallel.h"
#include "common/version.h"
#include "dicom/deidentifier.h"
#include "dicom/jpeg2000.h"
#include "dicom/memory_input_stream.h"

namespace tributary::dicom {
namespace {

using Vec3 = std::array<double, 3>;
using common::Metadata;
using common::Volume;

// Values longer than this stay in the file (or buffer) until the pixels are decoded.
constexpr Uint32 kHeaderReadLimit = 4096;
constexpr std::size_t kMaxInflatedBytes = std::size_t{1} << 30;
// Two slices closer than this along the normal share a position (a 4D series).
constexpr double kSamePositionMm = 0.01;
// Steps that differ from the mean step by more than this are resampled (issue 4).
constexpr double kGapToleranceMm = 0.2;
// Larger volumes are refused rather than allocated (8 GiB as float32): headers can claim anything.
constexpr std::size_t kMaxVoxels = std::size_t{1} << 31;
// An in-plane shift between slices above this is gantry tilt (or a sheared header).
constexpr double kTiltToleranceMm = 0.01;

double Dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec3 Cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
Vec3 Sub(const Vec3& a, const Vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
Vec3 Scaled(const Vec3& a, double s) { return {a[0] * s, a[1] * s, a[2] * s}; }
double Norm(const Vec3& a) { return std::sqrt(Dot(a, a)); }

void RegisterCodecs() {
  static std::once_flag once;
  std::call_once(once, [] {
    OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

std::string Trimmed(const OFString& value) {
  std::string out(value.c_str(), value.length());
  while (!out.empty() && (out.back() == ' ' || out.back() == '\0')) out.pop_back();
  std::size_t start = out.find_first_not_of(' ');
  return start == std::string::npos ? std::string() : out.substr(start);
}

// The top-level elements of a data set, sorted by tag: ReadHeader looks up ~60 attributes, and
// DCMTK's findAndGet* walks the element list from the start for each.
class ElementIndex {
 public:
  explicit ElementIndex(DcmItem& item) {
    for (DcmObject* o = item.nextInContainer(nullptr); o != nullptr; o = item.nextInContainer(o)) {
      elements_.emplace_back(o->getTag(), static_cast<DcmElement*>(o));
    }
    auto by_tag = [](const Entry& a, const Entry& b) { return a.first < b.first; };
    if (!std::is_sorted(elements_.begin(), elements_.end(), by_tag))
      std::stable_sort(elements_.begin(), elements_.end(), by_tag);
  }
  DcmElement* Find(const DcmTagKey& tag) const {
    auto it = std::lower_bound(elements_.begin(), elements_.end(), tag,
                               [](const Entry& e, const DcmTagKey& key) { return e.first < key; });
    return it != elements_.end() && it->first == tag ? it->second : nullptr;
  }

 private:
  using Entry = std::pair<DcmTagKey, DcmElement*>;
  std::vector<Entry> elements_;
};

DcmElement* FindElement(const ElementIndex& index, const DcmTagKey& tag) { return index.Find(tag); }
DcmElement* FindElement(DcmItem& item, const DcmTagKey& tag) {
  DcmElement* element = nullptr;
  return item.findAndGetElement(tag, element, OFFalse).good() ? element : nullptr;
}

// Attribute readers over a DcmItem or an ElementIndex of one.
template <typename Source>
std::string String(Source& source, const DcmTagKey& tag) {
  DcmElement* element = FindElement(source, tag);
  OFString value;
  if (element == nullptr || element->getOFStringArray(value).bad()) return {};
  return Trimmed(value);
}

template <typename Source>
std::optional<double> Number(Source& source, const DcmTagKey& tag, unsigned long pos = 0) {
  DcmElement* element = FindElement(source, tag);
  Float64 value = 0;
  if (element == nullptr || element->getFloat64(value, pos).bad() || !std::isfinite(value))
    return std::nullopt;
  return value;
}

template <typename Source>
std::optional<std::int64_t> Integer(Source& source, const DcmTagKey& tag) {
  DcmElement* element = FindElement(source, tag);
  Sint32 value = 0;
  if (element != nullptr && element->getSint32(value).good()) return value;
  std::optional<double> number = Number(source, tag);
  if (number) return static_cast<std::int64_t>(std::llround(*number));
  return std::nullopt;
}

template <typename Source>
unsigned Unsigned(Source& source, const DcmTagKey& tag, unsigned fallback) {
  DcmElement* element = FindElement(source, tag);
  Uint16 value = 0;
  if (element == nullptr || element->getUint16(value).bad()) return fallback;
  return value;
}

template <typename Source>
std::optional<std::vector<double>> Numbers(Source& source, const DcmTagKey& tag,
                                           std::size_t count) {
  DcmElement* element = FindElement(source, tag);
  if (element == nullptr) return std::nullopt;
  std::vector<double> values(count);
  for (std::size_t i = 0; i < count; ++i) {
    Float64 value = 0;
    if (element->getFloat64(value, i).bad() || !std::isfinite(value)) return std::nullopt;
    values[i] = value;
  }
  return values;
}

std::vector<std::string> Split(const std::string& value) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t end = value.find('\\', start);
    parts.push_back(
        value.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return parts;
}

// HHMMSS.ffffff (DICOM TM) as seconds since midnight.
std::optional<double> Seconds(const std::string& tm) {
  if (tm.size() < 2) return std::nullopt;
  std::string digits = tm;
  digits.erase(std::remove(digits.begin(), digits.end(), ':'), digits.end());
  double hours = std::atof(digits.substr(0, 2).c_str());
  double minutes = digits.size() >= 4 ? std::atof(digits.substr(2, 2).c_str()) : 0;
  double seconds = digits.size() > 4 ? std::atof(digits.substr(4).c_str()) : 0;
  return hours * 3600 + minutes * 60 + seconds;
}

std::string Rounded(double value, double step) {
  long long q = std::llround(value / step);
  return std::to_string(q == 0 ? 0 : q);
}

// Geometry and pixel description of one frame (or mosaic tile) as the headers state it.
struct FrameGeometry {
  Vec3 row_dir = {1, 0,
                  0};  // ImageOrientationPatient, first triplet: direction of increasing column
  Vec3 col_dir = {0, 1, 0};
  Vec3 position = {0, 0, 0};  // ImagePositionPatient: centre of the first transmitted voxel
  double dx = 1;              // PixelSpacing[1]: between columns
  double dy = 1;              // PixelSpacing[0]: between rows
  double slope = 1;
  double intercept = 0;
};

struct Instance {
  std::string source;
  std::shared_ptr<const std::string> bytes;  // when read from memory
  std::unique_ptr<DcmInputStream> stream;    // outlives `file`, which may load values from it
  std::unique_ptr<DcmFileFormat> file;

  std::string series_uid;
  std::string sop_uid;
  std::string modality;
  std::string protocol;
  std::string image_type;
  std::string photometric;
  E_TransferSyntax xfer = EXS_Unknown;
  std::int64_t series_number = 0;
  std::int64_t instance_number = 0;
  std::int64_t temporal_position = 0;
  std::optional<std::int64_t> echo_number;
  std::optional<double> echo_time;
  double acquisition_time = 0;
  unsigned rows = 0;
  unsigned columns = 0;
  unsigned bits_allocated = 0;
  unsigned bits_stored = 0;
  unsigned high_bit = 0;
  bool is_signed = false;
  unsigned samples = 1;
  unsigned frames = 1;
  std::optional<double> padding_value;
  std::optional<double> padding_limit;
  std::optional<double> slice_thickness;
  std::optional<double> spacing_between_slices;
  std::optional<double> repetition_time_ms;
  bool has_geometry = false;
  FrameGeometry geometry;
  int mosaic_images = 0;              // Siemens mosaic: number of tiles holding images
  std::optional<Vec3> mosaic_normal;  // CSA SliceNormalVector: the order of the tiles in space
  std::vector<double> mosaic_times;   // CSA MosaicRefAcqTimes (ms), per tile
  // JPEG 2000 frames over several fragments: the first fragment of each frame (FrameStarts).
  std::vector<unsigned long> fragment_starts;
  Metadata metadata;
};

// One 2D image of a stack: a single-frame instance, a frame of a multi-frame instance, or a tile of
// a mosaic.
struct Slice {
  Instance* instance = nullptr;
  unsigned frame = 0;
  int tile = -1;
  unsigned rows = 0;
  unsigned columns = 0;
  FrameGeometry geometry;
  double depth = 0;  // position along the stack's slice normal
  // Per frame in enhanced multi-frame instances, else the instance's values.
  std::int64_t temporal_position = 0;
  std::optional<std::int64_t> echo_number;
  std::optional<double> echo_time;
  std::string image_type;
  std::string stack_id;
  std::optional<double> acquired_ms;  // when the slice was acquired (mosaic tile, enhanced frame)
};

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
absl::Status DecodeFrame(Instance& instance, unsigned frame, std::vector<Uint8>& raw,
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

void PutIfPresent(Metadata& out, const char* key, const std::string& value) {
  if (!value.empty()) out[key] = value;
}
void PutIfPresent(Metadata& out, const char* key, std::optional<double> value, double scale = 1) {
  if (value) out[key] = *value * scale;
}

// Sidecar keys read straight from one attribute: BIDS name, tag, and for numbers the factor to
// BIDS units (ms -> s).
struct TextKey {
  const char* name;
  DcmTagKey tag;
};
struct NumberKey {
  const char* name;
  DcmTagKey tag;
  double scale = 1;
};
const TextKey kTextKeys[] = {
    {"Manufacturer", DCM_Manufacturer},
    {"ManufacturersModelName", DCM_ManufacturerModelName},
    {"SoftwareVersions", DCM_SoftwareVersions},
    {"BodyPartExamined", DCM_BodyPartExamined},
    {"PatientPosition", DCM_PatientPosition},
    {"SeriesDescription", DCM_SeriesDescription},
    {"ScanningSequence", DCM_ScanningSequence},
    {"SequenceVariant", DCM_SequenceVariant},
    {"ScanOptions", DCM_ScanOptions},
    {"SequenceName", DCM_SequenceName},
    {"ConvolutionKernel", DCM_ConvolutionKernel},
    {"ReceiveCoilName", DCM_ReceiveCoilName},
    {"InPlanePhaseEncodingDirectionDICOM", DCM_InPlanePhaseEncodingDirection},
};
const NumberKey kNumberKeys[] = {
    {"MagneticFieldStrength", DCM_MagneticFieldStrength},
    {"ImagingFrequency", DCM_ImagingFrequency},
    {"ReconstructionDiameter", DCM_ReconstructionDiameter},
    {"XRayTubeCurrent", DCM_XRayTubeCurrent},
    {"KVP", DCM_KVP},
    {"ExposureTime", DCM_ExposureTime, 0.001},
    {"GantryDetectorTilt", DCM_GantryDetectorTilt},
    {"InversionTime", DCM_InversionTime, 0.001},
    {"FlipAngle", DCM_FlipAngle},
    {"PixelBandwidth", DCM_PixelBandwidth},
    {"PercentPhaseFOV", DCM_PercentPhaseFieldOfView},
};

// BIDS-style keys of the instance; nothing identifying (no names, IDs, dates, institutions).
Metadata AcquisitionMetadata(const ElementIndex& h, const Instance& instance) {
  Metadata m;
  for (const TextKey& key : kTextKeys) PutIfPresent(m, key.name, String(h, key.tag));
  for (const NumberKey& key : kNumberKeys) PutIfPresent(m, key.name, Number(h, key.tag), key.scale);
  PutIfPresent(m, "Modality", instance.modality);
  PutIfPresent(m, "ProtocolName", instance.protocol);
  if (!instance.image_type.empty()) m["ImageType"] = Split(instance.image_type);
  if (instance.series_number != 0) m["SeriesNumber"] = instance.series_number;
  if (instance.echo_number) m["EchoNumber"] = *instance.echo_number;
  PutIfPresent(m, "EchoTime", instance.echo_time, 0.001);
  PutIfPresent(m, "RepetitionTime", instance.repetition_time_ms, 0.001);
  PutIfPresent(m, "SliceThickness", instance.slice_thickness);
  PutIfPresent(m, "SpacingBetweenSlices", instance.spacing_between_slices);
  // Philips MR private scale slope (2005,100E): the value that maps to floating point, recorded
  // only.
  std::optional<double> philips = Number(h, DcmTagKey(0x2005, 0x100E));
  if (philips && String(h, DcmTagKey(0x2005, 0x0010)).rfind("Philips MR Imaging DD 001", 0) == 0) {
    m["PhilipsScaleSlope"] = *philips;
  }
  if (instance.has_geometry) {
    const FrameGeometry& g = instance.geometry;
    m["ImageOrientationPatientDICOM"] = std::vector<double>{
        g.row_dir[0], g.row_dir[1], g.row_dir[2], g.col_dir[0], g.col_dir[1], g.col_dir[2]};
  }
  PutIfPresent(m, "TransferSyntaxUID", std::string(DcmXfer(instance.xfer).getXferID()));
  m["ConversionSoftware"] = std::string("tributary");
  m["ConversionSoftwareVersion"] = std::string(kVersion);
  return m;
}

// The items of one element of a Siemens CSA header (SV10 layout, as nibabel's csareader reads it),
// or nothing when the header or the element is absent.
std::vector<std::string> CsaItems(const Uint8* data, std::size_t size, const std::string& name) {
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

// One element of the Siemens CSA image header, (0029,xx10) of "SIEMENS CSA HEADER".
std::vector<std::string> CsaImageItems(DcmDataset& d, const std::string& name) {
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

// The first item of functional group `group` for frame `frame`: per-frame, else shared.
DcmItem* FunctionalGroup(DcmDataset& d, unsigned frame, const DcmTagKey& group) {
  DcmItem* frame_item = nullptr;
  DcmItem* item = nullptr;
  if (d.findAndGetSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame_item, frame).good() &&
      frame_item->findAndGetSequenceItem(group, item, 0).good()) {
    return item;
  }
  DcmItem* shared = nullptr;
  if (d.findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0).good() &&
      shared->findAndGetSequenceItem(group, item, 0).good()) {
    return item;
  }
  return nullptr;
}

// Acquisition keys that enhanced multi-frame instances keep in functional groups (first frame).
void EnhancedAcquisition(DcmDataset& d, Instance& instance) {
  if (DcmItem* timing = FunctionalGroup(d, 0, DCM_MRTimingAndRelatedParametersSequence)) {
    if (auto tr = Number(*timing, DCM_RepetitionTime)) instance.repetition_time_ms = tr;
    if (auto flip = Number(*timing, DCM_FlipAngle)) instance.metadata["FlipAngle"] = *flip;
  }
  if (instance.repetition_time_ms) {
    instance.metadata["RepetitionTime"] = *instance.repetition_time_ms / 1000;
  }
  if (DcmItem* modifier = FunctionalGroup(d, 0, DCM_MRImagingModifierSequence)) {
    if (auto frequency = Number(*modifier, DCM_TransmitterFrequency)) {
      instance.metadata["ImagingFrequency"] = *frequency;
    }
    if (auto bandwidth = Number(*modifier, DCM_PixelBandwidth)) {
      instance.metadata["PixelBandwidth"] = *bandwidth;
    }
  }
  if (DcmItem* measures = FunctionalGroup(d, 0, DCM_PixelMeasuresSequence)) {
    if (auto thickness = Number(*measures, DCM_SliceThickness)) {
      instance.metadata["SliceThickness"] = *thickness;
    }
    if (auto spacing = Number(*measures, DCM_SpacingBetweenSlices)) {
      instance.metadata["SpacingBetweenSlices"] = *spacing;
    }
  }
}

absl::Status ReadHeader(Instance& instance) {
  DcmDataset& d = *instance.file->getDataset();
  const ElementIndex h(d);
  instance.xfer = d.getOriginalXfer();
  instance.sop_uid = String(h, DCM_SOPInstanceUID);
  instance.series_uid = String(h, DCM_SeriesInstanceUID);
  if (h.Find(DCM_PixelData) == nullptr) {
    std::string sop_class = String(h, DCM_SOPClassUID);
    const char* name = dcmFindNameOfUID(sop_class.c_str());
    if (d.tagExists(DCM_DirectoryRecordSequence)) {
      return absl::InvalidArgumentError("DICOMDIR (media directory, not an image)");
    }
    return absl::InvalidArgumentError("no pixel data: not an image (" +
                                      std::string(name ? name : sop_class) + ")");
  }
  if (instance.series_uid.empty())
    return absl::InvalidArgumentError("no SeriesInstanceUID (0020,000E)");
  instance.modality = String(h, DCM_Modality);
  instance.protocol = String(h, DCM_ProtocolName);
  if (instance.protocol.empty()) instance.protocol = String(h, DCM_SeriesDescription);
  instance.image_type = String(h, DCM_ImageType);
  instance.photometric = String(h, DCM_PhotometricInterpretation);
  instance.series_number = Integer(h, DCM_SeriesNumber).value_or(0);
  instance.instance_number = Integer(h, DCM_InstanceNumber).value_or(0);
  instance.temporal_position = Integer(h, DCM_TemporalPositionIdentifier).value_or(0);
  instance.echo_number = Integer(h, DCM_EchoNumbers);
  instance.echo_time = Number(h, DCM_EchoTime);
  std::string time = String(h, DCM_AcquisitionTime);
  if (time.empty()) time = String(h, DCM_ContentTime);
  instance.acquisition_time = Seconds(time).value_or(0);
  instance.rows = Unsigned(h, DCM_Rows, 0);
  instance.columns = Unsigned(h, DCM_Columns, 0);
  instance.bits_allocated = Unsigned(h, DCM_BitsAllocated, 16);
  instance.bits_stored = Unsigned(h, DCM_BitsStored, instance.bits_allocated);
  instance.high_bit = Unsigned(h, DCM_HighBit, instance.bits_stored - 1);
  instance.is_signed = Unsigned(h, DCM_PixelRepresentation, 0) == 1;
  instance.samples = Unsigned(h, DCM_SamplesPerPixel, 1);
  instance.frames =
      static_cast<unsigned>(std::max<std::int64_t>(1, Integer(h, DCM_NumberOfFrames).value_or(1)));
  if (instance.rows == 0 || instance.columns == 0) {
    return absl::InvalidArgumentError("Rows or Columns missing or zero");
  }
  if (instance.bits_allocated != 8 && instance.bits_allocated != 16 &&
      instance.bits_allocated != 32) {
    return absl::InvalidArgumentError("unsupported BitsAllocated " +
                                      std::to_string(instance.bits_allocated));
  }
  if (instance.bits_stored == 0 || instance.bits_stored > instance.bits_allocated ||
      instance.high_bit >= instance.bits_allocated) {
    return absl::InvalidArgumentError("inconsistent BitsStored/HighBit");
  }
  // PixelPaddingValue is US or SS per PixelRepresentation; read it as a number either way.
  auto padding = [&](const DcmTagKey& tag) -> std::optional<double> {
    DcmElement* element = h.Find(tag);
    Uint16 unsigned_value = 0;
    if (element == nullptr || element->getUint16(unsigned_value).bad()) return std::nullopt;
    if (instance.is_signed) return static_cast<double>(static_cast<Sint16>(unsigned_value));
    return static_cast<double>(unsigned_value);
  };
  instance.padding_value = padding(DCM_PixelPaddingValue);
  instance.padding_limit = padding(DCM_PixelPaddingRangeLimit);
  instance.slice_thickness = Number(h, DCM_SliceThickness);
  instance.spacing_between_slices = Number(h, DCM_SpacingBetweenSlices);
  instance.repetition_time_ms = Number(h, DCM_RepetitionTime);

  FrameGeometry& g = instance.geometry;
  g.slope = Number(h, DCM_RescaleSlope).value_or(1);
  if (g.slope == 0) g.slope = 1;
  g.intercept = Number(h, DCM_RescaleIntercept).value_or(0);
  auto orientation = Numbers(h, DCM_ImageOrientationPatient, 6);
  auto position = Numbers(h, DCM_ImagePositionPatient, 3);
  auto spacing = Numbers(h, DCM_PixelSpacing, 2);
  if (orientation && position) {
    g.row_dir = {(*orientation)[0], (*orientation)[1], (*orientation)[2]};
    g.col_dir = {(*orientation)[3], (*orientation)[4], (*orientation)[5]};
    double rn = Norm(g.row_dir), cn = Norm(g.col_dir);
    if (rn > 0.5 && cn > 0.5 && std::abs(Dot(g.row_dir, g.col_dir)) / (rn * cn) < 1e-3) {
      g.row_dir = Scaled(g.row_dir, 1 / rn);
      g.col_dir = Scaled(g.col_dir, 1 / cn);
      g.position = {(*position)[0], (*position)[1], (*position)[2]};
      instance.has_geometry = true;
    }
  }
  if (spacing && (*spacing)[0] > 0 && (*spacing)[1] > 0) {
    g.dy = (*spacing)[0];
    g.dx = (*spacing)[1];
  }
  if (instance.image_type.find("MOSAIC") != std::string::npos) {
    instance.mosaic_images = MosaicImages(d);
    if (instance.mosaic_images == 0) {
      std::vector<std::string> count = CsaImageItems(d, "NumberOfImagesInMosaic");
      if (!count.empty()) instance.mosaic_images = std::atoi(count[0].c_str());
    }
    for (const std::string& time : CsaImageItems(d, "MosaicRefAcqTimes")) {
      if (!time.empty()) instance.mosaic_times.push_back(std::atof(time.c_str()));
    }
    std::vector<std::string> normal = CsaImageItems(d, "SliceNormalVector");
    if (normal.size() >= 3) {
      Vec3 n = {std::atof(normal[0].c_str()), std::atof(normal[1].c_str()),
                std::atof(normal[2].c_str())};
      if (Norm(n) > 0.5) instance.mosaic_normal = Scaled(n, 1 / Norm(n));
    }
  }
  instance.metadata = AcquisitionMetadata(h, instance);
  if (d.tagExists(DCM_PerFrameFunctionalGroupsSequence)) EnhancedAcquisition(d, instance);
  return absl::OkStatus();
}

// Drops what decoding no longer needs once the header is read: a parsed data set costs several
// times its size in memory, and a convert run holds every instance's until its series is built.
// Kept: the image pixel module (group 0028), the pixel data (still lazily loaded from its file),
// and the functional groups of multi-frame instances.
void PruneDataset(DcmDataset& d) {
  // Front to back: DCMTK finds element i by walking the list from its start, so removing at the
  // position just past the elements kept so far costs a few steps, where removing from the back
  // cost a walk over the whole list per element.
  for (unsigned long i = 0; i < d.card();) {
    const DcmTag& tag = d.getElement(i)->getTag();
    bool keep = tag.getGTag() == 0x0028 || tag == DCM_PixelData ||
                tag == DCM_PerFrameFunctionalGroupsSequence ||
                tag == DCM_SharedFunctionalGroupsSequence;
    if (keep) {
      ++i;
    } else {
      delete d.remove(i);
    }
  }
}

// A stack: slices that can share one grid.
struct Stack {
  std::string key;
  std::vector<Slice> slices;
  std::optional<std::int64_t> echo_number;
  std::optional<double> echo_time;
  std::string image_type;
};

struct Plane {
  std::vector<Slice*> times;  // the slices at this position, in temporal order
  double depth = 0;
};

// Decodes slices to stored values, keeping the last decoded frame (a mosaic is decoded once for
// all its tiles) and the scratch buffers across slices. One per thread: DCMTK loads pixel data
// lazily, so one instance must not be decoded from two threads at once.
class FrameDecoder {
 public:
  // The stored values of one slice (a mosaic tile cut out), row by row; valid until the next call.
  absl::StatusOr<const std::vector<std::int32_t>*> Stored(const Slice& slice) {
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

 private:
  const Instance* cached_instance_ = nullptr;
  unsigned cached_frame_ = 0;
  std::vector<Uint8> raw_;  // the frame's bytes
  std::vector<std::int32_t> cached_;
  std::vector<std::int32_t> tile_;
};

// Builds the voxels of one stack.
class StackBuilder {
 public:
  explicit StackBuilder(Stack& stack) : stack_(stack) {}

  absl::StatusOr<Volume> Build() {
    TRIB_RETURN_IF_ERROR(CheckPixels());
    TRIB_RETURN_IF_ERROR(SortAndGroup());
    TRIB_RETURN_IF_ERROR(Geometry());
    TRIB_RETURN_IF_ERROR(Voxels());
    return std::move(volume_);
  }

 private:
  absl::Status CheckPixels() {
    const Instance& first = *stack_.slices.front().instance;
    for (const Slice& slice : stack_.slices) {
      const Instance& in = *slice.instance;
      if (in.samples != 1 || (in.photometric != "MONOCHROME1" && in.photometric != "MONOCHROME2")) {
        return absl::UnimplementedError(in.source + ": colour images (" + in.photometric +
                                        ") are not converted; only MONOCHROME1/2");
      }
      if (!in.has_geometry &&
          !slice.instance->file->getDataset()->tagExists(DCM_PerFrameFunctionalGroupsSequence)) {
        return absl::InvalidArgumentError(in.source +
                                          ": no ImagePositionPatient/ImageOrientationPatient: no "
                                          "patient geometry to place the image");
      }
      if (in.bits_allocated != first.bits_allocated) {
        return absl::InvalidArgumentError("BitsAllocated varies within the stack");
      }
    }
    return absl::OkStatus();
  }

  absl::Status SortAndGroup() {
    const FrameGeometry& g = stack_.slices.front().geometry;
    normal_ = Cross(g.row_dir, g.col_dir);
    for (Slice& slice : stack_.slices) slice.depth = Dot(slice.geometry.position, normal_);
    std::vector<Slice*> sorted;
    for (Slice& slice : stack_.slices) sorted.push_back(&slice);
    auto temporal = [](const Slice* s) {
      return std::make_tuple(s->temporal_position, s->instance->instance_number,
                             s->instance->acquisition_time, s->frame, s->instance->sop_uid);
    };
    std::stable_sort(sorted.begin(), sorted.end(), [&](const Slice* a, const Slice* b) {
      if (std::abs(a->depth - b->depth) >= kSamePositionMm) return a->depth < b->depth;
      return temporal(a) < temporal(b);
    });
    for (Slice* slice : sorted) {
      if (planes_.empty() || std::abs(slice->depth - planes_.back().depth) >= kSamePositionMm) {
        planes_.push_back({{}, slice->depth});
      }
      planes_.back().times.push_back(slice);
    }
    std::size_t times = planes_.front().times.size();
    for (const Plane& plane : planes_) {
      if (plane.times.size() != times) {
        return absl::FailedPreconditionError(
            "repeated slice positions with unequal counts (" + std::to_string(times) + " vs " +
            std::to_string(plane.times.size()) +
            " images at one position): an incomplete 4D series or mixed acquisitions");
      }
    }
    return absl::OkStatus();
  }

  absl::Status Geometry() {
    const Slice& first = *planes_.front().times.front();
    const FrameGeometry& g = first.geometry;
    Metadata& r = volume_.reconstruction;
    nx_ = first.columns;
    ny_ = first.rows;
    nt_ = planes_.front().times.size();
    volume_.spacing = {g.dx, g.dy, 1};
    volume_.origin = g.position;
    volume_.direction = {g.row_dir[0], g.col_dir[0], normal_[0],   g.row_dir[1], g.col_dir[1],
                         normal_[1],   g.row_dir[2], g.col_dir[2], normal_[2]};
    r["SortedBy"] = std::string("position along the slice normal (ImagePositionPatient)");
    SliceTiming();
    r["SourceSliceCount"] = static_cast<std::int64_t>(planes_.size());
    r["VolumeCount"] = static_cast<std::int64_t>(nt_);
    if (first.instance->repetition_time_ms && *first.instance->repetition_time_ms > 0) {
      volume_.time_step = *first.instance->repetition_time_ms / 1000.0;
    }
    if (nt_ > 1) {
      r["FourD"] =
          std::string("repeated slice positions: kept as one 4D volume of " + std::to_string(nt_) +
                      " time points, ordered by "
                      "TemporalPositionIdentifier, InstanceNumber, AcquisitionTime");
    }
    std::size_t n = planes_.size();
    if (n == 1) {
      const Instance& in = *first.instance;
      double dz = in.spacing_between_slices.value_or(in.slice_thickness.value_or(1));
      if (dz <= 0) dz = 1;
      volume_.spacing[2] = dz;
      nz_ = 1;
      r["SliceSpacingSource"] = std::string("single slice: SpacingBetweenSlices or SliceThickness");
      return absl::OkStatus();
    }
    std::vector<double> steps;
    double max_shift = 0;
    for (std::size_t k = 1; k < n; ++k) steps.push_back(planes_[k].depth - planes_[k - 1].depth);
    for (std::size_t k = 0; k < n; ++k) {
      Vec3 offset = Sub(planes_[k].times.front()->geometry.position, g.position);
      Vec3 in_plane = Sub(offset, Scaled(normal_, planes_[k].depth - planes_.front().depth));
      max_shift = std::max(max_shift, Norm(in_plane));
    }
    std::vector<double> sorted_steps = steps;
    std::nth_element(sorted_steps.begin(), sorted_steps.begin() + sorted_steps.size() / 2,
                     sorted_steps.end());
    double median = sorted_steps[sorted_steps.size() / 2];
    double extent = planes_.back().depth - planes_.front().depth;
    double max_deviation = 0;
    // Against the mean step (jitter around a regular grid stays unresampled); a missing slice or
    // a changed step shows as a deviation, and the median step then sets the new grid.
    double mean = extent / static_cast<double>(n - 1);
    for (double step : steps) max_deviation = std::max(max_deviation, std::abs(step - mean));
    bool irregular = max_deviation > kGapToleranceMm;
    bool tilted = max_shift > kTiltToleranceMm;
    r["SliceSpacingSource"] = std::string("ImagePositionPatient (never SliceThickness)");
    r["SliceSpacingMaxDeviation"] = max_deviation;
    if (!irregular) {
      nz_ = n;
    } else {
      nz_ = static_cast<std::size_t>(std::llround(extent / median)) + 1;
      if (nz_ > 4 * n + 16) {
        return absl::FailedPreconditionError("slice gaps too irregular to resample (" +
                                             std::to_string(nz_) + " slices for " +
                                             std::to_string(n) + ")");
      }
    }
    volume_.spacing[2] = extent / static_cast<double>(nz_ - 1);
    if (irregular || tilted) {
      resample_ = true;
      std::vector<std::string> reasons;
      if (irregular) {
        reasons.push_back("slice gaps vary by " + std::to_string(max_deviation) + " mm (> " +
                          std::to_string(kGapToleranceMm) +
                          " mm): missing slices or variable spacing");
      }
      if (tilted) {
        double angle = std::atan2(max_shift, extent) * 180.0 / M_PI;
        reasons.push_back("slices shifted in plane by up to " + std::to_string(max_shift) +
                          " mm: gantry tilt or sheared geometry");
        r["GantryTiltDetectedDegrees"] = angle;
      }
      r["Resampled"] = std::string("onto a regular orthogonal grid by linear interpolation");
      r["ResampleReasons"] = reasons;
      std::vector<double> depths, positions;
      for (const Plane& plane : planes_) {
        depths.push_back(plane.depth - planes_.front().depth);
        for (double v : plane.times.front()->geometry.position) positions.push_back(v);
      }
      r["OriginalSliceDepths"] = depths;
      r["OriginalImagePositionPatient"] = positions;
      r["OriginalSliceStepMedian"] = median;
    }
    return absl::OkStatus();
  }

  // BIDS SliceTiming (seconds from the first slice of the volume, in the volume's slice order) for
  // MR stacks whose slices say when they were acquired: Siemens mosaics (CSA MosaicRefAcqTimes)
  // and enhanced multi-frame (FrameAcquisitionDateTime).
  void SliceTiming() {
    if (planes_.size() < 2 || planes_.front().times.front()->instance->modality != "MR") return;
    std::vector<double> times;
    for (const Plane& plane : planes_) {
      const Slice& first = *plane.times.front();
      if (!first.acquired_ms) return;
      times.push_back(*first.acquired_ms);
    }
    double start = *std::min_element(times.begin(), times.end());
    double end = *std::max_element(times.begin(), times.end());
    std::optional<double> tr = planes_.front().times.front()->instance->repetition_time_ms;
    if (tr && end - start >= *tr) {
      // Seen in multiband mosaics from older Siemens software: the times overrun one TR.
      volume_.reconstruction["SliceTimingOmitted"] =
          std::string("slice acquisition times span more than RepetitionTime: not trusted");
      return;
    }
    for (double& t : times) t = std::round((t - start) * 1000) / 1e6;
    volume_.metadata["SliceTiming"] = times;
  }

  // Padding range of an instance, if it declares one.
  static std::optional<std::pair<double, double>> PaddingRange(const Instance& in) {
    if (!in.padding_value) return std::nullopt;
    double lo = *in.padding_value, hi = in.padding_limit.value_or(lo);
    if (hi < lo) std::swap(lo, hi);
    return std::make_pair(lo, hi);
  }

  // Decodes one slice into real values; padding voxels become NaN.
  absl::Status Decode(const Slice& slice, std::vector<float>& real) {
    TRIB_ASSIGN_OR_RETURN(const std::vector<std::int32_t>* stored, decoder_.Stored(slice));
    real.resize(stored->size());
    double slope = slice.geometry.slope, intercept = slice.geometry.intercept;
    std::optional<std::pair<double, double>> pad = PaddingRange(*slice.instance);
    for (std::size_t i = 0; i < stored->size(); ++i) {
      std::int32_t v = (*stored)[i];
      if (pad && v >= pad->first && v <= pad->second) {
        real[i] = std::numeric_limits<float>::quiet_NaN();
        ++padded_;
      } else {
        real[i] = static_cast<float>(slope * v + intercept);
      }
    }
    return absl::OkStatus();
  }

  // The range of real values the headers allow: stored range (BitsStored, sign) plus intercepts.
  std::pair<double, double> DeclaredRange() const {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const Slice& slice : stack_.slices) {
      const Instance& in = *slice.instance;
      double span = std::ldexp(1.0, static_cast<int>(in.bits_stored));
      double min = in.is_signed ? -span / 2 : 0, max = in.is_signed ? span / 2 - 1 : span - 1;
      lo = std::min(lo, min + slice.geometry.intercept);
      hi = std::max(hi, max + slice.geometry.intercept);
    }
    return {lo, hi};
  }

  // How many threads decode this stack's slices: one per core for stacks of many single-frame
  // instances; one when instances hold several slices (frames, mosaic tiles), since an instance
  // must not be decoded from two threads.
  unsigned DecodeThreads() const {
    constexpr std::size_t kSlicesPerThread = 8;
    std::set<const Instance*> instances;
    for (const Slice& slice : stack_.slices) {
      if (!instances.insert(slice.instance).second) return 1;
    }
    std::size_t by_size = stack_.slices.size() / kSlicesPerThread;
    return static_cast<unsigned>(std::clamp<std::size_t>(by_size, 1, common::CoreCount()));
  }

  // Runs plane(index, w, decoder) for every (t, k) plane index, split into contiguous ranges over
  // `threads` threads (w = 0 .. threads - 1), each with its own decoder. Returns the first error.
  template <typename PlaneFn>
  absl::Status ForEachPlane(unsigned threads, PlaneFn plane) {
    const std::size_t planes = nz_ * nt_;
    std::vector<absl::Status> results(threads);
    std::vector<FrameDecoder> decoders(threads - 1);
    common::ParallelFor(threads, threads, [&](std::size_t w) {
      FrameDecoder& decoder = w == 0 ? decoder_ : decoders[w - 1];
      try {
        for (std::size_t i = planes * w / threads; i < planes * (w + 1) / threads; ++i) {
          results[w] = plane(i, static_cast<unsigned>(w), decoder);
          if (!results[w].ok()) return;
        }
      } catch (const std::bad_alloc&) {
        results[w] = absl::ResourceExhaustedError("out of memory decoding slices");
      }
    });
    for (const absl::Status& result : results) TRIB_RETURN_IF_ERROR(result);
    return absl::OkStatus();
  }

  // Integer data whose declared range fits T: written straight into the volume, no float pass.
  template <typename T>
  absl::Status DirectInteger(common::PixelType type) {
    volume_.pixel_type = type;
    const std::size_t plane_size = nx_ * ny_;
    volume_.voxels.resize(plane_size * nz_ * nt_ * sizeof(T));
    T* out = reinterpret_cast<T*>(volume_.voxels.data());
    // The lowest value is needed only to fill padding.
    const bool pad_possible =
        std::any_of(stack_.slices.begin(), stack_.slices.end(),
                    [](const Slice& s) { return s.instance->padding_value.has_value(); });
    std::vector<std::uint8_t> padding(pad_possible ? plane_size * nz_ * nt_ : 0);
    struct Tally {
      std::size_t padded = 0;
      std::int64_t lowest = std::numeric_limits<std::int64_t>::max();
    };
    const unsigned threads = DecodeThreads();
    std::vector<Tally> tallies(threads);
    TRIB_RETURN_IF_ERROR(ForEachPlane(
        threads, [&](std::size_t index, unsigned w, FrameDecoder& decoder) -> absl::Status {
          const Slice& slice = *planes_[index % nz_].times[index / nz_];
          TRIB_ASSIGN_OR_RETURN(const std::vector<std::int32_t>* stored, decoder.Stored(slice));
          const std::int64_t intercept = std::llround(slice.geometry.intercept);
          const std::optional<std::pair<double, double>> pad = PaddingRange(*slice.instance);
          const std::size_t base = index * plane_size;  // index = t * nz_ + k
          T* plane = out + base;
          Tally& tally = tallies[w];
          if (!pad) {
            for (std::size_t i = 0; i < plane_size; ++i)
              plane[i] = static_cast<T>((*stored)[i] + intercept);
            if (pad_possible) {
              tally.lowest = std::min<std::int64_t>(tally.lowest,
                                                    *std::min_element(plane, plane + plane_size));
            }
            return absl::OkStatus();
          }
          for (std::size_t i = 0; i < plane_size; ++i) {
            std::int32_t v = (*stored)[i];
            if (v >= pad->first && v <= pad->second) {
              padding[base + i] = 1;
              ++tally.padded;
              plane[i] = 0;
            } else {
              plane[i] = static_cast<T>(v + intercept);
              tally.lowest = std::min<std::int64_t>(tally.lowest, plane[i]);
            }
          }
          return absl::OkStatus();
        }));
    std::int64_t lowest = std::numeric_limits<std::int64_t>::max();
    for (const Tally& tally : tallies) {
      padded_ += tally.padded;
      lowest = std::min(lowest, tally.lowest);
    }
    if (padded_ > 0) {
      if (lowest == std::numeric_limits<std::int64_t>::max()) lowest = 0;
      for (std::size_t i = 0; i < padding.size(); ++i) {
        if (padding[i]) out[i] = static_cast<T>(lowest);
      }
      volume_.reconstruction["FillValue"] = static_cast<double>(lowest);
      volume_.reconstruction["FilledVoxels"] = static_cast<std::int64_t>(padded_);
    }
    return absl::OkStatus();
  }

  absl::Status Voxels() {
    Metadata& r = volume_.reconstruction;
    bool integral = !resample_;
    double slope0 = planes_.front().times.front()->geometry.slope;
    double intercept0 = planes_.front().times.front()->geometry.intercept;
    bool constant = true;
    for (const Slice& slice : stack_.slices) {
      if (slice.geometry.slope != 1 ||
          slice.geometry.intercept != std::floor(slice.geometry.intercept)) {
        integral = false;
      }
      if (slice.geometry.slope != slope0 || slice.geometry.intercept != intercept0)
        constant = false;
    }
    if (constant) {
      r["RescaleSlope"] = slope0;
      r["RescaleIntercept"] = intercept0;
    } else {
      r["RescaleVariesPerSlice"] = std::string("applied per slice");
    }
    volume_.size = {nx_, ny_, nz_, nt_};
    if (volume_.VoxelCount() > kMaxVoxels) {
      return absl::ResourceExhaustedError("volume of " + std::to_string(volume_.VoxelCount()) +
                                          " voxels is larger than the limit of " +
                                          std::to_string(kMaxVoxels));
    }
    const Instance& first = *planes_.front().times.front()->instance;
    if (integral) {
      auto [lo, hi] = DeclaredRange();
      bool bytes = std::all_of(stack_.slices.begin(), stack_.slices.end(),
                               [](const Slice& s) { return s.instance->bits_allocated == 8; });
      absl::Status direct = absl::CancelledError();
      if (bytes && lo >= 0 && hi <= 255) {
        direct = DirectInteger<std::uint8_t>(common::PixelType::kUint8);
      } else if (lo >= -32768 && hi <= 32767) {
        direct = DirectInteger<std::int16_t>(common::PixelType::kInt16);
      }
      if (!absl::IsCancelled(direct)) {
        TRIB_RETURN_IF_ERROR(direct);
        RecordPadding(first);
        r["OutputPixelType"] = std::string(common::PixelTypeName(volume_.pixel_type));
        return absl::OkStatus();
      }
    }
    std::size_t plane_size = nx_ * ny_;
    std::vector<float> values(plane_size * nz_ * nt_);
    std::vector<float> real;
    if (!resample_) {
      for (std::size_t t = 0; t < nt_; ++t) {
        for (std::size_t k = 0; k < nz_; ++k) {
          TRIB_RETURN_IF_ERROR(Decode(*planes_[k].times[t], real));
          std::copy(real.begin(), real.end(), values.begin() + (t * nz_ + k) * plane_size);
        }
      }
    } else {
      std::vector<std::vector<float>> decoded(planes_.size());
      const FrameGeometry& g0 = planes_.front().times.front()->geometry;
      for (std::size_t t = 0; t < nt_; ++t) {
        for (std::size_t p = 0; p < planes_.size(); ++p) {
          TRIB_RETURN_IF_ERROR(Decode(*planes_[p].times[t], decoded[p]));
        }
        for (std::size_t k = 0; k < nz_; ++k) {
          double depth = planes_.front().depth + static_cast<double>(k) * volume_.spacing[2];
          std::size_t a = 0;
          while (a + 2 < planes_.size() && planes_[a + 1].depth <= depth) ++a;
          double span = planes_[a + 1].depth - planes_[a].depth;
          double w = std::clamp((depth - planes_[a].depth) / span, 0.0, 1.0);
          float* out = values.data() + (t * nz_ + k) * plane_size;
          for (std::size_t j = 0; j < ny_; ++j) {
            for (std::size_t i = 0; i < nx_; ++i) {
              double v = 0;
              for (int side = 0; side < 2; ++side) {
                double weight = side == 0 ? 1 - w : w;
                if (weight < 1e-9) continue;
                std::size_t p = a + side;
                const FrameGeometry& gp = planes_[p].times[t]->geometry;
                Vec3 shift = Sub(g0.position, gp.position);
                double u = static_cast<double>(i) + Dot(shift, gp.row_dir) / gp.dx;
                double s = static_cast<double>(j) + Dot(shift, gp.col_dir) / gp.dy;
                v += weight * Bilinear(decoded[p], u, s);
              }
              out[j * nx_ + i] = static_cast<float>(v);
            }
          }
        }
      }
    }
    // Padding (and, after resampling, voxels outside every source slice) take the lowest real
    // value.
    float lowest = std::numeric_limits<float>::infinity();
    std::size_t missing = 0;
    for (float v : values) {
      if (std::isnan(v)) {
        ++missing;
      } else {
        lowest = std::min(lowest, v);
      }
    }
    if (!std::isfinite(lowest)) lowest = 0;
    if (missing > 0) {
      for (float& v : values) {
        if (std::isnan(v)) v = lowest;
      }
      r["FillValue"] = static_cast<double>(lowest);
      r["FilledVoxels"] = static_cast<std::int64_t>(missing);
    }
    RecordPadding(first);
    Store(values, integral, first.bits_allocated);
    r["OutputPixelType"] = std::string(common::PixelTypeName(volume_.pixel_type));
    return absl::OkStatus();
  }

  double Bilinear(const std::vector<float>& plane, double u, double v) const {
    constexpr double kEdge = 1e-6;
    if (u < -kEdge || v < -kEdge || u > nx_ - 1 + kEdge || v > ny_ - 1 + kEdge) {
      return std::numeric_limits<double>::quiet_NaN();
    }
    u = std::clamp(u, 0.0, static_cast<double>(nx_ - 1));
    v = std::clamp(v, 0.0, static_cast<double>(ny_ - 1));
    std::size_t i0 = static_cast<std::size_t>(u), j0 = static_cast<std::size_t>(v);
    std::size_t i1 = std::min(i0 + 1, nx_ - 1), j1 = std::min(j0 + 1, ny_ - 1);
    double fu = u - i0, fv = v - j0;
    auto at = [&](std::size_t i, std::size_t j) { return static_cast<double>(plane[j * nx_ + i]); };
    double top = fu < 1e-9 ? at(i0, j0) : (1 - fu) * at(i0, j0) + fu * at(i1, j0);
    if (fv < 1e-9) return top;
    double bottom = fu < 1e-9 ? at(i0, j1) : (1 - fu) * at(i0, j1) + fu * at(i1, j1);
    return (1 - fv) * top + fv * bottom;
  }

  template <typename T>
  void StoreAs(const std::vector<float>& values, common::PixelType type) {
    volume_.pixel_type = type;
    volume_.voxels.resize(values.size() * sizeof(T));
    T* out = reinterpret_cast<T*>(volume_.voxels.data());
    for (std::size_t i = 0; i < values.size(); ++i) {
      if constexpr (std::is_integral_v<T>) {
        out[i] = static_cast<T>(std::lround(values[i]));
      } else {
        out[i] = static_cast<T>(values[i]);
      }
    }
  }

  void RecordPadding(const Instance& first) {
    Metadata& r = volume_.reconstruction;
    if (!first.padding_value) return;
    r["PixelPaddingValue"] = *first.padding_value;
    if (first.padding_limit) r["PixelPaddingRangeLimit"] = *first.padding_limit;
    r["PaddingVoxelsMasked"] = static_cast<std::int64_t>(padded_);
  }

  // Integer data stay integers in the narrowest type that holds them; anything else is float32.
  void Store(const std::vector<float>& values, bool integral, unsigned bits_allocated) {
    if (!integral) return StoreAs<float>(values, common::PixelType::kFloat32);
    float lo = 0, hi = 0;
    if (!values.empty()) {
      auto [min_it, max_it] = std::minmax_element(values.begin(), values.end());
      lo = *min_it;
      hi = *max_it;
    }
    if (bits_allocated == 8 && lo >= 0 && hi <= 255)
      return StoreAs<std::uint8_t>(values, common::PixelType::kUint8);
    if (lo >= -32768 && hi <= 32767)
      return StoreAs<std::int16_t>(values, common::PixelType::kInt16);
    if (lo >= 0 && hi <= 65535) return StoreAs<std::uint16_t>(values, common::PixelType::kUint16);
    StoreAs<std::int32_t>(values, common::PixelType::kInt32);
  }

  Stack& stack_;
  Volume volume_;
  Vec3 normal_ = {0, 0, 1};
  std::vector<Plane> planes_;
  std::size_t nx_ = 0, ny_ = 0, nz_ = 0, nt_ = 1;
  bool resample_ = false;
  std::size_t padded_ = 0;
  FrameDecoder decoder_;  // for the sequential paths
};

}  // namespace

struct SeriesReader::Impl {
  std::vector<std::unique_ptr<Instance>> instances;
  std::vector<std::string> series_order;

  void Register(std::unique_ptr<Instance> instance) {
    if (std::find(series_order.begin(), series_order.end(), instance->series_uid) ==
        series_order.end()) {
      series_order.push_back(instance->series_uid);
    }
    instances.push_back(std::move(instance));
  }
};

namespace {

// Files up to this size are read whole and parsed from memory (their pixel data is still loaded
// from the file when decoded); of larger ones only the first 4 KiB are read here (enough for
// ProbeDicom: the meta header), and DCMTK's file stream reads the header.
constexpr std::size_t kReadWholeFileBytes = 256 * 1024;
constexpr std::size_t kProbeBytes = 4096;

struct FileStart {
  std::string bytes;  // the whole file, or its first kProbeBytes
  bool whole = false;
};

absl::StatusOr<FileStart> ReadStart(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(std::string("cannot read: ") + std::strerror(errno));
  FileStart start;
  struct stat info {};
  const bool small = ::fstat(fd, &info) == 0 && S_ISREG(info.st_mode) &&
                     static_cast<std::size_t>(info.st_size) <= kReadWholeFileBytes;
  start.bytes.resize(small ? static_cast<std::size_t>(info.st_size) : kProbeBytes);
  std::size_t done = 0;
  while (done < start.bytes.size()) {
    ssize_t n = ::read(fd, start.bytes.data() + done, start.bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  start.whole = small && done == start.bytes.size();
  start.bytes.resize(done);
  return start;
}

// Parses a whole Part 10 file (or data set) from `stream` into `file`, values longer than the
// header read limit left for later.
absl::Status ParseFromStream(DcmFileFormat& file, DcmInputStream& stream) {
  file.transferInit();
  OFCondition condition = file.read(stream, EXS_Unknown, EGL_noChange, kHeaderReadLimit);
  file.transferEnd();
  if (condition.bad() || condition == EC_StreamNotifyClient) {
    return absl::InvalidArgumentError(std::string("not readable DICOM: ") +
                                      (condition.bad() ? condition.text() : "truncated"));
  }
  return absl::OkStatus();
}

// What the file is (ProbeDicom on its first bytes), then its header: read and pruned.
absl::StatusOr<std::unique_ptr<Instance>> LoadHeader(const std::string& path) {
  TRIB_ASSIGN_OR_RETURN(FileStart start, ReadStart(path));
  switch (ProbeDicom(start.bytes)) {
    case DicomKind::kNotDicom:
      return absl::InvalidArgumentError("not DICOM");
    case DicomKind::kDicomDir:
      return absl::InvalidArgumentError("DICOMDIR (media directory, not an image)");
    case DicomKind::kInstance:
      break;
  }
  auto instance = std::make_unique<Instance>();
  instance->source = path;
  instance->file = std::make_unique<DcmFileFormat>();
  if (start.whole) {
    std::unique_ptr<DcmInputStream> stream =
        NewFileImageInputStream(start.bytes, path, kMaxInflatedBytes);
    TRIB_RETURN_IF_ERROR(ParseFromStream(*instance->file, *stream));
  } else {
    OFCondition condition = instance->file->loadFile(path.c_str(), EXS_Unknown, EGL_noChange,
                                                     kHeaderReadLimit, ERM_autoDetect);
    if (condition.bad()) {
      return absl::InvalidArgumentError(std::string("not readable DICOM: ") + condition.text());
    }
  }
  TRIB_RETURN_IF_ERROR(ReadHeader(*instance));
  PruneDataset(*instance->file->getDataset());
  return instance;
}

}  // namespace

SeriesReader::SeriesReader() : impl_(std::make_unique<Impl>()) { RegisterCodecs(); }
SeriesReader::SeriesReader(SeriesReader&&) noexcept = default;
SeriesReader& SeriesReader::operator=(SeriesReader&&) noexcept = default;
SeriesReader::~SeriesReader() = default;

absl::Status SeriesReader::AddFile(const std::string& path) {
  TRIB_ASSIGN_OR_RETURN(std::unique_ptr<Instance> instance, LoadHeader(path));
  impl_->Register(std::move(instance));
  return absl::OkStatus();
}

std::vector<absl::Status> SeriesReader::AddFiles(const std::vector<std::string>& paths,
                                                 unsigned threads,
                                                 const std::function<void(std::size_t)>& progress) {
  std::vector<absl::StatusOr<std::unique_ptr<Instance>>> loaded(paths.size());
  std::atomic<std::size_t> done{0};
  std::mutex progress_mutex;
  common::ParallelFor(paths.size(), threads, [&](std::size_t i) {
    loaded[i] = LoadHeader(paths[i]);
    std::size_t finished = ++done;
    if (progress) {
      std::lock_guard lock(progress_mutex);
      progress(finished);
    }
  });
  std::vector<absl::Status> statuses;
  statuses.reserve(paths.size());
  for (auto& instance : loaded) {
    statuses.push_back(instance.status());
    if (instance.ok()) impl_->Register(std::move(*instance));
  }
  return statuses;
}

absl::Status SeriesReader::AddBytes(std::string bytes, std::string source) {
  auto instance = std::make_unique<Instance>();
  instance->source = std::move(source);
  instance->bytes = std::make_shared<const std::string>(std::move(bytes));
  instance->stream = NewMemoryInputStream(*instance->bytes, kMaxInflatedBytes);
  instance->file = std::make_unique<DcmFileFormat>();
  TRIB_RETURN_IF_ERROR(ParseFromStream(*instance->file, *instance->stream));
  TRIB_RETURN_IF_ERROR(ReadHeader(*instance));
  PruneDataset(*instance->file->getDataset());
  impl_->Register(std::move(instance));
  return absl::OkStatus();
}

std::vector<std::string> SeriesReader::SeriesUids() const { return impl_->series_order; }

namespace {

absl::Status SlicesOf(Instance& in, std::vector<Slice>& out);

std::string StackKey(const Slice& s) {
  const FrameGeometry& g = s.geometry;
  std::string key;
  for (double v : g.row_dir) key += Rounded(v, 1e-4) + ",";
  for (double v : g.col_dir) key += Rounded(v, 1e-4) + ",";
  key += "|" + std::to_string(s.rows) + "x" + std::to_string(s.columns);
  key += "|" + Rounded(g.dx, 1e-4) + "," + Rounded(g.dy, 1e-4);
  key += "|echo " + (s.echo_number ? std::to_string(*s.echo_number)
                     : s.echo_time ? Rounded(*s.echo_time, 1e-3)
                                   : std::string("-"));
  key += "|" + s.image_type + "|" + s.stack_id;
  return key;
}

}  // namespace

SeriesVolumes SeriesReader::Describe(const std::string& series_instance_uid) const {
  SeriesVolumes result;
  result.series_instance_uid = series_instance_uid;
  for (const auto& instance : impl_->instances) {
    if (instance->series_uid != series_instance_uid) continue;
    if (result.instance_count++ == 0) {
      result.protocol_name = instance->protocol;
      result.series_number = instance->series_number;
      result.label = instance->protocol + "_" + std::to_string(instance->series_number);
    }
  }
  if (result.instance_count == 0)
    result.status = absl::NotFoundError("no instances of series " + series_instance_uid);
  return result;
}

SeriesVolumes SeriesReader::BuildSeries(const std::string& series_instance_uid) {
  SeriesVolumes result;
  result.series_instance_uid = series_instance_uid;
  std::vector<std::unique_ptr<Instance>> mine;
  auto& all = impl_->instances;
  for (auto& instance : all) {
    if (instance && instance->series_uid == series_instance_uid)
      mine.push_back(std::move(instance));
  }
  all.erase(std::remove(all.begin(), all.end(), nullptr), all.end());
  impl_->series_order.erase(
      std::remove(impl_->series_order.begin(), impl_->series_order.end(), series_instance_uid),
      impl_->series_order.end());
  result.instance_count = mine.size();
  if (mine.empty()) {
    result.status = absl::NotFoundError("no instances of series " + series_instance_uid);
    return result;
  }
  const Instance& first = *mine.front();
  result.label = first.protocol + "_" + std::to_string(first.series_number);
  result.protocol_name = first.protocol;
  result.series_number = first.series_number;

  std::vector<Stack> stacks;
  std::map<std::string, std::size_t> by_key;
  for (auto& instance : mine) {
    std::vector<Slice> slices;
    absl::Status status = SlicesOf(*instance, slices);
    if (!status.ok()) {
      result.status = status;
      return result;
    }
    for (Slice& slice : slices) {
      std::string key = StackKey(slice);
      auto [it, inserted] = by_key.emplace(key, stacks.size());
      if (inserted) {
        stacks.push_back({key, {}, slice.echo_number, slice.echo_time, slice.image_type});
      }
      stacks[it->second].slices.push_back(slice);
    }
  }
  // Echoes are numbered by EchoNumbers, or by rank of echo time when only times are known.
  std::set<std::int64_t> echo_numbers;
  std::set<double> echo_times;
  std::set<std::string> types;
  for (const Stack& stack : stacks) {
    if (stack.echo_number) echo_numbers.insert(*stack.echo_number);
    if (stack.echo_time) echo_times.insert(std::round(*stack.echo_time * 1000) / 1000);
    types.insert(stack.image_type);
  }
  auto echo_label = [&](const Stack& stack) -> std::optional<std::int64_t> {
    if (echo_numbers.size() > 1 && stack.echo_number) return *stack.echo_number;
    if (echo_numbers.size() <= 1 && echo_times.size() > 1 && stack.echo_time) {
      auto it = echo_times.find(std::round(*stack.echo_time * 1000) / 1000);
      return std::distance(echo_times.begin(), it) + 1;
    }
    return std::nullopt;
  };
  std::map<std::string, int> used;
  std::vector<std::string> failures;
  for (std::size_t s = 0; s < stacks.size(); ++s) {
    Stack& stack = stacks[s];
    StackBuilder builder(stack);
    absl::StatusOr<Volume> volume = absl::InternalError("not built");
    try {
      volume = builder.Build();
    } catch (const std::bad_alloc&) {
      volume = absl::ResourceExhaustedError("out of memory building a " +
                                            std::to_string(stack.slices.size()) + "-slice stack");
    }
    if (!volume.ok()) {
      failures.push_back(std::string(volume.status().message()));
      if (result.status.ok()) result.status = volume.status();
      continue;
    }
    const Instance& head = *stack.slices.front().instance;
    volume->protocol_name = head.protocol;
    volume->series_number = head.series_number;
    volume->metadata.insert(head.metadata.begin(), head.metadata.end());
    if (stack.echo_time) volume->metadata["EchoTime"] = *stack.echo_time / 1000;
    if (stack.echo_number) volume->metadata["EchoNumber"] = *stack.echo_number;
    std::string suffix;
    if (std::optional<std::int64_t> echo = echo_label(stack))
      suffix += "_e" + std::to_string(*echo);
    if (types.size() > 1) {
      std::vector<std::string> parts = Split(stack.image_type);
      bool phase = std::find(parts.begin(), parts.end(), "P") != parts.end() ||
                   std::find(parts.begin(), parts.end(), "PHASE") != parts.end();
      if (phase) suffix += "_ph";
    }
    int count = ++used[suffix];
    if (count > 1) suffix += "_stack" + std::to_string(count);
    volume->name_suffix = suffix;
    if (stacks.size() > 1) {
      volume->reconstruction["StackSplit"] =
          std::string("series split into " + std::to_string(stacks.size()) +
                      " stacks by orientation, size, pixel spacing, echo and image type");
      volume->reconstruction["StackKey"] = stack.key;
    }
    volume->reconstruction["InstanceCount"] = static_cast<std::int64_t>(stack.slices.size());
    result.volumes.push_back(std::move(*volume));
  }
  if (!failures.empty() && failures.size() > 1) {
    std::string message;
    for (const std::string& f : failures) message += (message.empty() ? "" : "; ") + f;
    result.status = absl::Status(result.status.code(), message);
  }
  return result;
}

namespace {

// Enhanced multi-frame: each frame is a slice placed by its functional groups.
absl::Status EnhancedFrames(Instance& in, const Slice& base, std::vector<Slice>& out) {
  DcmDataset& d = *in.file->getDataset();
  for (unsigned f = 0; f < in.frames; ++f) {
    Slice slice = base;
    slice.frame = f;
    FrameGeometry& g = slice.geometry;
    DcmItem* position = FunctionalGroup(d, f, DCM_PlanePositionSequence);
    DcmItem* orientation = FunctionalGroup(d, f, DCM_PlaneOrientationSequence);
    auto ipp = position ? Numbers(*position, DCM_ImagePositionPatient, 3) : std::nullopt;
    auto iop = orientation ? Numbers(*orientation, DCM_ImageOrientationPatient, 6) : std::nullopt;
    if (!ipp || !iop) {
      return absl::InvalidArgumentError(in.source + ": frame " + std::to_string(f + 1) +
                                        " has no PlanePosition/PlaneOrientation functional group");
    }
    g.row_dir = {(*iop)[0], (*iop)[1], (*iop)[2]};
    g.col_dir = {(*iop)[3], (*iop)[4], (*iop)[5]};
    if (Norm(g.row_dir) < 0.5 || Norm(g.col_dir) < 0.5) {
      return absl::InvalidArgumentError(in.source + ": frame " + std::to_string(f + 1) +
                                        " has a degenerate ImageOrientationPatient");
    }
    g.row_dir = Scaled(g.row_dir, 1 / Norm(g.row_dir));
    g.col_dir = Scaled(g.col_dir, 1 / Norm(g.col_dir));
    g.position = {(*ipp)[0], (*ipp)[1], (*ipp)[2]};
    if (DcmItem* measures = FunctionalGroup(d, f, DCM_PixelMeasuresSequence)) {
      auto spacing = Numbers(*measures, DCM_PixelSpacing, 2);
      if (spacing && (*spacing)[0] > 0 && (*spacing)[1] > 0) {
        g.dy = (*spacing)[0];
        g.dx = (*spacing)[1];
      }
    }
    if (DcmItem* transform = FunctionalGroup(d, f, DCM_PixelValueTransformationSequence)) {
      g.slope = Number(*transform, DCM_RescaleSlope).value_or(1);
      if (g.slope == 0) g.slope = 1;
      g.intercept = Number(*transform, DCM_RescaleIntercept).value_or(0);
    }
    if (DcmItem* content = FunctionalGroup(d, f, DCM_FrameContentSequence)) {
      slice.temporal_position = Integer(*content, DCM_TemporalPositionIndex).value_or(0);
      std::string acquired = String(*content, DCM_FrameAcquisitionDateTime);
      if (acquired.size() > 8) {
        if (auto seconds = Seconds(acquired.substr(8))) slice.acquired_ms = *seconds * 1000;
      }
      slice.stack_id = String(*content, DCM_StackID);
    }
    if (DcmItem* echo = FunctionalGroup(d, f, DCM_MREchoSequence)) {
      if (auto time = Number(*echo, DCM_EffectiveEchoTime)) slice.echo_time = time;
    }
    if (DcmItem* type = FunctionalGroup(d, f, DCM_MRImageFrameTypeSequence)) {
      std::string frame_type = String(*type, DCM_FrameType);
      if (!frame_type.empty()) slice.image_type = frame_type;
    }
    out.push_back(slice);
  }
  return absl::OkStatus();
}

absl::Status SlicesOf(Instance& in, std::vector<Slice>& out) {
  Slice base;
  base.instance = &in;
  base.rows = in.rows;
  base.columns = in.columns;
  base.geometry = in.geometry;
  base.temporal_position = in.temporal_position;
  base.echo_number = in.echo_number;
  base.echo_time = in.echo_time;
  base.image_type = in.image_type;
  DcmDataset& d = *in.file->getDataset();
  if (d.tagExists(DCM_PerFrameFunctionalGroupsSequence)) return EnhancedFrames(in, base, out);
  if (in.image_type.find("MOSAIC") != std::string::npos) {
    if (in.mosaic_images < 1) {
      return absl::InvalidArgumentError(in.source +
                                        ": MOSAIC image without NumberOfImagesInMosaic");
    }
    unsigned per_row =
        static_cast<unsigned>(std::ceil(std::sqrt(static_cast<double>(in.mosaic_images))));
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
    if (in.mosaic_normal && Dot(*in.mosaic_normal, normal) < 0) normal = Scaled(normal, -1);
    double step = in.spacing_between_slices.value_or(in.slice_thickness.value_or(1));
    for (int tile = 0; tile < in.mosaic_images; ++tile) {
      Slice slice = base;
      slice.tile = tile;
      if (in.mosaic_times.size() == static_cast<std::size_t>(in.mosaic_images)) {
        slice.acquired_ms = in.mosaic_times[static_cast<std::size_t>(tile)];
      }
      slice.geometry.position = Sub(first, Scaled(normal, -step * tile));
      out.push_back(slice);
    }
    return absl::OkStatus();
  }
  if (in.frames > 1) {
    return absl::UnimplementedError(in.source + ": multi-frame instances (" +
                                    std::to_string(in.frames) + " frames) are not converted yet");
  }
  out.push_back(base);
  return absl::OkStatus();
}

}  // namespace

}  // namespace tributary::dicom
