#pragma once

#include "services/authenticator.h"
#include "services/worker_pool.h"
#include "tributary/v1/admin.grpc.pb.h"

namespace tributary::services {

// tributary.v1.Admin: centres and tokens (operator), studies (operator: all; centre: its own).
class AdminService final : public v1::Admin::CallbackService {
 public:
  AdminService(Authenticator& authenticator, provenance::Repository& repository, WorkerPool& pool)
      : authenticator_(authenticator), repository_(repository), pool_(pool) {}

  grpc::ServerUnaryReactor* AddCentre(grpc::CallbackServerContext* context,
                                      const v1::AddCentreRequest* request,
                                      v1::AddCentreResponse* response) override;
  grpc::ServerUnaryReactor* ListCentres(grpc::CallbackServerContext* context,
                                        const v1::ListCentresRequest* request,
                                        v1::ListCentresResponse* response) override;
  grpc::ServerUnaryReactor* SetCentrePolicy(grpc::CallbackServerContext* context,
                                            const v1::SetCentrePolicyRequest* request,
                                            v1::SetCentrePolicyResponse* response) override;
  grpc::ServerUnaryReactor* ListStudies(grpc::CallbackServerContext* context,
                                        const v1::ListStudiesRequest* request,
                                        v1::ListStudiesResponse* response) override;
  grpc::ServerUnaryReactor* GetStudy(grpc::CallbackServerContext* context,
                                     const v1::GetStudyRequest* request,
                                     v1::GetStudyResponse* response) override;
  grpc::ServerUnaryReactor* ListCrossCentreDuplicates(
      grpc::CallbackServerContext* context, const v1::ListCrossCentreDuplicatesRequest* request,
      v1::ListCrossCentreDuplicatesResponse* response) override;

 private:
  // Authorizes `method` (the RPC table), runs `body` on the worker pool, audits the call with
  // `object` (ids, never PHI) and finishes it with the body's status.
  template <typename Body>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context, std::string_view method,
                                  std::string object, Body body);

  Authenticator& authenticator_;
  provenance::Repository& repository_;
  WorkerPool& pool_;
};

}  // namespace tributary::services
