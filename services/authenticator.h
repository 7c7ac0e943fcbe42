#pragma once

#include <grpcpp/server_context.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "provenance/repository.h"

namespace tributary::services {

// Bearer tokens from call metadata (`authorization: Bearer <token>`), checked against the database
// and cached for a short while so that a busy gateway costs one lookup a minute.
class Authenticator {
 public:
  explicit Authenticator(provenance::Repository& repository) : repository_(repository) {}

  absl::StatusOr<provenance::Principal> Authenticate(const grpc::CallbackServerContext& context);
  static absl::Status RequireOperator(const provenance::Principal& principal);

 private:
  static constexpr std::chrono::seconds kCacheFor{60};
  provenance::Repository& repository_;
  std::mutex mutex_;
  std::map<std::string, std::pair<provenance::Principal, std::chrono::steady_clock::time_point>>
      cache_;
};

}  // namespace tributary::services
