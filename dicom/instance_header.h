#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "dicom/instance.h"

namespace tributary::dicom {

// What the file is (ProbeDicom on its first bytes), then its header: read, checked and pruned to
// what decoding needs; the pixel data stay in the file until decoded.
// Errors: InvalidArgument when the file is not a readable DICOM image instance (the message says
// why), NotFound when it cannot be read.
absl::StatusOr<std::unique_ptr<Instance>> LoadHeader(const std::string& path);

// The same for bytes held in memory, which the instance keeps; `source` names them in messages.
absl::StatusOr<std::unique_ptr<Instance>> LoadHeaderFromBytes(std::string bytes,
                                                              std::string source);

}  // namespace tributary::dicom
