#pragma once

#include <string>

namespace tributary::dicom {

// The version of DCMTK this build reads DICOM with, e.g. "3.6.7".
std::string DcmtkVersion();

}  // namespace tributary::dicom
