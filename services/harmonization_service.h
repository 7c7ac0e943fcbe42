#pragma once

#include "services/authenticator.h"
#include "services/harmonization_operations.h"
#include "services/worker_pool.h"
#include "storage/blob_store.h"
#include "tributary/v1/harmonization.grpc.pb.h"

namespace tributary::services {

// tributary.v1.Harmonization (roles per rpc_roles.cc): the job queue, series and derivations,
// recipes and models, reprocessing and derived files. Validation and conversion here; the work
// in the repository and HarmonizationOperations, on the worker pool.
class HarmonizationService final : public v1::Harmonization::CallbackService {
 public:
  HarmonizationService(Authenticator& authenticator, provenance::Repository& repository,
                       const storage::BlobStore& blobs, WorkerPool& pool)
      : authenticator_(authenticator),
        repository_(repository),
        operations_(repository),
        blobs_(blobs),
        pool_(pool) {}

  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* RetryJobs(grpc::CallbackServerContext* context,
                                      const v1::RetryJobsRequest* request,
                                      v1::RetryJobsResponse* response) override;
  grpc::ServerUnaryReactor* GetQueueStatus(grpc::CallbackServerContext* context,
                                           const v1::GetQueueStatusRequest* request,
                                           v1::GetQueueStatusResponse* response) override;
  grpc::ServerUnaryReactor* ListSeries(grpc::CallbackServerContext* context,
                                       const v1::ListSeriesRequest* request,
                                       v1::ListSeriesResponse* response) override;
  grpc::ServerUnaryReactor* GetSeries(grpc::CallbackServerContext* context,
                                      const v1::GetSeriesRequest* request,
                                      v1::GetSeriesResponse* response) override;
  grpc::ServerUnaryReactor* ListRecipes(grpc::CallbackServerContext* context,
                                        const v1::ListRecipesRequest* request,
                                        v1::ListRecipesResponse* response) override;
  grpc::ServerUnaryReactor* GetRecipe(grpc::CallbackServerContext* context,
                                      const v1::GetRecipeRequest* request,
                                      v1::GetRecipeResponse* response) override;
  grpc::ServerUnaryReactor* AddRecipe(grpc::CallbackServerContext* context,
                                      const v1::AddRecipeRequest* request,
                                      v1::AddRecipeResponse* response) override;
  grpc::ServerUnaryReactor* AssignRecipe(grpc::CallbackServerContext* context,
                                         const v1::AssignRecipeRequest* request,
                                         v1::AssignRecipeResponse* response) override;
  grpc::ServerUnaryReactor* AddModel(grpc::CallbackServerContext* context,
                                     const v1::AddModelRequest* request,
                                     v1::AddModelResponse* response) override;
  grpc::ServerUnaryReactor* Reprocess(grpc::CallbackServerContext* context,
                                      const v1::ReprocessRequest* request,
                                      v1::ReprocessResponse* response) override;
  grpc::ServerWriteReactor<v1::BlobChunk>* GetBlob(grpc::CallbackServerContext* context,
                                                   const v1::GetBlobRequest* request) override;

 private:
  friend class BlobReactor;
  // Authorizes `method` (the RPC table), runs `body` on the worker pool, audits the call with
  // `object` (ids, never PHI) and finishes it with the body's status.
  template <typename Body>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context, std::string_view method,
                                  std::string object, Body body);

  Authenticator& authenticator_;
  provenance::Repository& repository_;
  HarmonizationOperations operations_;
  const storage::BlobStore& blobs_;
  WorkerPool& pool_;
};

}  // namespace tributary::services
