#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace tributary {

// Creates `path` readable and writable by its owner only (0600), writes `content` and fsyncs it.
// Refuses to overwrite (AlreadyExists): keys and tokens are never replaced by accident.
absl::Status WriteNewPrivateFile(const std::string& path, std::string_view content);

}  // namespace tributary
