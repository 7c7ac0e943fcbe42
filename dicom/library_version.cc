#include "dicom/library_version.h"

#include <dcmtk/dcmdata/dcuid.h>

namespace tributary::dicom {

std::string DcmtkVersion() { return OFFIS_DCMTK_VERSION_STRING; }

}  // namespace tributary::dicom
