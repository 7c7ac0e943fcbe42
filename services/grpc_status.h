#pragma once

#include <grpcpp/support/status.h>

#include "common/status.h"

namespace tributary::services {

// absl and gRPC share their status codes; this is the one place a status crosses to the wire.
inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace tributary::services
