#pragma once

#include <string>
#include <vector>

namespace tributary::testing {

// A lossless (reversible 5/3) JPEG 2000 codestream of one greyscale frame, row by row, written
// by OpenJPEG: what a DICOM JPEG 2000 fragment holds. Empty on failure.
std::string EncodeJpeg2000(const std::vector<int>& samples, unsigned rows, unsigned columns,
                           bool is_signed, unsigned precision = 16);

}  // namespace tributary::testing
