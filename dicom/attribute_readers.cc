#include "dicom/attribute_readers.h"

#include <algorithm>
#include <cstdlib>

namespace tributary::dicom {

std::vector<std::string> Split(const std::string& value) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t end = value.find('\\', start);
    parts.push_back(
        value.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return parts;
}

std::optional<double> Seconds(const std::string& tm) {
  if (tm.size() < 2) return std::nullopt;
  std::string digits = tm;
  digits.erase(std::remove(digits.begin(), digits.end(), ':'), digits.end());
  double hours = std::atof(digits.substr(0, 2).c_str());
  double minutes = digits.size() >= 4 ? std::atof(digits.substr(2, 2).c_str()) : 0;
  double seconds = digits.size() > 4 ? std::atof(digits.substr(4).c_str()) : 0;
  return hours * 3600 + minutes * 60 + seconds;
}

}  // namespace tributary::dicom
