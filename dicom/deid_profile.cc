#include "dicom/deid_profile.h"

#include "dicom/safe_private_table.h"

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
  std::vector<SafePrivateTag> tags;
  for (const SafePrivateTableRow& row : SafePrivateTableRows()) {
    tags.push_back({row.creator, row.group, row.element});
  }
  return tags;
}

DeidPolicy DeidPolicy::ResearchDefault() {
  DeidPolicy policy;
  policy.options = {ProfileOption::kRetainSafePrivate,
                    ProfileOption::kRetainLongitudinalModifiedDates,
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
