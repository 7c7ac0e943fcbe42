#pragma once

#include <dcmtk/ofstd/ofstring.h>

#include <cstddef>
#include <string>

namespace tributary::dicom {

// Helpers shared by the parts of dicom/ that use DCMTK; internal to dicom/.

// A deflated data set that inflates to more than this is refused (a zip bomb, not an instance).
inline constexpr std::size_t kMaxInflatedBytes = std::size_t{1} << 30;

// DCMTK logs only fatal errors (once per process): failures come back as statuses instead.
void QuietDcmtkLogging();

// A DICOM string value without its padding (trailing spaces and NULs) and leading spaces.
std::string Trimmed(const OFString& value);

}  // namespace tributary::dicom
