#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tributary {

// Creates `path` readable and writable by its owner only (0600), writes `content` and fsyncs it.
// Refuses to overwrite (AlreadyExists): keys and tokens are never replaced by accident.
absl::Status WriteNewPrivateFile(const std::string& path, std::string_view content);

// Reads a secret (key, token) from `path`, opened once: the open descriptor must be a regular file
// owned by this process's user, with no access for group or others, and at most `max_bytes` long.
// `what` names the file in messages ("key file"). The caller wipes the result when done with it.
absl::StatusOr<std::string> ReadPrivateFile(const std::string& path, std::string_view what,
                                            std::size_t max_bytes = 4096);

// Overwrites `secret` with zeros (not optimized away) and empties it.
void WipeSecret(std::string& secret);

}  // namespace tributary
