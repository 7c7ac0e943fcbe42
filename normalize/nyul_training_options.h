#pragma once

#include <string>
#include <vector>

namespace tributary::normalize {

// How TrainNyul builds a model. Defaults are those of Nyúl & Udupa (1999) as updated by Shah et
// al. (2011) and as the intensity-normalization package sets them: landmarks at percentiles
// 1, 10, 20, ..., 90, 99 of the foreground, each image's [p1, p99] mapped linearly onto the
// standard scale [1, 100].
struct NyulTrainingOptions {
  std::vector<double> landmark_percentiles = {1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99};
  double scale_min = 1;
  double scale_max = 100;
  std::string recipe;                        // the recipe's sha256 or name
  std::vector<std::string> training_series;  // one digest per training series, in order
};

}  // namespace tributary::normalize
