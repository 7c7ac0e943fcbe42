#pragma once

#include "provenance/prov_document.h"
#include "services/authenticator.h"
#include "services/cohort_snapshot.h"
#include "services/ingest_pipeline.h"
#include "services/metrics.h"
#include "services/worker_pool.h"
#include "storage/blob_store.h"
#include "tributary/v1/cohorts.grpc.pb.h"

namespace tributary::services {

// tributary.v1.Cohorts (roles per rpc_roles.cc): queries over harmonized volumes, cohort
// snapshots (CohortSnapshot), their export as a stream of verified files, and lineage.
class CohortService final : public v1::Cohorts::CallbackService {
 public:
  CohortService(Authenticator& authenticator, provenance::Repository& repository,
                const storage::BlobStore& blobs, const IngestPipeline& pipeline, WorkerPool& pool,
                Metrics& metrics)
      : authenticator_(authenticator),
        repository_(repository),
        blobs_(blobs),
        snapshot_(repository, blobs),
        pipeline_(pipeline),
        pool_(pool),
        metrics_(metrics) {}

  grpc::ServerUnaryReactor* QueryVolumes(grpc::CallbackServerContext* context,
                                         const v1::QueryVolumesRequest* request,
                                         v1::QueryVolumesResponse* response) override;
  grpc::ServerUnaryReactor* CreateCohort(grpc::CallbackServerContext* context,
                                         const v1::CreateCohortRequest* request,
                                         v1::CreateCohortResponse* response) override;
  grpc::ServerUnaryReactor* ListCohorts(grpc::CallbackServerContext* context,
                                        const v1::ListCohortsRequest* request,
                                        v1::ListCohortsResponse* response) override;
  grpc::ServerUnaryReactor* GetCohort(grpc::CallbackServerContext* context,
                                      const v1::GetCohortRequest* request,
                                      v1::GetCohortResponse* response) override;
  grpc::ServerWriteReactor<v1::ExportChunk>* ExportCohort(
      grpc::CallbackServerContext* context, const v1::ExportCohortRequest* request) override;
  grpc::ServerUnaryReactor* GetProvenance(grpc::CallbackServerContext* context,
                                          const v1::GetProvenanceRequest* request,
                                          v1::GetProvenanceResponse* response) override;

 private:
  friend class ExportReactor;
  template <typename Body>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context, std::string_view method,
                                  std::string object, Body body);
  absl::StatusOr<provenance::ProvDocument> Provenance(const provenance::Principal& principal,
                                                      const std::string& id);

  Authenticator& authenticator_;
  provenance::Repository& repository_;
  const storage::BlobStore& blobs_;
  CohortSnapshot snapshot_;
  const IngestPipeline& pipeline_;
  WorkerPool& pool_;
  Metrics& metrics_;
};

}  // namespace tributary::services
