#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tributary::dicom {

// Decodes one JPEG 2000 frame (a J2K codestream or a JP2 file, as DICOM encapsulates them) with
// OpenJPEG into `values`, rows * columns single-component samples, sign as the codestream states.
// Errors: InvalidArgument for a codestream OpenJPEG cannot decode or of another size or component
// count.
absl::Status DecodeJpeg2000(std::string_view encoded, unsigned rows, unsigned columns,
                            std::vector<std::int32_t>& values);

}  // namespace tributary::dicom
