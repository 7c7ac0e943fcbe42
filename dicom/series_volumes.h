#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/volume.h"

namespace tributary::dicom {

// The outcome of reconstructing one DICOM series: its volumes (one per stack: echo, orientation,
// image type, size), or why none could be built.
struct SeriesVolumes {
  std::string series_instance_uid;
  std::string label;  // "<protocol>_<series number>", for messages
  std::string protocol_name;
  std::int64_t series_number = 0;
  std::size_t instance_count = 0;
  // What cohorts select on, from the series' first instance as stored (de-identified: retained
  // patient characteristics, shifted dates): PatientSex (M, F, O), PatientAgeYears, StudyDate
  // (YYYY-MM-DD), BodyPartExamined; absent keys were absent or malformed. Never in a sidecar.
  common::Metadata subject;
  absl::Status status;
  std::vector<common::Volume> volumes;
};

}  // namespace tributary::dicom
