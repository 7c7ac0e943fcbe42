#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace tributary {

// 256-bit key for keyed pseudonymization. Stored as 64 hexadecimal digits (one line) in a file
// readable by its owner only, or given in an environment variable. Never printed.
class SecretKey {
 public:
  static constexpr std::size_t kBytes = 32;
  static constexpr const char* kEnvironmentVariable = "TRIBUTARY_DEID_KEY";

  static SecretKey Generate();
  static absl::StatusOr<SecretKey> FromHex(std::string_view hex);
  // Refuses a file that group or others may read or write.
  static absl::StatusOr<SecretKey> FromFile(const std::string& path);
  static absl::StatusOr<SecretKey> FromEnvironment(const char* variable = kEnvironmentVariable);

  // Creates `path` with mode 0600; refuses to overwrite an existing file.
  absl::Status WriteNewFile(const std::string& path) const;

  std::string_view bytes() const { return bytes_; }

 private:
  explicit SecretKey(std::string bytes) : bytes_(std::move(bytes)) {}
  std::string bytes_;
};

}  // namespace tributary
