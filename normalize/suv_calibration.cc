#include "normalize/suv_calibration.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <vector>

#include "normalize/voxel_values.h"

namespace tributary::normalize {
namespace {

absl::Status Missing(const std::string& what) {
  return absl::FailedPreconditionError("SUVbw: " + what);
}

const std::string* Text(const common::Metadata& m, const char* key) {
  auto it = m.find(key);
  return it == m.end() ? nullptr : std::get_if<std::string>(&it->second);
}

std::optional<double> Positive(const common::Metadata& m, const char* key) {
  auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  const double* value = std::get_if<double>(&it->second);
  if (value == nullptr || !(*value > 0)) return std::nullopt;
  return *value;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// "HH:MM:SS.ffffff" as seconds since midnight.
std::optional<double> TimeOfDay(const std::string& iso) {
  unsigned h = 0, m = 0;
  double s = 0;
  if (std::sscanf(iso.c_str(), "%2u:%2u:%lf", &h, &m, &s) != 3 || h > 23 || m > 59) {
    return std::nullopt;
  }
  return h * 3600.0 + m * 60.0 + s;
}

// "YYYY-MM-DDTHH:MM:SS.ffffff" as seconds since 1970-01-01T00:00 (no time zone).
std::optional<double> Instant(const std::string& iso) {
  int y = 0;
  unsigned mo = 0, d = 0;
  if (iso.size() < 11 || iso[10] != 'T' ||
      std::sscanf(iso.c_str(), "%4d-%2u-%2u", &y, &mo, &d) != 3 || mo < 1 || mo > 12 || d < 1 ||
      d > 31) {
    return std::nullopt;
  }
  std::optional<double> time = TimeOfDay(iso.substr(11));
  if (!time) return std::nullopt;
  return static_cast<double>(DaysFromCivil(y, mo, d)) * 86400 + *time;
}

std::optional<double> InstantOf(const common::Metadata& m, const char* key) {
  const std::string* text = Text(m, key);
  return text == nullptr ? std::nullopt : Instant(*text);
}

}  // namespace

absl::StatusOr<SuvCalibration> SuvBwCalibration(const common::Metadata& m) {
  auto corrected = m.find("CorrectedImage");
  const auto* flags =
      corrected == m.end() ? nullptr : std::get_if<std::vector<std::string>>(&corrected->second);
  if (flags == nullptr) return Missing("CorrectedImage (0028,0051) is missing");
  for (const char* flag : {"ATTN", "DECY"}) {
    if (std::find(flags->begin(), flags->end(), flag) == flags->end()) {
      return Missing(std::string("CorrectedImage (0028,0051) lacks ") + flag);
    }
  }
  const std::string* decay = Text(m, "DecayCorrection");
  if (decay == nullptr) return Missing("DecayCorrection (0054,1102) is missing");
  if (*decay != "START" && *decay != "ADMIN") {
    return Missing("DecayCorrection (0054,1102) is " + *decay + ", not START or ADMIN");
  }
  const std::string* units = Text(m, "Units");
  if (units == nullptr) return Missing("Units (0054,1001) is missing");
  if (*units != "BQML") return Missing("Units (0054,1001) is " + *units + ", not BQML");
  std::optional<double> weight = Positive(m, "PatientWeight");
  if (!weight) return Missing("PatientWeight (0010,1030) is missing or not positive");
  std::optional<double> dose = Positive(m, "RadionuclideTotalDose");
  if (!dose) return Missing("RadionuclideTotalDose (0018,1074) is missing or not positive");

  SuvCalibration c;
  c.decayed_dose_bq = *dose;
  if (*decay == "START") {
    std::optional<double> half_life = Positive(m, "RadionuclideHalfLife");
    if (!half_life) return Missing("RadionuclideHalfLife (0018,1075) is missing or not positive");
    std::optional<double> series = InstantOf(m, "SeriesDateTime");
    if (!series) return Missing("SeriesDate/SeriesTime (0008,0021/0031) are missing");
    std::optional<double> acquisition = InstantOf(m, "AcquisitionDateTime");
    double scan = *series;
    c.scan_time_source = "SeriesDateTime";
    if (acquisition && *series > *acquisition) {
      scan = *acquisition;  // the series was post-processed: the earliest acquisition
      c.scan_time_source = "AcquisitionDateTime";
    }
    std::optional<double> start = InstantOf(m, "RadiopharmaceuticalStartDateTime");
    if (!start) {
      const std::string* time = Text(m, "RadiopharmaceuticalStartTime");
      std::optional<double> of_day = time ? TimeOfDay(*time) : std::nullopt;
      if (!of_day) {
        return Missing(
            "RadiopharmaceuticalStartDateTime (0018,1078) and RadiopharmaceuticalStartTime "
            "(0018,1072) are missing");
      }
      start = std::floor(scan / 86400) * 86400 + *of_day;  // the scan's date
    }
    c.decay_seconds = scan - *start;
    if (c.decay_seconds < 0) {
      return Missing("RadiopharmaceuticalStartTime (0018,1072) is after the scan time (" +
                     c.scan_time_source + ")");
    }
    c.decayed_dose_bq = *dose * std::pow(2.0, -c.decay_seconds / *half_life);
  }
  c.factor = *weight * 1000 / c.decayed_dose_bq;
  return c;
}

absl::StatusOr<common::Volume> ToSuvBw(const common::Volume& volume) {
  TRIB_ASSIGN_OR_RETURN(SuvCalibration c, SuvBwCalibration(volume.metadata));
  std::vector<float> values = FloatVoxels(volume);
  for (float& v : values) v = static_cast<float>(v * c.factor);
  common::Volume out = FloatVolume(volume, values);
  out.metadata["Units"] = std::string("GML");
  out.reconstruction["IntensityMethod"] = std::string("suvbw");
  out.reconstruction["SuvBwFactor"] = c.factor;
  out.reconstruction["SuvDecayedDose"] = c.decayed_dose_bq;
  out.reconstruction["SuvDecaySeconds"] = c.decay_seconds;
  if (!c.scan_time_source.empty()) out.reconstruction["SuvScanTimeSource"] = c.scan_time_source;
  return out;
}

}  // namespace tributary::normalize
