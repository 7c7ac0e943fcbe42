#pragma once

#include <string>

namespace tributary::normalize {

// The version of ITK this build resamples and writes NIfTI with, e.g. "5.2.1".
std::string ItkVersion();

}  // namespace tributary::normalize
