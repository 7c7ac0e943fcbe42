#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tributary::dicom {

// The options of PS3.15 Annex E (Table E.1-1 columns), in table order.
enum class ProfileOption {
  kRetainSafePrivate,
  kRetainUids,
  kRetainDeviceIdentity,
  kRetainInstitutionIdentity,
  kRetainPatientCharacteristics,
  kRetainLongitudinalFullDates,
  kRetainLongitudinalModifiedDates,
  kCleanDescriptors,
  kCleanStructuredContent,
  kCleanGraphics,
};

inline constexpr std::size_t kProfileOptionCount = 10;

struct ProfileOptionInfo {
  ProfileOption option;
  const char* name;          // CLI spelling, e.g. "retain-uids"
  const char* code_value;    // CID 7050 code (DCM scheme)
  const char* code_meaning;  // CID 7050 meaning
};

const std::array<ProfileOptionInfo, kProfileOptionCount>& ProfileOptions();
const ProfileOptionInfo& InfoOf(ProfileOption option);
std::optional<ProfileOption> ParseProfileOption(std::string_view name);

// A private attribute that may be kept with the Retain Safe Private option: identified by its
// private creator, group and the low byte of its element (gggg,xxEE).
struct SafePrivateTag {
  std::string creator;
  std::uint16_t group = 0;
  std::uint8_t element = 0;
  auto operator<=>(const SafePrivateTag&) const = default;
};

// Built-in safe list: PS3.15 Table E.3.10-1 (safe_private_table.h), every row of it and nothing
// else. Replace it with DeidPolicy::safe_private.
std::vector<SafePrivateTag> DefaultSafePrivateTags();

struct DeidPolicy {
  std::set<ProfileOption> options;
  std::vector<SafePrivateTag> safe_private = DefaultSafePrivateTags();

  bool Has(ProfileOption option) const { return options.count(option) != 0; }

  // Basic profile + Retain Safe Private + Retain Longitudinal Temporal Information with Modified
  // Dates + Retain Patient Characteristics: what research cohorts need (reconstruction needs the
  // vendors' safe acquisition attributes; SUV needs weight; selection needs age and sex).
  static DeidPolicy ResearchDefault();

  // From the command-line words: profile "research" or "basic", plus option names
  // (ProfileOptions()). retain-full-dates replaces the research profile's retain-modified-dates.
  static absl::StatusOr<DeidPolicy> FromNames(const std::string& profile,
                                              const std::vector<std::string>& options);
};

// What one source of instances (a centre on the server, the input folder offline) is trusted
// with, beyond the profile: set per centre by an operator (`tributary centres policy`).
struct SourcePolicy {
  // BurnedInAnnotation (0028,0301) = YES is refused unless this is set: only for a source whose
  // pixels are known to have been cleaned of identifying text.
  bool accept_burned_in_annotation = false;
};

// The Table E.1-1 editions this engine implements.
inline constexpr const char* kDeidTableEditions = "2024b+2026d";

}  // namespace tributary::dicom
