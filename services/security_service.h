#pragma once

#include "services/authenticator.h"
#include "services/worker_pool.h"
#include "tributary/v1/security.grpc.pb.h"

namespace tributary::services {

// tributary.v1.Security: tokens (create, list, revoke) and the audit log, for operators.
class SecurityService final : public v1::Security::CallbackService {
 public:
  SecurityService(Authenticator& authenticator, provenance::Repository& repository,
                  WorkerPool& pool)
      : authenticator_(authenticator), repository_(repository), pool_(pool) {}

  grpc::ServerUnaryReactor* CreateToken(grpc::CallbackServerContext* context,
                                        const v1::CreateTokenRequest* request,
                                        v1::CreateTokenResponse* response) override;
  grpc::ServerUnaryReactor* ListTokens(grpc::CallbackServerContext* context,
                                       const v1::ListTokensRequest* request,
                                       v1::ListTokensResponse* response) override;
  grpc::ServerUnaryReactor* RevokeToken(grpc::CallbackServerContext* context,
                                        const v1::RevokeTokenRequest* request,
                                        v1::RevokeTokenResponse* response) override;
  grpc::ServerUnaryReactor* ListAudit(grpc::CallbackServerContext* context,
                                      const v1::ListAuditRequest* request,
                                      v1::ListAuditResponse* response) override;

 private:
  template <typename Body>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context, std::string_view method,
                                  std::string object, Body body);

  Authenticator& authenticator_;
  provenance::Repository& repository_;
  WorkerPool& pool_;
};

}  // namespace tributary::services
