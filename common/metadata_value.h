#pragma once

#include <map>
#include <string>
#include <variant>
#include <vector>

namespace tributary::common {

// One value of a sidecar entry: BIDS-style acquisition keys and reconstruction decisions, in plain
// types so that dicom/ can fill them and normalize/ can write them as JSON.
using MetadataValue = std::variant<bool, std::int64_t, double, std::string, std::vector<double>,
                                   std::vector<std::string>>;

// Keys in sorted order, so that sidecars are reproducible.
using Metadata = std::map<std::string, MetadataValue>;

}  // namespace tributary::common
