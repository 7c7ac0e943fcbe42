#include "dicom/deidentifier.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcvr.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <set>

#include "common/hash.h"
#include "common/version.h"
#include "dicom/date_shift.h"
#include "dicom/dcmtk_support.h"
#include "dicom/deid_rule_table.h"
#include "dicom/diffusion_attributes.h"
#include "dicom/memory_input_stream.h"
#include "dicom/pseudonym.h"
#include "dicom/reconstruction_block.h"
#include "dicom/siemens_csa.h"
#include "dicom/text_scrubber.h"
#include "dicom/uih_mosaic.h"

namespace tributary::dicom {
namespace {

constexpr const char* kDicomDirClassUid = "1.2.840.10008.1.3.10";
constexpr std::size_t kWriteChunk = 1 << 16;
constexpr Uint32 kVerifyReadLimit = 4096;

std::string StringValue(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return {};
  return Trimmed(value);
}

std::string StringValue(DcmElement& element) {
  OFString value;
  if (element.getOFStringArray(value).bad()) return {};
  return Trimmed(value);
}

bool IsDate(DcmEVR vr) { return vr == EVR_DA || vr == EVR_DT; }
bool IsText(DcmEVR vr) { return DcmVR(vr).isaString() && vr != EVR_UI; }

const char* DummyText(DcmEVR vr) {
  switch (vr) {
    case EVR_AS:
      return "000Y";
    case EVR_DA:
      return "19000101";
    case EVR_DT:
      return "19000101000000";
    case EVR_TM:
      return "000000";
    case EVR_DS:
    case EVR_IS:
      return "0";
    case EVR_UR:
      return "";
    default:
      return "ANONYMOUS";
  }
}

// The standard keeps attributes that Table E.1-1 does not list. A UID among them is kept only when
// it names a class or another well-known UID; anything else could identify an instance.
bool IsWellKnownUidAttribute(DcmTag tag, const std::string& value) {
  if (value.empty() || dcmFindNameOfUID(value.c_str()) != nullptr) return true;
  const char* name = tag.getTagName();
  return name != nullptr && std::strstr(name, "Class") != nullptr;
}

}  // namespace

DicomKind ProbeDicom(std::string_view bytes) {
  if (bytes.size() >= 132 && std::memcmp(bytes.data() + 128, "DICM", 4) == 0) {
    std::size_t meta_end = bytes.size();
    if (bytes.size() >= 144 && std::memcmp(bytes.data() + 132, "\x02\x00\x00\x00UL", 6) == 0) {
      std::uint32_t group_length = 0;
      std::memcpy(&group_length, bytes.data() + 140, 4);
      meta_end = std::min<std::size_t>(bytes.size(), 144 + std::size_t{group_length});
    }
    std::string_view meta = bytes.substr(132, meta_end - 132);
    std::string_view uid(kDicomDirClassUid);
    for (std::size_t pos = meta.find(uid); pos != std::string_view::npos;
         pos = meta.find(uid, pos + 1)) {
      std::size_t after = pos + uid.size();
      if (after == meta.size() ||
          !(std::isdigit(static_cast<unsigned char>(meta[after])) || meta[after] == '.')) {
        return DicomKind::kDicomDir;
      }
    }
    return DicomKind::kInstance;
  }
  if (bytes.size() < 8) return DicomKind::kNotDicom;
  auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(bytes[i]); };
  std::uint16_t little = byte(0) | (byte(1) << 8);
  std::uint16_t big = (byte(0) << 8) | byte(1);
  if (little == 0x0002 || little == 0x0008 || big == 0x0008) return DicomKind::kInstance;
  return DicomKind::kNotDicom;
}

namespace {

// The policy resolved once; shared read-only by every de-identification.
struct Engine {
  SecretKey key;
  DeidPolicy policy;
  DeidRuleTable rules;
  bool shift_dates;
  bool scrub_text;

  Engine(SecretKey k, DeidPolicy p)
      : key(std::move(k)),
        policy(std::move(p)),
        rules(policy),
        shift_dates(policy.Has(ProfileOption::kRetainLongitudinalModifiedDates)),
        scrub_text(false) {
    for (const DeidTableRow& row : DeidTableRows()) {
      if (row.match != TagMatch::kPrivate && ResolveAction(row, policy) == Action::kClean) {
        scrub_text = true;
      }
    }
  }

  // Kept private attributes, and the blocks (group, creator) that hold any of them: looked up for
  // every private element of every instance, so not a scan of the list.
  std::set<SafePrivateTag> safe_tags{policy.safe_private.begin(), policy.safe_private.end()};
  std::set<std::pair<std::uint16_t, std::string>> safe_blocks = [this] {
    std::set<std::pair<std::uint16_t, std::string>> blocks;
    for (const SafePrivateTag& safe : safe_tags) blocks.emplace(safe.group, safe.creator);
    return blocks;
  }();

  bool SafeBlock(std::uint16_t group, const std::string& creator) const {
    return safe_blocks.count({group, creator}) != 0;
  }
  bool SafePrivate(std::uint16_t group, const std::string& creator, std::uint8_t element) const {
    return safe_tags.count(SafePrivateTag{creator, group, element}) != 0;
  }
};

// A patient is a PatientID within the domain its IssuerOfPatientID names. Without an issuer the
// key is "id:" + PatientID, as before issuers counted, so earlier pseudonyms stay valid.
std::string PatientKey(const std::string& id, const std::string& issuer) {
  std::string key = "id:" + id;
  if (issuer.empty()) return key;
  key.push_back('\0');
  return key + "issuer:" + issuer;
}

// Per-instance state of one de-identification.
struct Walk {
  const Engine& impl;
  std::string_view centre;
  PatientPseudonym patient;
  TextScrubber scrubber;
  bool dates_shifted = false;
  int inside_cleaned_sequence = 0;

  enum class Decision { kAction, kPatientId, kPatientName, kPrivateKeep, kPrivateRemove };

  Decision Decide(DcmElement& element, Action& action) const {
    const DcmTag& tag = element.getTag();
    std::uint16_t group = tag.getGTag();
    std::uint16_t number = tag.getETag();
    if (group & 1) {
      if (impl.rules.private_action() != Action::kClean) return Decision::kPrivateRemove;
      if (tag.isPrivateReservation()) {
        return impl.SafeBlock(group, StringValue(element)) ? Decision::kPrivateKeep
                                                           : Decision::kPrivateRemove;
      }
      const char* creator = tag.getPrivateCreator();
      if (creator != nullptr && number > 0xFF &&
          impl.SafePrivate(group, creator, static_cast<std::uint8_t>(number & 0xFF))) {
        return Decision::kPrivateKeep;
      }
      return Decision::kPrivateRemove;
    }
    if (number == 0x0000) {
      action = Action::kRemove;  // group lengths are recomputed on writing
      return Decision::kAction;
    }
    if (tag == DCM_PatientID) return Decision::kPatientId;
    if (tag == DCM_PatientName) return Decision::kPatientName;
    std::optional<Action> listed = impl.rules.Find(group, number);
    if (listed) {
      action = *listed;
    } else if (element.ident() == EVR_UI) {
      action =
          IsWellKnownUidAttribute(tag, StringValue(element)) ? Action::kKeep : Action::kRemapUid;
    } else if (IsDate(element.ident()) && impl.shift_dates) {
      action = Action::kClean;  // unlisted dates move with the listed ones: intervals stay true
    } else if (inside_cleaned_sequence > 0 && IsText(element.ident())) {
      action = Action::kClean;  // free text inside cleaned structured content or graphics
    } else {
      action = Action::kKeep;
    }
    return Decision::kAction;
  }

  // Gathers the identifying text of the instance so that cleaned descriptors can be scrubbed of it.
  void Collect(DcmItem& item) {
    // nextInContainer, not getElement(i): DCMTK seeks to the i-th element from the first each time.
    for (DcmObject* object = item.nextInContainer(nullptr); object != nullptr;
         object = item.nextInContainer(object)) {
      auto* element = static_cast<DcmElement*>(object);
      Action action = Action::kKeep;
      Decision decision = Decide(*element, action);
      if (element->ident() == EVR_SQ) {
        auto* sequence = static_cast<DcmSequenceOfItems*>(element);
        for (unsigned long j = 0; j < sequence->card(); ++j) Collect(*sequence->getItem(j));
        continue;
      }
      bool identifying =
          decision == Decision::kPatientId || decision == Decision::kPatientName ||
          (decision == Decision::kAction && action != Action::kKeep && action != Action::kClean);
      if (identifying && (IsText(element->ident()) || IsDate(element->ident()))) {
        scrubber.AddIdentifyingValue(StringValue(*element));
      }
    }
  }

  absl::Status Process(DcmItem& item) {
    std::vector<DcmElement*> kept_creators;
    std::set<std::pair<Uint16, Uint16>> used_blocks;  // (group, block) of kept private attributes
    for (DcmObject* object = item.nextInContainer(nullptr); object != nullptr;) {
      auto* element = static_cast<DcmElement*>(object);
      Action action = Action::kKeep;
      bool keep = true;
      switch (Decide(*element, action)) {
        case Decision::kPrivateKeep:
          if (element->getTag().isPrivateReservation()) {
            kept_creators.push_back(element);
          } else {
            used_blocks.emplace(element->getGTag(), element->getETag() >> 8);
          }
          // A safe private sequence is kept, but what its items hold is de-identified as anywhere.
          if (element->ident() == EVR_SQ) {
            TRIB_RETURN_IF_ERROR(ProcessSequence(*static_cast<DcmSequenceOfItems*>(element)));
          }
          break;
        case Decision::kPrivateRemove:
          keep = false;
          break;
        case Decision::kPatientId: {
          std::string value = StringValue(*element);
          if (!value.empty()) {
            PatientPseudonym nested =
                DerivePatientPseudonym(impl.key.bytes(), centre,
                                       PatientKey(value, StringValue(item, DCM_IssuerOfPatientID)));
            element->putString(nested.id.c_str());
          }
          break;
        }
        case Decision::kPatientName:
          element->putString(patient.id.c_str());
          break;
        case Decision::kAction: {
          auto kept = Apply(*element, action);
          if (!kept.ok()) return kept.status();
          keep = *kept;
          break;
        }
      }
      object = item.nextInContainer(element);
      if (!keep) delete item.remove(element);
    }
    // A safe block none of whose attributes is present keeps no creator either.
    for (DcmElement* creator : kept_creators) {
      if (used_blocks.count({creator->getGTag(), creator->getETag()}) == 0) {
        delete item.remove(creator);
      }
    }
    return absl::OkStatus();
  }

  absl::Status ProcessSequence(DcmSequenceOfItems& sequence) {
    for (unsigned long j = 0; j < sequence.card(); ++j) {
      TRIB_RETURN_IF_ERROR(Process(*sequence.getItem(j)));
    }
    return absl::OkStatus();
  }

  // Returns whether the element stays in its item.
  absl::StatusOr<bool> Apply(DcmElement& element, Action action) {
    DcmEVR vr = element.ident();
    if (vr == EVR_SQ) {
      auto& sequence = static_cast<DcmSequenceOfItems&>(element);
      switch (action) {
        case Action::kRemove:
          return false;
        case Action::kEmpty:
          sequence.clear();
          return true;
        case Action::kDummy:
          sequence.clear();
          sequence.append(new DcmItem());
          return true;
        case Action::kClean: {
          ++inside_cleaned_sequence;
          absl::Status status = ProcessSequence(sequence);
          --inside_cleaned_sequence;
          TRIB_RETURN_IF_ERROR(status);
          return true;
        }
        case Action::kKeep:
        case Action::kRemapUid:
          TRIB_RETURN_IF_ERROR(ProcessSequence(sequence));
          return true;
      }
    }
    switch (action) {
      case Action::kKeep:
        return true;
      case Action::kRemove:
        return false;
      case Action::kEmpty:
        element.clear();
        return true;
      case Action::kRemapUid:
        if (vr == EVR_UI) {
          RemapUids(element);
          return true;
        }
        [[fallthrough]];
      case Action::kDummy:
        if (vr == EVR_UI) {
          RemapUids(element);
        } else if (DcmVR(vr).isaString()) {
          element.putString(DummyText(vr));
        } else if (element.putString("0").bad()) {
          element.clear();
        }
        return true;
      case Action::kClean:
        return Clean(element);
    }
    return false;
  }

  bool Clean(DcmElement& element) {
    DcmEVR vr = element.ident();
    if (IsDate(vr)) {
      if (!impl.shift_dates) {
        element.clear();
        return true;
      }
      std::string value = StringValue(element);
      auto shifted = vr == EVR_DA ? ShiftDate(value, patient.date_shift_days)
                                  : ShiftDateTime(value, patient.date_shift_days);
      if (!shifted) return false;  // not a date we can shift: remove rather than leak it
      element.putString(shifted->c_str());
      dates_shifted = dates_shifted || !value.empty();
      return true;
    }
    if (vr == EVR_TM) return true;  // whole-day shifts keep times of day as they are
    if (vr == EVR_UI) {
      RemapUids(element);
      return true;
    }
    if (IsText(vr)) {
      element.putString(scrubber.Clean(StringValue(element)).c_str());
      return true;
    }
    // Binary graphics (overlay or curve bitmaps) cannot be cleaned automatically: removed.
    return !(vr == EVR_OB || vr == EVR_OW || vr == EVR_OverlayData || vr == EVR_UN ||
             vr == EVR_ox || vr == EVR_px);
  }

  void RemapUids(DcmElement& element) {
    std::string value = StringValue(element);
    if (value.empty()) return;
    std::string out;
    std::size_t start = 0;
    while (true) {
      std::size_t end = value.find('\\', start);
      std::string one =
          value.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (!out.empty() || start > 0) out.push_back('\\');
      out += RemapUid(impl.key.bytes(), centre, one);
      if (end == std::string::npos) break;
      start = end + 1;
    }
    element.putString(out.c_str());
  }
};

std::string PatientIdentity(DcmDataset& dataset) {
  std::string id = StringValue(dataset, DCM_PatientID);
  if (!id.empty()) return PatientKey(id, StringValue(dataset, DCM_IssuerOfPatientID));
  std::string name = StringValue(dataset, DCM_PatientName);
  std::string birth = StringValue(dataset, DCM_PatientBirthDate);
  if (!name.empty() || !birth.empty()) return "name:" + name + "|" + birth;
  return "study:" + StringValue(dataset, DCM_StudyInstanceUID);
}

void AddDeidentificationMarks(DcmDataset& dataset, const DeidPolicy& policy, bool dates_shifted) {
  dataset.putAndInsertString(DCM_PatientIdentityRemoved, "YES");
  std::string method = Deidentifier::MethodDescription();
  std::string software = std::string("Tributary ") + kVersion;
  dataset.putAndInsertOFStringArray(DCM_DeidentificationMethod, (method + "\\" + software).c_str());
  delete dataset.remove(DCM_DeidentificationMethodCodeSequence);
  auto add_code = [&](const char* value, const char* meaning) {
    DcmItem* item = nullptr;
    if (dataset.findOrCreateSequenceItem(DCM_DeidentificationMethodCodeSequence, item, -2).bad())
      return;
    item->putAndInsertString(DCM_CodeValue, value);
    item->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
    item->putAndInsertString(DCM_CodeMeaning, meaning);
  };
  add_code("113100", "Basic Application Confidentiality Profile");
  for (const ProfileOptionInfo& info : ProfileOptions()) {
    if (policy.Has(info.option)) add_code(info.code_value, info.code_meaning);
  }
  const char* temporal = "REMOVED";
  if (policy.Has(ProfileOption::kRetainLongitudinalFullDates)) temporal = "UNMODIFIED";
  if (dates_shifted) temporal = "MODIFIED";
  dataset.putAndInsertString(DCM_LongitudinalTemporalInformationModified, temporal);
}

// The encoded bytes, and their SHA-256 hashed chunk by chunk while each is still in the cache.
absl::StatusOr<std::string> Serialize(DcmFileFormat& file, E_TransferSyntax xfer, std::size_t hint,
                                      std::string& sha256) {
  std::string out;
  out.reserve(hint + 4096);
  Sha256Hasher hasher;
  auto drain = [&](const void* data, offile_off_t length) {
    std::string_view piece(static_cast<const char*>(data), static_cast<std::size_t>(length));
    hasher.Update(piece);
    out.append(piece);
  };
  // A small chunk, not zero-filled, drained into `out` as DCMTK fills it: a buffer the size of the
  // instance cost a memset and fresh pages per call (bench/deidentify_bench.cc).
  std::unique_ptr<char[]> buffer(new char[kWriteChunk]);
  DcmOutputBufferStream stream(buffer.get(), kWriteChunk);
  file.transferInit();
  OFCondition condition;
  while (true) {
    condition = file.write(stream, xfer, EET_ExplicitLength, nullptr, EGL_withoutGL, EPD_noChange,
                           0, 0, 0, EWM_createNewMeta);
    void* data = nullptr;
    offile_off_t length = 0;
    stream.flushBuffer(data, length);
    drain(data, length);
    if (condition != EC_StreamNotifyClient) break;
  }
  // A deflated data set is still partly inside the compression filter when write() returns.
  while (condition.good() && !stream.isFlushed()) {
    stream.flush();
    void* data = nullptr;
    offile_off_t length = 0;
    stream.flushBuffer(data, length);
    drain(data, length);
  }
  file.transferEnd();
  if (condition.bad()) {
    return absl::InternalError(std::string("cannot encode the de-identified instance: ") +
                               condition.text());
  }
  sha256 = ToHex(hasher.Finish());
  return out;
}

// Length of the pixel data as it would be written in `xfer` (item headers included when
// encapsulated); 0 when there is none.
Uint32 PixelDataLength(DcmDataset& dataset, E_TransferSyntax xfer) {
  DcmElement* pixels = nullptr;
  if (dataset.findAndGetElement(DCM_PixelData, pixels).bad() || pixels == nullptr) return 0;
  return pixels->getLength(xfer, EET_ExplicitLength);
}

// Parses the bytes about to be returned again: they must hold the de-identified SOP Instance UID
// and the same pixel data, or nothing is stored (a writer that drops the data set must never be
// acknowledged).
absl::Status VerifySerialized(std::string_view bytes, const std::string& sop_instance_uid,
                              Uint32 pixel_length) {
  std::unique_ptr<DcmInputStream> stream = NewMemoryInputStream(bytes, kMaxInflatedBytes);
  DcmFileFormat file;
  file.transferInit();
  // Long values (the pixel data) are skipped, their lengths checked against the bytes that remain
  // (memory_input_stream.h), not copied: the check parses every element but moves no pixels.
  OFCondition condition = file.read(*stream, EXS_Unknown, EGL_noChange, kVerifyReadLimit);
  file.transferEnd();
  if (condition.bad()) {
    return absl::InternalError(std::string("the encoded de-identified instance does not parse: ") +
                               condition.text());
  }
  DcmDataset& dataset = *file.getDataset();
  if (StringValue(dataset, DCM_SOPInstanceUID) != sop_instance_uid) {
    return absl::InternalError(
        "the encoded de-identified instance lost its SOP Instance UID; nothing stored");
  }
  E_TransferSyntax xfer = dataset.getOriginalXfer();
  if (PixelDataLength(dataset, xfer) != pixel_length) {
    return absl::InternalError(
        "the encoded de-identified instance does not carry the same pixel data; nothing stored");
  }
  return absl::OkStatus();
}

}  // namespace

Rejection ClassifyRejection(const absl::Status& status) {
  std::string message(status.message());
  auto starts = [&](std::string_view prefix) { return message.rfind(prefix, 0) == 0; };
  if (starts("not DICOM") || starts("not a storage instance")) return Rejection::kNotDicom;
  if (starts("malformed DICOM")) return Rejection::kMalformed;
  if (starts("not a storage SOP class")) return Rejection::kNotStorageClass;
  if (starts("missing required attribute")) return Rejection::kMissingAttribute;
  if (starts("BurnedInAnnotation")) return Rejection::kBurnedInAnnotation;
  if (status.code() == absl::StatusCode::kInternal) return Rejection::kInternal;
  return Rejection::kOther;
}

struct Deidentifier::Impl : Engine {
  using Engine::Engine;
};

Deidentifier::Deidentifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Deidentifier::Deidentifier(Deidentifier&&) noexcept = default;
Deidentifier& Deidentifier::operator=(Deidentifier&&) noexcept = default;
Deidentifier::~Deidentifier() = default;

absl::StatusOr<Deidentifier> Deidentifier::Create(SecretKey key, DeidPolicy policy) {
  if (policy.Has(ProfileOption::kRetainLongitudinalFullDates) &&
      policy.Has(ProfileOption::kRetainLongitudinalModifiedDates)) {
    return absl::InvalidArgumentError(
        "retain-full-dates and retain-modified-dates exclude each other; choose one");
  }
  QuietDcmtkLogging();
  return Deidentifier(std::make_unique<Impl>(std::move(key), std::move(policy)));
}

const DeidPolicy& Deidentifier::policy() const { return impl_->policy; }

std::string Deidentifier::MethodDescription() {
  return std::string("PS3.15 E.1-1 ") + kDeidTableEditions + " Basic Profile";
}

absl::StatusOr<DeidentifiedInstance> Deidentifier::Deidentify(std::string_view part10,
                                                              std::string_view centre,
                                                              const SourcePolicy& source) const {
  switch (ProbeDicom(part10)) {
    case DicomKind::kNotDicom:
      return absl::InvalidArgumentError(
          "not DICOM: no DICM prefix and no DICOM data set at the start");
    case DicomKind::kDicomDir:
      return absl::InvalidArgumentError("not a storage instance: DICOMDIR (media directory)");
    case DicomKind::kInstance:
      break;
  }
  // Not DcmInputBufferStream: through it DCMTK allocates each value at its declared length before
  // finding that the input ends (memory_input_stream.h). Declared before `file`, which reads from
  // it.
  std::unique_ptr<DcmInputStream> stream = NewMemoryInputStream(part10, kMaxInflatedBytes);
  DcmFileFormat file;
  file.transferInit();
  OFCondition condition = file.read(*stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  file.transferEnd();
  if (condition == EC_StreamNotifyClient) {
    return absl::InvalidArgumentError(
        "malformed DICOM: the file ends inside an attribute (truncated)");
  }
  if (condition.bad()) {
    return absl::InvalidArgumentError(std::string("malformed DICOM: ") + condition.text());
  }
  DcmDataset& dataset = *file.getDataset();
  std::string sop_class = StringValue(dataset, DCM_SOPClassUID);
  std::string sop_instance = StringValue(dataset, DCM_SOPInstanceUID);
  if (sop_class.empty())
    return absl::InvalidArgumentError("missing required attribute SOPClassUID (0008,0016)");
  if (sop_instance.empty()) {
    return absl::InvalidArgumentError("missing required attribute SOPInstanceUID (0008,0018)");
  }
  if (sop_class == kDicomDirClassUid) {
    return absl::InvalidArgumentError("not a storage instance: DICOMDIR (media directory)");
  }
  if (!dcmIsaStorageSOPClassUID(sop_class.c_str(), ESSC_All)) {
    return absl::InvalidArgumentError("not a storage SOP class: " + sop_class);
  }
  // Recorded in provenance as text: a code string (PS3.5 6.2), never bytes PostgreSQL would refuse.
  for (char c : StringValue(dataset, DCM_Modality)) {
    if (!(std::isupper(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == ' ' || c == '_')) {
      return absl::InvalidArgumentError(
          "malformed DICOM: Modality (0008,0060) is not a code string (A-Z, 0-9, space, _)");
    }
  }
  const bool burned_in = StringValue(dataset, DCM_BurnedInAnnotation) == "YES";
  if (burned_in && !source.accept_burned_in_annotation) {
    return absl::FailedPreconditionError(
        "BurnedInAnnotation is YES: the pixels may show identifying text; refused");
  }
  E_TransferSyntax xfer = dataset.getOriginalXfer();
  if (xfer == EXS_Unknown) xfer = EXS_LittleEndianExplicit;

  Walk walk{*impl_,
            centre,
            DerivePatientPseudonym(impl_->key.bytes(), centre, PatientIdentity(dataset)),
            {}};
  if (impl_->scrub_text) walk.Collect(dataset);
  for (const DcmTagKey& mark :
       {DCM_PatientIdentityRemoved, DCM_DeidentificationMethod,
        DCM_DeidentificationMethodCodeSequence, DCM_LongitudinalTemporalInformationModified}) {
    delete dataset.remove(mark);  // findAndDeleteElement walks every element with a DcmStack
  }
  // Siemens keeps a mosaic's tile count, order and times, and UIH a grid's tile count, positions
  // and times, in private attributes that Table E.3.10-1 does not list as safe: they move into
  // Tributary's reconstruction block as numbers.
  std::optional<MosaicHeader> mosaic;
  if (impl_->policy.Has(ProfileOption::kRetainSafePrivate)) {
    if (StringValue(dataset, DCM_ImageType).find("MOSAIC") != std::string::npos) {
      mosaic = ReadMosaicHeader(dataset);
    } else {
      mosaic = UihMosaic::Read(dataset);
    }
  }
  // Diffusion b-values and gradients from vendor attributes, some not safe (GE, Philips, UIH):
  // copied into the standard attributes, which de-identification keeps. MR only.
  if (StringValue(dataset, DCM_Modality) == "MR") CopyDiffusionToStandard(dataset);
  TRIB_RETURN_IF_ERROR(walk.Process(dataset));
  if (mosaic) WriteReconstructionBlock(dataset, *mosaic);
  if (!dataset.tagExists(DCM_PatientID))
    dataset.putAndInsertString(DCM_PatientID, walk.patient.id.c_str());
  if (!dataset.tagExists(DCM_PatientName)) {
    dataset.putAndInsertString(DCM_PatientName, walk.patient.id.c_str());
  }
  AddDeidentificationMarks(dataset, impl_->policy, walk.dates_shifted);

  DeidentifiedInstance out;
  out.sop_instance_uid = StringValue(dataset, DCM_SOPInstanceUID);
  TRIB_ASSIGN_OR_RETURN(out.bytes, Serialize(file, xfer, part10.size(), out.bytes_sha256));
  TRIB_RETURN_IF_ERROR(
      VerifySerialized(out.bytes, out.sop_instance_uid, PixelDataLength(dataset, xfer)));
  out.sop_class_uid = sop_class;
  out.original_fingerprint = InstanceFingerprint(impl_->key.bytes(), sop_instance);
  out.study_instance_uid = StringValue(dataset, DCM_StudyInstanceUID);
  out.series_instance_uid = StringValue(dataset, DCM_SeriesInstanceUID);
  out.transfer_syntax_uid = DcmXfer(xfer).getXferID();
  out.modality = StringValue(dataset, DCM_Modality);
  out.patient_pseudonym = walk.patient.id;
  out.date_shift_days = walk.dates_shifted ? walk.patient.date_shift_days : 0;
  out.accepted_burned_in_annotation = burned_in;
  return out;
}

}  // namespace tributary::dicom
