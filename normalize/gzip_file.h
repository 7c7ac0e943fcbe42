#pragma once

#include <string>

#include "common/status.h"

namespace tributary::normalize {

// Compresses the file `input` into `output` as one gzip member (RFC 1952), deflating 128 KiB
// blocks on `threads` threads the way pigz does: each block primed with the 32 KiB before it and
// ended on a byte boundary (a sync flush), the CRC-32s combined. Any gzip reader reads it; the
// output is the same whatever the thread count. The input is read 8 MiB at a time, so memory does
// not grow with its size. `output` is created or replaced.
absl::Status GzipFile(const std::string& input, const std::string& output, unsigned threads,
                      int level = 6);

}  // namespace tributary::normalize
