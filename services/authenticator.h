#pragma once

#include <grpcpp/server_context.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "provenance/repository.h"
#include "services/audit_log.h"

namespace tributary::services {

// Bearer tokens from call metadata (`authorization: Bearer <token>`), checked against the database
// and cached for a short while so that a busy gateway costs one lookup every half minute; the
// RPC table (rpc_roles.h) decides what each role may call; every call ends in the audit log.
class Authenticator {
 public:
  Authenticator(provenance::Repository& repository, AuditLog& audit)
      : repository_(repository), audit_(audit) {}

  // Unauthenticated without a valid token; PermissionDenied when the RPC table has no rule for
  // `method` (a full name, "/tributary.v1.Admin/AddCentre") or its rule does not allow the role.
  // `principal` is filled whenever the token is valid, allowed or not (for the audit record).
  absl::Status Authorize(const grpc::CallbackServerContext& context, std::string_view method,
                         provenance::Principal& principal);
  // Records the call (durably for mutating RPCs) and returns its status for the wire.
  // `object`: the ids the call named ("study=12"), never PHI.
  grpc::Status Conclude(const grpc::CallbackServerContext& context, std::string_view method,
                        const provenance::Principal& principal, const std::string& object,
                        const absl::Status& outcome);
  // Drops a revoked token from the cache at once (other servers notice within kCacheFor).
  void Forget(std::int64_t token_id);

  static constexpr std::chrono::seconds kCacheFor{30};

 private:
  absl::StatusOr<provenance::Principal> Authenticate(const grpc::CallbackServerContext& context);

  provenance::Repository& repository_;
  AuditLog& audit_;
  std::mutex mutex_;
  std::map<std::string, std::pair<provenance::Principal, std::chrono::steady_clock::time_point>>
      cache_;
};

}  // namespace tributary::services
