#pragma once

#include "services/authenticator.h"
#include "services/ingest_pipeline.h"
#include "services/metrics.h"
#include "services/worker_pool.h"
#include "tributary/v1/ingest.grpc.pb.h"

namespace tributary::services {

struct IngestLimits {
  std::uint64_t max_file_bytes = std::uint64_t{2} << 30;  // larger files are REJECTED TOO_LARGE
  std::uint64_t max_buffered_bytes = 32u << 20;           // per stream, before reading pauses
  unsigned max_files_in_flight = 16;                      // per stream
};

// tributary.v1.Ingest over the callback API: validation and conversion here, the work in
// IngestPipeline on the worker pool.
class IngestService final : public v1::Ingest::CallbackService {
 public:
  IngestService(const IngestPipeline& pipeline, Authenticator& authenticator,
                provenance::Repository& repository, WorkerPool& pool, IngestLimits limits,
                Metrics& metrics)
      : pipeline_(pipeline),
        authenticator_(authenticator),
        repository_(repository),
        pool_(pool),
        limits_(limits),
        metrics_(metrics) {}

  grpc::ServerBidiReactor<v1::UploadRequest, v1::UploadResponse>* Upload(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* FindStored(grpc::CallbackServerContext* context,
                                       const v1::FindStoredRequest* request,
                                       v1::FindStoredResponse* response) override;
  grpc::ServerUnaryReactor* CompleteStudy(grpc::CallbackServerContext* context,
                                          const v1::CompleteStudyRequest* request,
                                          v1::CompleteStudyResponse* response) override;

 private:
  friend class UploadReactor;
  // Authorizes `method`, runs `body(principal, object)` on the worker pool (the body names the
  // ids it touched in `object`, for the audit log) and finishes with its status.
  template <typename Body>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context, std::string_view method,
                                  Body body);
  const IngestPipeline& pipeline_;
  Authenticator& authenticator_;
  provenance::Repository& repository_;
  WorkerPool& pool_;
  IngestLimits limits_;
  Metrics& metrics_;
};

}  // namespace tributary::services
