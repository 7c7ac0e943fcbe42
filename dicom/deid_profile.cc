#include "dicom/deid_profile.h"

namespace tributary::dicom {

const std::array<ProfileOptionInfo, kProfileOptionCount>& ProfileOptions() {
  static const std::array<ProfileOptionInfo, kProfileOptionCount> kOptions = {{
      {ProfileOption::kRetainSafePrivate, "retain-safe-private", "113111",
       "Retain Safe Private Option"},
      {ProfileOption::kRetainUids, "retain-uids", "113110", "Retain UIDs Option"},
      {ProfileOption::kRetainDeviceIdentity, "retain-device-identity", "113109",
       "Retain Device Identity Option"},
      {ProfileOption::kRetainInstitutionIdentity, "retain-institution-identity", "113112",
       "Retain Institution Identity Option"},
      {ProfileOption::kRetainPatientCharacteristics, "retain-patient-characteristics", "113108",
       "Retain Patient Characteristics Option"},
      {ProfileOption::kRetainLongitudinalFullDates, "retain-full-dates", "113106",
       "Retain Longitudinal Temporal Information Full Dates Option"},
      {ProfileOption::kRetainLongitudinalModifiedDates, "retain-modified-dates", "113107",
       "Retain Longitudinal Temporal Information Modified Dates Option"},
      {ProfileOption::kCleanDescriptors, "clean-descriptors", "113105", "Clean Descriptors Option"},
      {ProfileOption::kCleanStructuredContent, "clean-structured-content", "113104",
       "Clean Structured Content Option"},
      {ProfileOption::kCleanGraphics, "clean-graphics", "113103", "Clean Graphics Option"},
  }};
  return kOptions;
}

const ProfileOptionInfo& InfoOf(ProfileOption option) {
  return ProfileOptions()[static_cast<std::size_t>(option)];
}

std::optional<ProfileOption> ParseProfileOption(std::string_view name) {
  for (const auto& info : ProfileOptions()) {
    if (name == info.name) return info.option;
  }
  return std::nullopt;
}

std::vector<SafePrivateTag> DefaultSafePrivateTags() {
  return {
      // Siemens MR: mosaic slice count, diffusion b-value, gradient direction, b-matrix.
      {"SIEMENS MR HEADER", 0x0019, 0x0A},
      {"SIEMENS MR HEADER", 0x0019, 0x0B},
      {"SIEMENS MR HEADER", 0x0019, 0x0C},
      {"SIEMENS MR HEADER", 0x0019, 0x0D},
      {"SIEMENS MR HEADER", 0x0019, 0x0E},
      {"SIEMENS MR HEADER", 0x0019, 0x27},
      // GE MR: b-value and slice timing information.
      {"GEMS_ACQU_01", 0x0019, 0xBB},
      {"GEMS_ACQU_01", 0x0019, 0xBC},
      {"GEMS_ACQU_01", 0x0019, 0xBD},
      {"GEMS_PARM_01", 0x0043, 0x39},
      // Philips MR: private rescale (scale slope) and diffusion b-value.
      {"Philips MR Imaging DD 001", 0x2005, 0x0E},
      {"Philips MR Imaging DD 001", 0x2001, 0x03},
      {"Philips Imaging DD 001", 0x2001, 0x03},
  };
}

DeidPolicy DeidPolicy::ResearchDefault() {
  DeidPolicy policy;
  policy.options = {ProfileOption::kRetainLongitudinalModifiedDates,
                    ProfileOption::kRetainPatientCharacteristics};
  return policy;
}

absl::StatusOr<DeidPolicy> DeidPolicy::FromNames(const std::string& profile,
                                                 const std::vector<std::string>& options) {
  DeidPolicy policy;
  if (profile == "research") {
    policy = ResearchDefault();
  } else if (profile != "basic") {
    return absl::InvalidArgumentError("unknown profile '" + profile + "' (basic, research)");
  }
  for (const std::string& name : options) {
    std::optional<ProfileOption> option = ParseProfileOption(name);
    if (!option) return absl::InvalidArgumentError("unknown option '" + name + "'");
    if (*option == ProfileOption::kRetainLongitudinalFullDates) {
      policy.options.erase(ProfileOption::kRetainLongitudinalModifiedDates);
    }
    policy.options.insert(*option);
  }
  return policy;
}

}  // namespace tributary::dicom
