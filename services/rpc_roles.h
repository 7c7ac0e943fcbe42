#pragma once

#include <span>
#include <string_view>

namespace tributary::services {

// Roles as bits, so that a rule can allow several.
enum class RoleBit : unsigned { kUploader = 1, kResearcher = 2, kOperator = 4 };

// What each RPC of the API allows: the one table every call goes through (Authenticator::
// Authorize). A method missing from it is refused. `mutating` calls change data; their audit
// record is written before the call is answered.
struct RpcRule {
  std::string_view method;  // full name, "/tributary.v1.Admin/AddCentre"
  unsigned roles;           // RoleBit values or-ed together
  bool mutating;
};

std::span<const RpcRule> RpcRoles();
// nullptr when the method has no rule.
const RpcRule* FindRpcRule(std::string_view method);
constexpr bool Allows(const RpcRule& rule, RoleBit role) {
  return (rule.roles & static_cast<unsigned>(role)) != 0;
}

}  // namespace tributary::services
