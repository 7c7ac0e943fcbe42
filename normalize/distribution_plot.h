#pragma once

#include <array>
#include <string>
#include <vector>

#include "common/status.h"

namespace tributary::normalize {

// A PNG of intensity distributions side by side (one panel per stage, e.g. before and after
// harmonization), one coloured curve per group (centre) with a legend: what a researcher looks at
// first to judge whether pooled data agree. Drawn with Cairo; text in the DejaVu Sans font.

struct DistributionCurve {
  std::string label;
  double low = 0, high = 1;       // the value range the fractions cover
  std::vector<double> fractions;  // equal bins between low and high
};

struct DistributionPanel {
  std::string title;
  std::vector<DistributionCurve> curves;
};

// The PNG file's bytes. Errors: InvalidArgument for no panel; Internal when Cairo fails.
absl::StatusOr<std::string> DistributionPlotPng(const std::string& title,
                                                const std::vector<DistributionPanel>& panels);

}  // namespace tributary::normalize
