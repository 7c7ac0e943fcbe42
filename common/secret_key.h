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

  SecretKey(const SecretKey&) = default;
  SecretKey(SecretKey&&) = default;
  SecretKey& operator=(const SecretKey&) = default;
  SecretKey& operator=(SecretKey&&) = default;
  ~SecretKey();  // wipes the bytes

  static SecretKey Generate();
  static absl::StatusOr<SecretKey> FromHex(std::string_view hex);
  // Opens `path` once and refuses it unless it is a regular file of this process's user that group
  // and others cannot access (checked on the open descriptor).
  static absl::StatusOr<SecretKey> FromFile(const std::string& path);
  static absl::StatusOr<SecretKey> FromEnvironment(const char* variable = kEnvironmentVariable);

  // Creates `path` with mode 0600; refuses to overwrite an existing file.
  absl::Status WriteNewFile(const std::string& path) const;

  std::string_view bytes() const { return bytes_; }
  // HMAC-SHA-256(key, "tributary key fingerprint v1") in hex: names the key without revealing it.
  std::string Fingerprint() const;

 private:
  explicit SecretKey(std::string bytes) : bytes_(std::move(bytes)) {}
  std::string bytes_;
};

}  // namespace tributary
