#pragma once

#include <grpcpp/grpcpp.h>

#include <string>
#include <string_view>

#include "services/authenticator.h"
#include "services/worker_pool.h"

namespace tributary::services {

// The one path of a unary handler: on the worker pool, authorize `method` (the RPC table), run
// `body(principal)` if allowed, audit the call with `object` (ids, never PHI) and finish it with
// the body's status.
template <typename Body>
grpc::ServerUnaryReactor* ServeUnary(Authenticator& authenticator, WorkerPool& pool,
                                     grpc::CallbackServerContext* context, std::string_view method,
                                     std::string object, Body body) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  pool.Submit([&authenticator, context, method, object = std::move(object), body, reactor] {
    provenance::Principal principal;
    absl::Status status = authenticator.Authorize(*context, method, principal);
    if (status.ok()) status = body(principal);
    reactor->Finish(authenticator.Conclude(*context, method, principal, object, status));
  });
  return reactor;
}

}  // namespace tributary::services
