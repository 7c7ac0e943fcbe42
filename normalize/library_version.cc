#include "normalize/library_version.h"

#include <itkVersion.h>

namespace tributary::normalize {

std::string ItkVersion() { return itk::Version::GetITKVersion(); }

}  // namespace tributary::normalize
