#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tributary::dicom {

// Shifts a DA value (YYYYMMDD, or a range "A-B", or multiple values separated by '\') by whole
// days. nullopt when any part is not a valid date (the caller then removes the value).
std::optional<std::string> ShiftDate(std::string_view value, int days);

// Shifts the date part of a DT value (YYYYMMDD[HHMMSS[.FFFFFF]][&ZZXX]); time and offset are kept,
// so intervals between timestamps of one patient are preserved exactly.
std::optional<std::string> ShiftDateTime(std::string_view value, int days);

}  // namespace tributary::dicom
