#pragma once

#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>

#include <memory>
#include <string>
#include <string_view>

namespace tributary::testing {

struct CtSliceSpec {
  std::string patient_id = "PID-12345";
  std::string patient_name = "DOE^JOHN";
  std::string study_uid = "1.2.826.0.1.3680043.2.1125.1.1";
  std::string series_uid = "1.2.826.0.1.3680043.2.1125.1.2";
  std::string sop_uid = "1.2.826.0.1.3680043.2.1125.1.3";
  std::string frame_of_reference_uid = "1.2.826.0.1.3680043.2.1125.1.4";
  std::string study_date = "20240315";
  std::string study_time = "101530";
  unsigned rows = 64;
  unsigned columns = 64;
  unsigned bits_allocated = 16;  // 8 or 16
  double slice_position = 0.0;
};

// A CT-like single-frame instance with a deterministic gradient image, ready for planting values.
std::unique_ptr<DcmFileFormat> MakeCtSlice(const CtSliceSpec& spec = {});

// Part 10 bytes in the given transfer syntax; compressed syntaxes are encoded with DCMTK's codecs.
std::string Encode(DcmFileFormat& file, E_TransferSyntax xfer = EXS_LittleEndianExplicit);

// Parses Part 10 bytes (test helper: aborts the test on failure via the returned null).
std::unique_ptr<DcmFileFormat> Decode(std::string_view bytes);

// The bytes from the (last) PixelData tag to the end of the file.
std::string PixelDataTail(std::string_view bytes, bool big_endian = false);

std::string GetString(DcmItem& item, const DcmTagKey& tag);

}  // namespace tributary::testing
