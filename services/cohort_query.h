#pragma once

#include <string>

#include "common/status.h"
#include "provenance/cohort_records.h"
#include "tributary/v1/cohorts.pb.h"

namespace tributary::services {

// The API's KEY=VALUE filters as a repository query. InvalidArgument names the filter that is
// wrong and says what it takes. Keys that select (modality, centre, recipe, body_part, sex) may be
// given more than once (any of the values); a range key (age, study_date, spacing, size,
// qc.<metric>) once. Ranges are LO..HI, LO.., ..HI or a single value.
absl::StatusOr<provenance::VolumeQuery> ParseVolumeQuery(const v1::VolumeQuery& query);

// The query as given, as a JSON object (what a cohort records and its dataset description shows).
std::string VolumeQueryJson(const v1::VolumeQuery& query);

// Page tokens: opaque text for a cursor (derivation, stem). InvalidArgument for a token this
// server did not make.
std::string PageToken(const provenance::VolumeCursor& cursor);
absl::StatusOr<provenance::VolumeCursor> ParsePageToken(const std::string& token);

}  // namespace tributary::services
