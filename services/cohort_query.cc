#include "services/cohort_query.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

namespace tributary::services {
namespace {

absl::Status Bad(const v1::Filter& filter, const std::string& why) {
  return absl::InvalidArgumentError("filter " + filter.key() + "=" + filter.value() + ": " + why);
}

absl::StatusOr<double> ParseNumber(const v1::Filter& filter, const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(value))
    return Bad(filter, "'" + text + "' is not a number");
  return value;
}

absl::StatusOr<provenance::Range> ParseRange(const v1::Filter& filter) {
  const std::string& value = filter.value();
  provenance::Range range;
  std::size_t dots = value.find("..");
  if (dots == std::string::npos) {
    TRIB_ASSIGN_OR_RETURN(double exact, ParseNumber(filter, value));
    range.low = range.high = exact;
    return range;
  }
  std::string low = value.substr(0, dots), high = value.substr(dots + 2);
  if (low.empty() && high.empty()) return Bad(filter, "a range needs at least one end (LO..HI)");
  if (!low.empty()) {
    TRIB_ASSIGN_OR_RETURN(range.low, ParseNumber(filter, low));
  }
  if (!high.empty()) {
    TRIB_ASSIGN_OR_RETURN(range.high, ParseNumber(filter, high));
  }
  if (range.low && range.high && *range.low > *range.high)
    return Bad(filter, "the range is empty (LO is above HI)");
  return range;
}

bool IsDate(const std::string& text) {
  static const std::regex kDate("[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])");
  return std::regex_match(text, kDate);
}

}  // namespace

absl::StatusOr<provenance::VolumeQuery> ParseVolumeQuery(const v1::VolumeQuery& query) {
  provenance::VolumeQuery out;
  out.exclude_duplicates = query.exclude_duplicates();
  std::set<std::string> ranges_seen;
  for (const v1::Filter& f : query.filters()) {
    const std::string& key = f.key();
    const std::string& value = f.value();
    if (value.empty()) return Bad(f, "no value");
    if (value.size() > 256) return Bad(f, "the value is longer than 256 characters");
    const bool range_key = key == "age" || key == "study_date" || key == "spacing" ||
                           key == "size" || key.rfind("qc.", 0) == 0;
    if (range_key && !ranges_seen.insert(key).second) return Bad(f, "given twice");
    if (key == "modality") {
      out.modalities.push_back(value);
    } else if (key == "centre") {
      out.centres.push_back(value);
    } else if (key == "recipe") {
      out.recipes.push_back(value);
    } else if (key == "body_part") {
      out.body_parts.push_back(value);
    } else if (key == "sex") {
      if (value != "M" && value != "F" && value != "O") return Bad(f, "sex is M, F or O");
      out.sexes.push_back(value);
    } else if (key == "age") {
      TRIB_ASSIGN_OR_RETURN(out.age_years, ParseRange(f));
    } else if (key == "spacing") {
      TRIB_ASSIGN_OR_RETURN(out.spacing_mm, ParseRange(f));
    } else if (key == "size") {
      TRIB_ASSIGN_OR_RETURN(out.size_voxels, ParseRange(f));
    } else if (key.rfind("qc.", 0) == 0) {
      std::string metric = key.substr(3);
      if (metric.empty() || !std::all_of(metric.begin(), metric.end(), [](unsigned char c) {
            return std::isalnum(c) != 0 || c == '_';
          }))
        return Bad(f, "qc.<metric> names a QC value (letters, digits, _), e.g. qc.ForegroundSD");
      TRIB_ASSIGN_OR_RETURN(out.qc[metric], ParseRange(f));
    } else if (key == "study_date") {
      std::size_t dots = value.find("..");
      std::string from = dots == std::string::npos ? value : value.substr(0, dots);
      std::string to = dots == std::string::npos ? value : value.substr(dots + 2);
      if ((from.empty() && to.empty()) || (!from.empty() && !IsDate(from)) ||
          (!to.empty() && !IsDate(to)))
        return Bad(f,
                   "study_date takes YYYY-MM-DD..YYYY-MM-DD (shifted dates; an end may be left "
                   "out)");
      if (!from.empty() && !to.empty() && from > to) return Bad(f, "the range is empty");
      out.study_date_from = from;
      out.study_date_to = to;
    } else {
      return Bad(f,
                 "unknown key; keys are modality, centre, recipe, body_part, sex, age, "
                 "study_date, spacing, size and qc.<metric>");
    }
  }
  return out;
}

std::string VolumeQueryJson(const v1::VolumeQuery& query) {
  nlohmann::json filters = nlohmann::json::array();
  for (const v1::Filter& f : query.filters())
    filters.push_back({{"key", f.key()}, {"value", f.value()}});
  return nlohmann::json{{"filters", filters}, {"exclude_duplicates", query.exclude_duplicates()}}
      .dump();
}

std::string PageToken(const provenance::VolumeCursor& cursor) {
  static const char* kHex = "0123456789abcdef";
  std::string text = std::to_string(cursor.derivation_id) + "/" + cursor.stem, out = "v1.";
  for (unsigned char c : text) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

absl::StatusOr<provenance::VolumeCursor> ParsePageToken(const std::string& token) {
  auto bad = [] { return absl::InvalidArgumentError("page_token is not one this server made"); };
  if (token.rfind("v1.", 0) != 0 || token.size() % 2 != 1) return bad();
  std::string text;
  for (std::size_t i = 3; i + 1 < token.size(); i += 2) {
    auto digit = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = digit(token[i]), lo = digit(token[i + 1]);
    if (hi < 0 || lo < 0) return bad();
    text += static_cast<char>(hi * 16 + lo);
  }
  std::size_t slash = text.find('/');
  if (slash == std::string::npos || slash == 0) return bad();
  // Only the digits PageToken writes: std::stoll alone would take "12x", " 7" or "-3".
  if (!std::all_of(text.begin(), text.begin() + slash,
                   [](unsigned char c) { return std::isdigit(c) != 0; }))
    return bad();
  provenance::VolumeCursor cursor;
  try {
    cursor.derivation_id = std::stoll(text.substr(0, slash));
  } catch (const std::exception&) {
    return bad();
  }
  cursor.stem = text.substr(slash + 1);
  return cursor;
}

}  // namespace tributary::services
