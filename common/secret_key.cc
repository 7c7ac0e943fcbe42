#include "common/secret_key.h"

#include <openssl/rand.h>

#include <cctype>
#include <cstdlib>

#include "common/hash.h"
#include "common/private_file.h"

namespace tributary {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return text;
}

}  // namespace

SecretKey::~SecretKey() { WipeSecret(bytes_); }

SecretKey SecretKey::Generate() {
  std::string bytes(kBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), kBytes) != 1) {
    std::abort();  // No entropy source: continuing would produce a guessable key.
  }
  return SecretKey(std::move(bytes));
}

absl::StatusOr<SecretKey> SecretKey::FromHex(std::string_view hex) {
  hex = Trim(hex);
  if (hex.size() != kBytes * 2) {
    return absl::InvalidArgumentError("key must be exactly 64 hexadecimal digits (256 bits), got " +
                                      std::to_string(hex.size()) + " characters");
  }
  std::string bytes(kBytes, '\0');
  for (std::size_t i = 0; i < kBytes; ++i) {
    int high = HexValue(hex[2 * i]);
    int low = HexValue(hex[2 * i + 1]);
    if (high < 0 || low < 0)
      return absl::InvalidArgumentError("key contains a non-hexadecimal character");
    bytes[i] = static_cast<char>(high * 16 + low);
  }
  return SecretKey(std::move(bytes));
}

absl::StatusOr<SecretKey> SecretKey::FromFile(const std::string& path) {
  auto content = ReadPrivateFile(path, "key file", 256);
  if (!content.ok()) return content.status();
  auto key = FromHex(*content);
  WipeSecret(*content);
  if (!key.ok())
    return absl::InvalidArgumentError("key file " + path + ": " +
                                      std::string(key.status().message()));
  return key;
}

absl::StatusOr<SecretKey> SecretKey::FromEnvironment(const char* variable) {
  const char* value = std::getenv(variable);
  if (value == nullptr || *value == '\0') {
    return absl::NotFoundError(std::string("environment variable ") + variable + " is not set");
  }
  auto key = FromHex(value);
  if (!key.ok()) {
    return absl::InvalidArgumentError(std::string(variable) + ": " +
                                      std::string(key.status().message()));
  }
  return key;
}

absl::Status SecretKey::WriteNewFile(const std::string& path) const {
  std::string hex = ToHex(bytes_) + "\n";
  absl::Status written = WriteNewPrivateFile(path, hex);
  WipeSecret(hex);
  return written;
}

std::string SecretKey::Fingerprint() const {
  return ToHex(HmacSha256(bytes_, "tributary key fingerprint v1"));
}

}  // namespace tributary
