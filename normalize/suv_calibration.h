#pragma once

#include <string>

#include "common/metadata_value.h"
#include "common/status.h"
#include "common/volume.h"

namespace tributary::normalize {

// SUVbw per the QIBA vendor-neutral pseudo-code: SUVbw = voxel (Bq/ml) * factor, with
// factor = PatientWeight (kg) * 1000 / decayed dose (Bq). DecayCorrection START: the dose
// (RadionuclideTotalDose) decays by 2^(-t / RadionuclideHalfLife) from the injection
// (RadiopharmaceuticalStartDateTime, else RadiopharmaceuticalStartTime on the scan date) to the
// scan time: SeriesDateTime, unless it is after AcquisitionDateTime (a post-processed series),
// then the earliest AcquisitionDateTime. DecayCorrection ADMIN: images are decay-corrected to the
// injection already, so the dose is not decayed. Keys as dicom/ writes them (dicom/README.md).
struct SuvCalibration {
  double factor = 0;
  double decayed_dose_bq = 0;
  double decay_seconds = 0;      // injection to scan time; 0 for ADMIN
  std::string scan_time_source;  // "SeriesDateTime", "AcquisitionDateTime" or "" (ADMIN)
};

// Refused (FailedPrecondition, naming the attribute) when an attribute is missing, Units is not
// BQML, DecayCorrection is neither START nor ADMIN, or CorrectedImage lacks ATTN or DECY.
absl::StatusOr<SuvCalibration> SuvBwCalibration(const common::Metadata& metadata);

// Float32 SUVbw voxels; Units becomes "GML" and the calibration goes into `reconstruction`.
absl::StatusOr<common::Volume> ToSuvBw(const common::Volume& volume);

}  // namespace tributary::normalize
