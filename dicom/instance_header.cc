#include "dicom/instance_header.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "common/version.h"
#include "dicom/attribute_readers.h"
#include "dicom/dcmtk_support.h"
#include "dicom/deidentifier.h"
#include "dicom/diffusion_attributes.h"
#include "dicom/element_index.h"
#include "dicom/enhanced_frames.h"
#include "dicom/memory_input_stream.h"
#include "dicom/siemens_csa.h"
#include "dicom/uih_mosaic.h"
#include "dicom/vec3.h"

namespace tributary::dicom {
namespace {

using common::Metadata;

// Values longer than this stay in the file (or buffer) until the pixels are decoded.
constexpr Uint32 kHeaderReadLimit = 4096;

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

// DICOM DA/TM/DT as ISO 8601 ("2024-03-15", "10:15:30.000000", "2024-03-15T10:15:30.000000"),
// the fraction always six digits so that strings compare in time order; empty when malformed.
std::string IsoDate(const std::string& da) {
  if (da.size() != 8 || !std::all_of(da.begin(), da.end(), ::isdigit)) return {};
  return da.substr(0, 4) + "-" + da.substr(4, 2) + "-" + da.substr(6, 2);
}
std::string IsoTime(std::string tm) {
  tm.erase(std::remove(tm.begin(), tm.end(), ':'), tm.end());
  const std::size_t dot = tm.find('.');
  std::string whole = tm.substr(0, dot);
  std::string fraction = dot == std::string::npos ? std::string() : tm.substr(dot + 1);
  if (whole.size() < 2 || whole.size() > 6 || whole.size() % 2 != 0 ||
      !std::all_of(whole.begin(), whole.end(), ::isdigit) ||
      !std::all_of(fraction.begin(), fraction.end(), ::isdigit)) {
    return {};
  }
  whole.resize(6, '0');
  fraction.resize(6, '0');
  return whole.substr(0, 2) + ":" + whole.substr(2, 2) + ":" + whole.substr(4, 2) + "." + fraction;
}
std::string IsoDateTime(const std::string& date, const std::string& time) {
  std::string d = IsoDate(date), t = IsoTime(time);
  return d.empty() || t.empty() ? std::string() : d + "T" + t;
}
std::string IsoDateTime(const std::string& dt) {  // DT; a UTC offset is ignored
  std::string value = dt.substr(0, dt.find_first_of("+-"));
  return value.size() < 10 ? std::string() : IsoDateTime(value.substr(0, 8), value.substr(8));
}

// What SUVbw needs (QIBA): numbers, units and times, no names. Dates are the (shifted) DICOM ones.
void PetMetadata(const ElementIndex& h, Metadata& m) {
  PutIfPresent(m, "Units", String(h, DCM_Units));
  PutIfPresent(m, "DecayCorrection", String(h, DCM_DecayCorrection));
  std::string corrected = String(h, DCM_CorrectedImage);
  if (!corrected.empty()) m["CorrectedImage"] = Split(corrected);
  PutIfPresent(m, "PatientWeight", Number(h, DCM_PatientWeight));
  PutIfPresent(m, "SeriesDateTime",
               IsoDateTime(String(h, DCM_SeriesDate), String(h, DCM_SeriesTime)));
  std::string acquisition = IsoDateTime(String(h, DCM_AcquisitionDateTime));
  if (acquisition.empty()) {
    acquisition = IsoDateTime(String(h, DCM_AcquisitionDate), String(h, DCM_AcquisitionTime));
  }
  PutIfPresent(m, "AcquisitionDateTime", acquisition);
  auto* sequence =
      dynamic_cast<DcmSequenceOfItems*>(h.Find(DCM_RadiopharmaceuticalInformationSequence));
  DcmItem* item = sequence != nullptr && sequence->card() > 0 ? sequence->getItem(0) : nullptr;
  if (item == nullptr) return;
  PutIfPresent(m, "RadionuclideTotalDose", Number(*item, DCM_RadionuclideTotalDose));
  PutIfPresent(m, "RadionuclideHalfLife", Number(*item, DCM_RadionuclideHalfLife));
  PutIfPresent(m, "RadiopharmaceuticalStartTime",
               IsoTime(String(*item, DCM_RadiopharmaceuticalStartTime)));
  PutIfPresent(m, "RadiopharmaceuticalStartDateTime",
               IsoDateTime(String(*item, DCM_RadiopharmaceuticalStartDateTime)));
}

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
  if (instance.modality == "PT") PetMetadata(h, m);
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

// PatientAge (AS, PS3.5 6.2: nnnD, nnnW, nnnM or nnnY) in years.
std::optional<double> AgeInYears(const std::string& age) {
  if (age.size() != 4 || !std::all_of(age.begin(), age.begin() + 3, ::isdigit)) return std::nullopt;
  const double n = std::stod(age.substr(0, 3));
  switch (age[3]) {
    case 'D':
      return n / 365.25;
    case 'W':
      return n * 7 / 365.25;
    case 'M':
      return n / 12;
    case 'Y':
      return n;
  }
  return std::nullopt;
}

common::Metadata SubjectAttributes(const ElementIndex& h) {
  common::Metadata m;
  std::string sex = String(h, DCM_PatientSex);
  if (sex == "M" || sex == "F" || sex == "O") m["PatientSex"] = sex;
  if (std::optional<double> age = AgeInYears(String(h, DCM_PatientAge))) {
    m["PatientAgeYears"] = *age;
  }
  std::string date = IsoDate(String(h, DCM_StudyDate));
  if (!date.empty()) m["StudyDate"] = date;
  // A code string (PS3.16 CID 4031): kept only when it is one, as it goes into queries and names.
  std::string body_part = String(h, DCM_BodyPartExamined);
  if (!body_part.empty() && std::all_of(body_part.begin(), body_part.end(), [](char c) {
        return std::isupper(static_cast<unsigned char>(c)) ||
               std::isdigit(static_cast<unsigned char>(c)) || c == '_' || c == ' ';
      })) {
    m["BodyPartExamined"] = body_part;
  }
  return m;
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
  const bool siemens_mosaic = instance.image_type.find("MOSAIC") != std::string::npos;
  if (siemens_mosaic) {
    instance.mosaic = ReadMosaicHeader(d);
  } else if (std::optional<MosaicHeader> grid = UihMosaic::Read(d)) {
    // A UIH grid has no ImagePositionPatient of its own: the image is placed by its first tile.
    instance.mosaic = *grid;
    if (!position && !grid->tile_positions.empty()) {
      const Vec3& first = grid->tile_positions.front();
      position = std::vector<double>{first[0], first[1], first[2]};
    }
  }
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
  if (instance.modality == "MR") instance.diffusion = ReadDiffusion(d);
  instance.metadata = AcquisitionMetadata(h, instance);
  instance.subject = SubjectAttributes(h);
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

}  // namespace

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

absl::StatusOr<std::unique_ptr<Instance>> LoadHeaderFromBytes(std::string bytes,
                                                              std::string source) {
  auto instance = std::make_unique<Instance>();
  instance->source = std::move(source);
  instance->bytes = std::make_shared<const std::string>(std::move(bytes));
  instance->stream = NewMemoryInputStream(*instance->bytes, kMaxInflatedBytes);
  instance->file = std::make_unique<DcmFileFormat>();
  TRIB_RETURN_IF_ERROR(ParseFromStream(*instance->file, *instance->stream));
  TRIB_RETURN_IF_ERROR(ReadHeader(*instance));
  PruneDataset(*instance->file->getDataset());
  return instance;
}

}  // namespace tributary::dicom
