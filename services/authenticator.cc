#include "services/authenticator.h"

#include <spdlog/spdlog.h>

#include "services/grpc_status.h"
#include "services/rpc_roles.h"
#include "services/tokens.h"

namespace tributary::services {
namespace {

RoleBit Bit(provenance::Role role) {
  switch (role) {
    case provenance::Role::kOperator:
      return RoleBit::kOperator;
    case provenance::Role::kResearcher:
      return RoleBit::kResearcher;
    case provenance::Role::kUploader:
      return RoleBit::kUploader;
  }
  return RoleBit::kUploader;
}

bool Expired(const provenance::Principal& principal) {
  if (principal.expires_at_unix == 0) return false;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return now >= principal.expires_at_unix;
}

const char* CodeName(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return "OK";
    case absl::StatusCode::kCancelled:
      return "CANCELLED";
    case absl::StatusCode::kUnknown:
      return "UNKNOWN";
    case absl::StatusCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case absl::StatusCode::kDeadlineExceeded:
      return "DEADLINE_EXCEEDED";
    case absl::StatusCode::kNotFound:
      return "NOT_FOUND";
    case absl::StatusCode::kAlreadyExists:
      return "ALREADY_EXISTS";
    case absl::StatusCode::kPermissionDenied:
      return "PERMISSION_DENIED";
    case absl::StatusCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case absl::StatusCode::kFailedPrecondition:
      return "FAILED_PRECONDITION";
    case absl::StatusCode::kAborted:
      return "ABORTED";
    case absl::StatusCode::kOutOfRange:
      return "OUT_OF_RANGE";
    case absl::StatusCode::kUnimplemented:
      return "UNIMPLEMENTED";
    case absl::StatusCode::kInternal:
      return "INTERNAL";
    case absl::StatusCode::kUnavailable:
      return "UNAVAILABLE";
    case absl::StatusCode::kDataLoss:
      return "DATA_LOSS";
    case absl::StatusCode::kUnauthenticated:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

}  // namespace

absl::StatusOr<provenance::Principal> Authenticator::Authenticate(
    const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "missing `authorization: Bearer <token>` metadata (use --token-file)");
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
    if (cached != cache_.end() && now - cached->second.second < kCacheFor) {
      if (!Expired(cached->second.first)) return cached->second.first;
      cache_.erase(cached);
      return absl::UnauthenticatedError("unknown, expired or revoked token");
    }
  }
  TRIB_ASSIGN_OR_RETURN(provenance::Principal principal, repository_.Authenticate(digest));
  std::lock_guard lock(mutex_);
  if (cache_.size() > 10000) cache_.clear();
  cache_[digest] = {principal, now};
  return principal;
}

absl::Status Authenticator::Authorize(const grpc::CallbackServerContext& context,
                                      std::string_view method, provenance::Principal& principal) {
  principal = provenance::Principal();
  TRIB_ASSIGN_OR_RETURN(principal, Authenticate(context));
  const RpcRule* rule = FindRpcRule(method);
  if (rule == nullptr)
    return absl::PermissionDeniedError(std::string(method) + " has no authorization rule");
  if (!Allows(*rule, Bit(principal.role))) {
    return absl::PermissionDeniedError(std::string(method) + " is not allowed for the " +
                                       provenance::RoleName(principal.role) + " role");
  }
  return absl::OkStatus();
}

grpc::Status Authenticator::Conclude(const grpc::CallbackServerContext& context,
                                     std::string_view method,
                                     const provenance::Principal& principal,
                                     const std::string& object, const absl::Status& outcome) {
  provenance::AuditEntry entry;
  entry.at_unix_micros = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  entry.token_id = principal.token_id;
  if (principal.token_id != 0) {
    entry.role = provenance::RoleName(principal.role);
    entry.centre_id = principal.centre_id;
  }
  entry.rpc = std::string(method);
  entry.object = object;
  entry.outcome = CodeName(outcome.code());
  entry.peer = context.peer();
  const RpcRule* rule = FindRpcRule(method);
  // A refused call changed nothing: queued like a read.
  if (rule != nullptr && rule->mutating && principal.token_id != 0 &&
      outcome.code() != absl::StatusCode::kPermissionDenied) {
    absl::Status written = audit_.RecordDurably(std::move(entry));
    if (!written.ok())
      spdlog::error("{} answered before its audit entry was written: {}", method,
                    written.ToString());
  } else {
    audit_.Record(std::move(entry));
  }
  return ToGrpcStatus(outcome);
}

void Authenticator::Forget(std::int64_t token_id) {
  std::lock_guard lock(mutex_);
  std::erase_if(cache_,
                [token_id](const auto& entry) { return entry.second.first.token_id == token_id; });
}

}  // namespace tributary::services
