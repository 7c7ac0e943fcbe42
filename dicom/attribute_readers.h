#pragma once

#include <dcmtk/dcmdata/dcelem.h>
#include <dcmtk/dcmdata/dcitem.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dicom/dcmtk_support.h"
#include "dicom/element_index.h"

namespace tributary::dicom {

// Attribute readers over a DcmItem or an ElementIndex of one; internal to dicom/.

inline DcmElement* FindElement(const ElementIndex& index, const DcmTagKey& tag) {
  return index.Find(tag);
}
inline DcmElement* FindElement(DcmItem& item, const DcmTagKey& tag) {
  DcmElement* element = nullptr;
  return item.findAndGetElement(tag, element, OFFalse).good() ? element : nullptr;
}

template <typename Source>
std::string String(Source& source, const DcmTagKey& tag) {
  DcmElement* element = FindElement(source, tag);
  OFString value;
  if (element == nullptr || element->getOFStringArray(value).bad()) return {};
  return Trimmed(value);
}

template <typename Source>
std::optional<double> Number(Source& source, const DcmTagKey& tag, unsigned long pos = 0) {
  DcmElement* element = FindElement(source, tag);
  Float64 value = 0;
  if (element == nullptr || element->getFloat64(value, pos).bad() || !std::isfinite(value))
    return std::nullopt;
  return value;
}

template <typename Source>
std::optional<std::int64_t> Integer(Source& source, const DcmTagKey& tag) {
  DcmElement* element = FindElement(source, tag);
  Sint32 value = 0;
  if (element != nullptr && element->getSint32(value).good()) return value;
  std::optional<double> number = Number(source, tag);
  if (number) return static_cast<std::int64_t>(std::llround(*number));
  return std::nullopt;
}

template <typename Source>
unsigned Unsigned(Source& source, const DcmTagKey& tag, unsigned fallback) {
  DcmElement* element = FindElement(source, tag);
  Uint16 value = 0;
  if (element == nullptr || element->getUint16(value).bad()) return fallback;
  return value;
}

template <typename Source>
std::optional<std::vector<double>> Numbers(Source& source, const DcmTagKey& tag,
                                           std::size_t count) {
  DcmElement* element = FindElement(source, tag);
  if (element == nullptr) return std::nullopt;
  std::vector<double> values(count);
  for (std::size_t i = 0; i < count; ++i) {
    Float64 value = 0;
    if (element->getFloat64(value, i).bad() || !std::isfinite(value)) return std::nullopt;
    values[i] = value;
  }
  return values;
}

// The parts of a multi-valued string (separated by backslashes).
std::vector<std::string> Split(const std::string& value);

// HHMMSS.ffffff (DICOM TM) as seconds since midnight.
std::optional<double> Seconds(const std::string& tm);

}  // namespace tributary::dicom
