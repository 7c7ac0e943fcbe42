#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "harmonize/bids_documents.h"

namespace tributary::harmonize {

// Per modality, one picture of each centre's intensity distribution before and after
// harmonization (normalize::DistributionPlotPng), from the volumes' QC values HistogramBefore /
// HistogramAfter (and their ...Range): a centre's curve is the mean of its volumes' distributions.
struct CentreDistributions {
  std::string modality;
  std::string png;
  std::size_t volumes = 0;  // that had a distribution to show
};

absl::StatusOr<std::vector<CentreDistributions>> CentreDistributionPictures(
    const std::vector<QcRow>& rows);

}  // namespace tributary::harmonize
