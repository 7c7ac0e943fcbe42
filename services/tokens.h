#pragma once

#include <string>

namespace tributary::services {

// "trb_" + 64 hex digits of 256 random bits.
std::string NewToken();
// What the database stores for a token.
std::string TokenDigest(const std::string& token);

}  // namespace tributary::services
