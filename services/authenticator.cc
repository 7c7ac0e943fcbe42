#include "services/authenticator.h"

#include "services/tokens.h"

namespace tributary::services {

absl::StatusOr<provenance::Principal> Authenticator::Authenticate(
    const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "missing `authorization: Bearer <token>` metadata (use --token)");
  }
  std::string value(it->second.data(), it->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (value.rfind(kBearer, 0) != 0)
    return absl::UnauthenticatedError("authorization must be `Bearer <token>`");
  std::string digest = TokenDigest(value.substr(kBearer.size()));
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    auto cached = cache_.find(digest);
    if (cached != cache_.end() && now - cached->second.second < kCacheFor)
      return cached->second.first;
  }
  TRIB_ASSIGN_OR_RETURN(provenance::Principal principal, repository_.Authenticate(digest));
  std::lock_guard lock(mutex_);
  if (cache_.size() > 10000) cache_.clear();
  cache_[digest] = {principal, now};
  return principal;
}

absl::Status Authenticator::RequireOperator(const provenance::Principal& principal) {
  if (principal.role == provenance::Role::kOperator) return absl::OkStatus();
  return absl::PermissionDeniedError("this call needs the operator token");
}

}  // namespace tributary::services
