#include "dicom/dcmtk_support.h"

#include <dcmtk/oflog/oflog.h>

#include <mutex>

namespace tributary::dicom {

void QuietDcmtkLogging() {
  static std::once_flag once;
  std::call_once(once, [] { OFLog::configure(OFLogger::FATAL_LOG_LEVEL); });
}

std::string Trimmed(const OFString& value) {
  std::string out(value.c_str(), value.length());
  while (!out.empty() && (out.back() == ' ' || out.back() == '\0')) out.pop_back();
  std::size_t start = out.find_first_not_of(' ');
  return start == std::string::npos ? std::string() : out.substr(start);
}

}  // namespace tributary::dicom
