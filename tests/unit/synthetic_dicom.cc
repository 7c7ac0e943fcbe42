#include "tests/unit/synthetic_dicom.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcrleerg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpeg/djencode.h>
#include <dcmtk/dcmjpeg/djrplol.h>
#include <dcmtk/dcmjpeg/djrploss.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/dcmjpls/djencode.h>
#include <dcmtk/dcmjpls/djrparam.h>

#include <mutex>
#include <vector>

namespace tributary::testing {
namespace {

void RegisterCodecs() {
  static std::once_flag once;
  std::call_once(once, [] {
    DJEncoderRegistration::registerCodecs();
    DJDecoderRegistration::registerCodecs();
    DJLSEncoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEEncoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

}  // namespace

std::unique_ptr<DcmFileFormat> MakeCtSlice(const CtSliceSpec& spec) {
  auto file = std::make_unique<DcmFileFormat>();
  DcmDataset* d = file->getDataset();
  d->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 100");
  d->putAndInsertString(DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL");
  d->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  d->putAndInsertString(DCM_SOPInstanceUID, spec.sop_uid.c_str());
  d->putAndInsertString(DCM_StudyInstanceUID, spec.study_uid.c_str());
  d->putAndInsertString(DCM_SeriesInstanceUID, spec.series_uid.c_str());
  d->putAndInsertString(DCM_FrameOfReferenceUID, spec.frame_of_reference_uid.c_str());
  d->putAndInsertString(DCM_StudyDate, spec.study_date.c_str());
  d->putAndInsertString(DCM_SeriesDate, spec.study_date.c_str());
  d->putAndInsertString(DCM_StudyTime, spec.study_time.c_str());
  d->putAndInsertString(DCM_Modality, "CT");
  d->putAndInsertString(DCM_PatientName, spec.patient_name.c_str());
  d->putAndInsertString(DCM_PatientID, spec.patient_id.c_str());
  d->putAndInsertString(DCM_PatientBirthDate, "19650312");
  d->putAndInsertString(DCM_PatientSex, "M");
  d->putAndInsertString(DCM_PatientAge, "059Y");
  d->putAndInsertString(DCM_PatientWeight, "81.5");
  d->putAndInsertString(DCM_StudyID, "S1");
  d->putAndInsertString(DCM_SeriesNumber, "2");
  d->putAndInsertString(DCM_InstanceNumber, "1");
  d->putAndInsertString(DCM_ImagePositionPatient,
                        ("-100\\-100\\" + std::to_string(spec.slice_position)).c_str());
  d->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
  d->putAndInsertString(DCM_PixelSpacing, "0.5\\0.5");
  d->putAndInsertString(DCM_SliceThickness, "1");
  d->putAndInsertString(DCM_RescaleIntercept, "-1024");
  d->putAndInsertString(DCM_RescaleSlope, "1");
  d->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  d->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  d->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(spec.rows));
  d->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(spec.columns));
  d->putAndInsertUint16(DCM_BitsAllocated, static_cast<Uint16>(spec.bits_allocated));
  d->putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(spec.bits_allocated == 8 ? 8 : 12));
  d->putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(spec.bits_allocated == 8 ? 7 : 11));
  d->putAndInsertUint16(DCM_PixelRepresentation, 0);
  std::size_t count = std::size_t{spec.rows} * spec.columns;
  if (spec.bits_allocated == 8) {
    std::vector<Uint8> pixels(count);
    for (std::size_t i = 0; i < count; ++i)
      pixels[i] = static_cast<Uint8>((i * 7 + i / spec.columns) & 0xFF);
    d->putAndInsertUint8Array(DCM_PixelData, pixels.data(), static_cast<unsigned long>(count));
  } else {
    std::vector<Uint16> pixels(count);
    for (std::size_t i = 0; i < count; ++i)
      pixels[i] = static_cast<Uint16>((i * 13 + i / spec.columns * 5) & 0x0FFF);
    d->putAndInsertUint16Array(DCM_PixelData, pixels.data(), static_cast<unsigned long>(count));
  }
  return file;
}

std::string Encode(DcmFileFormat& file, E_TransferSyntax xfer) {
  RegisterCodecs();
  DcmDataset* dataset = file.getDataset();
  DcmXfer target(xfer);
  if (target.isEncapsulated()) {
    DJ_RPLossless lossless;
    DJ_RPLossy lossy(90);
    DJLSRepresentationParameter jpls(2, OFTrue);
    const DcmRepresentationParameter* params = nullptr;
    if (xfer == EXS_JPEGProcess1) params = &lossy;
    if (xfer == EXS_JPEGProcess14SV1) params = &lossless;
    if (xfer == EXS_JPEGLSLossless) params = &jpls;
    if (dataset->chooseRepresentation(xfer, params).bad()) return {};
  }
  std::string out;
  std::vector<char> buffer(1 << 20);
  DcmOutputBufferStream stream(buffer.data(), buffer.size());
  file.transferInit();
  OFCondition condition;
  do {
    condition = file.write(stream, xfer, EET_ExplicitLength, nullptr, EGL_recalcGL, EPD_noChange, 0,
                           0, 0, EWM_createNewMeta);
    void* data = nullptr;
    offile_off_t length = 0;
    stream.flushBuffer(data, length);
    out.append(static_cast<const char*>(data), static_cast<std::size_t>(length));
  } while (condition == EC_StreamNotifyClient);
  while (condition.good() && !stream.isFlushed()) {  // the rest of a deflated data set
    stream.flush();
    void* data = nullptr;
    offile_off_t length = 0;
    stream.flushBuffer(data, length);
    out.append(static_cast<const char*>(data), static_cast<std::size_t>(length));
  }
  file.transferEnd();
  return condition.good() ? out : std::string();
}

std::unique_ptr<DcmFileFormat> Decode(std::string_view bytes) {
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  auto file = std::make_unique<DcmFileFormat>();
  file->transferInit();
  OFCondition condition = file->read(stream);
  file->transferEnd();
  if (condition.bad()) return nullptr;
  return file;
}

std::string PixelDataTail(std::string_view bytes, bool big_endian) {
  std::string_view tag = big_endian ? std::string_view("\x7F\xE0\x00\x10", 4)
                                    : std::string_view("\xE0\x7F\x10\x00", 4);
  std::size_t pos = bytes.rfind(tag);
  if (pos == std::string_view::npos) return {};
  return std::string(bytes.substr(pos));
}

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return {};
  return std::string(value.c_str());
}

}  // namespace tributary::testing
