#include "services/tokens.h"

#include "common/hash.h"
#include "common/secret_key.h"

namespace tributary::services {

std::string NewToken() { return "trb_" + ToHex(SecretKey::Generate().bytes()); }

std::string TokenDigest(const std::string& token) { return ToHex(Sha256(token)); }

}  // namespace tributary::services
