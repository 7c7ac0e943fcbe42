#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "provenance/records.h"

namespace tributary::provenance {

// Another centre's study holding some of the same original instances (keyed fingerprints match).
struct DuplicateLink {
  std::int64_t study_id = 0;
  std::string centre;
  std::string study_uid;
  std::int64_t shared_instance_count = 0;  // instances of both studies with one original
};

// A study that more than one centre sent, for operators: never shown to uploaders.
struct CrossCentreDuplicate {
  StudySummary study;
  std::vector<DuplicateLink> also_sent_as;  // by study id
};

}  // namespace tributary::provenance
