#pragma once

#include <string>

#include "common/status.h"

namespace tributary::provenance {

// The de-identification key's fingerprint in the database (table key_fingerprint, migration 0005),
// over a connection of its own to `database_url` (schema already migrated).
class KeyFingerprint {
 public:
  // Records `fingerprint` when none is recorded; FailedPrecondition when another one is.
  static absl::Status Check(const std::string& database_url, const std::string& fingerprint);
  // Replaces the recorded fingerprint by `new_fingerprint` (and logs the change in key_rotations),
  // only if the recorded one is `old_fingerprint`; FailedPrecondition otherwise.
  static absl::Status Rotate(const std::string& database_url, const std::string& old_fingerprint,
                             const std::string& new_fingerprint);
};

}  // namespace tributary::provenance
