#include "common/hash.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <new>

namespace tributary {
namespace {

// OpenSSL's digest calls fail only when it cannot allocate (or its provider is broken): never go
// on with a wrong digest (it addresses stored blobs and keys pseudonyms), fail as an allocation
// would.
void Check(int result) {
  if (result != 1) throw std::bad_alloc();
}

}  // namespace

Digest Sha256(std::string_view data) {
  Sha256Hasher hasher;
  hasher.Update(data);
  return hasher.Finish();
}

Digest HmacSha256(std::string_view key, std::string_view data) {
  Digest out{};
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
           &length) == nullptr ||
      length != out.size()) {
    throw std::bad_alloc();  // as Check does
  }
  return out;
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    auto byte = static_cast<std::uint8_t>(c);
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 0x0F]);
  }
  return out;
}

std::string ToHex(const Digest& digest) {
  return ToHex(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

struct Sha256Hasher::State {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  ~State() { EVP_MD_CTX_free(context); }
};

Sha256Hasher::Sha256Hasher() : state_(std::make_unique<State>()) {
  if (state_->context == nullptr ||
      EVP_DigestInit_ex(state_->context, EVP_sha256(), nullptr) != 1) {
    throw std::bad_alloc();
  }
}

Sha256Hasher::~Sha256Hasher() = default;

void Sha256Hasher::Update(std::string_view data) {
  Check(EVP_DigestUpdate(state_->context, data.data(), data.size()));
}

Digest Sha256Hasher::Finish() {
  Digest out{};
  unsigned int length = 0;
  Check(EVP_DigestFinal_ex(state_->context, out.data(), &length));
  if (length != out.size()) throw std::bad_alloc();
  Check(EVP_DigestInit_ex(state_->context, EVP_sha256(), nullptr));
  return out;
}

}  // namespace tributary
