// libFuzzer target over parse + de-identify: ProbeDicom, then Deidentifier::Deidentify (DCMTK's
// Part 10 parser, the PS3.15 walk, text scrubbing, date shifting, UID remapping, serialization).
//
// Every input goes through the research-default policy. It also goes through one of two policies
// that switch on every option (including clean-descriptors and retain-safe-private), chosen by the
// parity of the input's length: one with modified (shifted) dates, one with full dates and retained
// UIDs. Errors (InvalidArgument, FailedPrecondition) are expected; only crashes, leaks and
// undefined behaviour count.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "common/secret_key.h"
#include "dicom/deid_profile.h"
#include "dicom/deidentifier.h"

namespace {

using tributary::SecretKey;
using tributary::dicom::Deidentifier;
using tributary::dicom::DeidPolicy;
using tributary::dicom::ProfileOption;

constexpr std::string_view kKeyHex =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

Deidentifier MakeDeidentifier(DeidPolicy policy) {
  auto key = SecretKey::FromHex(kKeyHex);
  if (!key.ok()) std::abort();
  auto deidentifier = Deidentifier::Create(*std::move(key), std::move(policy));
  if (!deidentifier.ok()) std::abort();
  return *std::move(deidentifier);
}

DeidPolicy AllOptions(ProfileOption dates) {
  DeidPolicy policy;
  policy.options = {ProfileOption::kRetainSafePrivate,
                    ProfileOption::kRetainDeviceIdentity,
                    ProfileOption::kRetainInstitutionIdentity,
                    ProfileOption::kRetainPatientCharacteristics,
                    dates,
                    ProfileOption::kCleanDescriptors,
                    ProfileOption::kCleanStructuredContent,
                    ProfileOption::kCleanGraphics};
  if (dates == ProfileOption::kRetainLongitudinalFullDates) {
    policy.options.insert(ProfileOption::kRetainUids);
  }
  return policy;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Deidentifier kResearch = MakeDeidentifier(DeidPolicy::ResearchDefault());
  static const Deidentifier kAllShifted =
      MakeDeidentifier(AllOptions(ProfileOption::kRetainLongitudinalModifiedDates));
  static const Deidentifier kAllFull =
      MakeDeidentifier(AllOptions(ProfileOption::kRetainLongitudinalFullDates));

  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)tributary::dicom::ProbeDicom(bytes);
  (void)kResearch.Deidentify(bytes, "fuzz-centre");
  const Deidentifier& all = (size % 2 == 0) ? kAllShifted : kAllFull;
  // The accepting source policy lets instances marked BurnedInAnnotation=YES reach the whole walk.
  tributary::dicom::SourcePolicy accepting;
  accepting.accept_burned_in_annotation = true;
  (void)all.Deidentify(bytes, "fuzz-centre", accepting);
  return 0;
}
