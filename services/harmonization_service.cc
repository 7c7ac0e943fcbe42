#include "services/harmonization_service.h"

#include <spdlog/spdlog.h>

#include <map>
#include <mutex>

#include "services/grpc_status.h"
#include "services/serve_unary.h"

namespace tributary::services {
namespace {

constexpr std::size_t kChunkBytes = 1 << 20;

v1::JobState ToProto(provenance::JobState state) {
  switch (state) {
    case provenance::JobState::kQueued:
      return v1::QUEUED;
    case provenance::JobState::kRunning:
      return v1::RUNNING;
    case provenance::JobState::kDone:
      return v1::DONE;
    case provenance::JobState::kFailed:
      return v1::FAILED;
  }
  return v1::JOB_STATE_UNSPECIFIED;
}

std::optional<provenance::JobState> FromProto(v1::JobState state) {
  switch (state) {
    case v1::QUEUED:
      return provenance::JobState::kQueued;
    case v1::RUNNING:
      return provenance::JobState::kRunning;
    case v1::DONE:
      return provenance::JobState::kDone;
    case v1::FAILED:
      return provenance::JobState::kFailed;
    default:
      return std::nullopt;
  }
}

void ToProto(const provenance::Recipe& r, bool with_json, v1::Recipe* out) {
  out->set_sha256(r.sha256);
  out->set_name(r.name);
  out->set_version(r.version);
  out->set_created_at(r.created_at);
  if (with_json) out->set_json(r.json);
}

void ToProto(const provenance::SeriesRow& s, v1::SeriesInfo* out) {
  out->set_id(s.id);
  out->set_study_id(s.study_id);
  out->set_study_instance_uid(s.study_uid);
  out->set_centre(s.centre);
  out->set_series_instance_uid(s.series_uid);
  out->set_modality(s.modality);
  out->set_instance_count(s.instance_count);
}

// Recipe names by digest, for listings.
absl::StatusOr<std::map<std::string, std::string>> RecipeNames(provenance::Repository& repository) {
  TRIB_ASSIGN_OR_RETURN(auto recipes, repository.ListRecipes());
  std::map<std::string, std::string> names;
  for (const auto& r : recipes) names[r.sha256] = r.name;
  return names;
}

int Limit(int requested, int fallback) {
  return requested <= 0 ? fallback : std::min(requested, 100000);
}

}  // namespace

// Streams one derived blob in chunks; the blob is read on the worker pool.
class BlobReactor final : public grpc::ServerWriteReactor<v1::BlobChunk> {
 public:
  BlobReactor(HarmonizationService& service, grpc::CallbackServerContext* context,
              const v1::GetBlobRequest* request) {
    service.pool_.Submit([this, &service, context, request] {
      constexpr std::string_view kMethod = "/tributary.v1.Harmonization/GetBlob";
      provenance::Principal principal;
      absl::Status allowed = service.authenticator_.Authorize(*context, kMethod, principal);
      absl::StatusOr<std::string> bytes =
          allowed.ok() ? Load(service, *request) : absl::StatusOr<std::string>(allowed);
      grpc::Status status =
          service.authenticator_.Conclude(*context, kMethod, principal,
                                          "series=" + std::to_string(request->series_id()) +
                                              " blob=" + request->sha256().substr(0, 64),
                                          bytes.status());
      std::lock_guard lock(mutex_);
      if (!bytes.ok()) {
        Finish(status);
        return;
      }
      bytes_ = std::move(*bytes);
      WriteNextLocked();
    });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    WriteNextLocked();
  }

  void OnDone() override { delete this; }

 private:
  static absl::StatusOr<std::string> Load(HarmonizationService& service,
                                          const v1::GetBlobRequest& request) {
    TRIB_ASSIGN_OR_RETURN(auto derivations,
                          service.repository_.ListDerivations(request.series_id()));
    bool derived = false;
    for (const auto& d : derivations) {
      for (const auto& output : d.outputs) derived |= output.blob_sha256 == request.sha256();
    }
    // Instances and other series' files are never served, whatever their digest.
    if (!derived) {
      return absl::NotFoundError("blob " + request.sha256() +
                                 " is no output of a derivation of series " +
                                 std::to_string(request.series_id()));
    }
    return service.blobs_.Read(request.sha256());
  }

  void WriteNextLocked() {
    if (offset_ >= bytes_.size() && offset_ > 0) {
      Finish(grpc::Status::OK);
      return;
    }
    chunk_.Clear();
    if (offset_ == 0) chunk_.set_size(static_cast<std::int64_t>(bytes_.size()));
    std::size_t n = std::min(kChunkBytes, bytes_.size() - offset_);
    chunk_.set_data(bytes_.substr(offset_, n));
    offset_ += n;
    if (bytes_.empty()) offset_ = 1;  // an empty blob: one chunk with its size, then done
    StartWrite(&chunk_);
  }

  std::mutex mutex_;
  std::string bytes_;
  std::size_t offset_ = 0;
  v1::BlobChunk chunk_;
};

template <typename Body>
grpc::ServerUnaryReactor* HarmonizationService::Serve(grpc::CallbackServerContext* context,
                                                      std::string_view method, std::string object,
                                                      Body body) {
  return ServeUnary(authenticator_, pool_, context, method, std::move(object),
                    [body](const provenance::Principal&) { return body(); });
}

grpc::ServerUnaryReactor* HarmonizationService::ListJobs(grpc::CallbackServerContext* context,
                                                         const v1::ListJobsRequest* request,
                                                         v1::ListJobsResponse* response) {
  return Serve(context, "/tributary.v1.Harmonization/ListJobs", "",
               [this, request, response]() -> absl::Status {
                 TRIB_ASSIGN_OR_RETURN(auto jobs,
                                       repository_.ListJobs(FromProto(request->state()),
                                                            Limit(request->limit(), 1000)));
                 TRIB_ASSIGN_OR_RETURN(auto names, RecipeNames(repository_));
                 for (const auto& j : jobs) {
                   v1::Job* out = response->add_jobs();
                   out->set_id(j.id);
                   out->set_series_id(j.series_id);
                   out->set_series_instance_uid(j.series_uid);
                   out->set_modality(j.modality);
                   out->set_recipe_sha256(j.recipe_sha256);
                   out->set_recipe_name(names[j.recipe_sha256]);
                   out->set_model_sha256(j.model_sha256);
                   out->set_state(ToProto(j.state));
                   out->set_attempts(j.attempts);
                   out->set_max_attempts(j.max_attempts);
                   out->set_next_attempt_at(j.next_attempt_at);
                   out->set_lease_owner(j.lease_owner);
                   out->set_lease_expires_at(j.lease_expires_at);
                   out->set_last_error(j.last_error);
                   out->set_created_at(j.created_at);
                   out->set_started_at(j.started_at);
                   out->set_finished_at(j.finished_at);
                 }
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* HarmonizationService::RetryJobs(grpc::CallbackServerContext* context,
                                                          const v1::RetryJobsRequest* request,
                                                          v1::RetryJobsResponse* response) {
  return Serve(
      context, "/tributary.v1.Harmonization/RetryJobs",
      request->all_failed() ? "jobs=failed" : "jobs=" + std::to_string(request->ids_size()),
      [this, request, response]() -> absl::Status {
        if (request->ids().empty() == !request->all_failed())
          return absl::InvalidArgumentError("give job ids or all_failed, not both");
        std::vector<std::int64_t> ids(request->ids().begin(), request->ids().end());
        TRIB_ASSIGN_OR_RETURN(std::int64_t retried, repository_.RetryJobs(ids));
        response->set_retried(retried);
        spdlog::info("{} failed jobs queued again", retried);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* HarmonizationService::GetQueueStatus(
    grpc::CallbackServerContext* context, const v1::GetQueueStatusRequest*,
    v1::GetQueueStatusResponse* response) {
  return Serve(context, "/tributary.v1.Harmonization/GetQueueStatus", "",
               [this, response]() -> absl::Status {
                 TRIB_ASSIGN_OR_RETURN(provenance::JobCounts counts, repository_.CountJobs());
                 TRIB_ASSIGN_OR_RETURN(bool idle, repository_.QueueIdle());
                 response->set_queued(counts.queued);
                 response->set_running(counts.running);
                 response->set_done(counts.done);
                 response->set_failed(counts.failed);
                 response->set_idle(idle);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* HarmonizationService::ListSeries(grpc::CallbackServerContext* context,
                                                           const v1::ListSeriesRequest* request,
                                                           v1::ListSeriesResponse* response) {
  return Serve(context, "/tributary.v1.Harmonization/ListSeries",
               request->study_id() != 0 ? "study=" + std::to_string(request->study_id()) : "",
               [this, request, response]() -> absl::Status {
                 provenance::SeriesFilter filter;
                 filter.study_id = request->study_id();
                 filter.centre = request->centre();
                 filter.modality = request->modality();
                 filter.limit = Limit(request->limit(), 1000);
                 TRIB_ASSIGN_OR_RETURN(auto series, repository_.ListSeries(filter));
                 for (const auto& s : series) ToProto(s, response->add_series());
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* HarmonizationService::GetSeries(grpc::CallbackServerContext* context,
                                                          const v1::GetSeriesRequest* request,
                                                          v1::GetSeriesResponse* response) {
  return Serve(
      context, "/tributary.v1.Harmonization/GetSeries", "series=" + std::to_string(request->id()),
      [this, request, response]() -> absl::Status {
        if (request->id() <= 0) return absl::InvalidArgumentError("id: a series id");
        provenance::SeriesFilter filter;
        filter.series_id = request->id();
        filter.limit = 1;
        TRIB_ASSIGN_OR_RETURN(auto series, repository_.ListSeries(filter));
        if (series.empty())
          return absl::NotFoundError("no series " + std::to_string(request->id()));
        ToProto(series.front(), response->mutable_series());
        TRIB_ASSIGN_OR_RETURN(auto derivations, repository_.ListDerivations(request->id()));
        TRIB_ASSIGN_OR_RETURN(auto names, RecipeNames(repository_));
        for (const auto& d : derivations) {
          v1::Derivation* out = response->add_derivations();
          out->set_id(d.id);
          out->set_job_id(d.job_id);
          out->set_recipe_sha256(d.recipe_sha256);
          out->set_recipe_name(names[d.recipe_sha256]);
          out->set_model_sha256(d.model_sha256);
          for (const auto& input : d.input_blob_sha256s) out->add_input_blob_sha256(input);
          for (const auto& o : d.outputs) {
            v1::DerivationOutput* file = out->add_outputs();
            file->set_role(o.role);
            file->set_name(o.name);
            file->set_blob_sha256(o.blob_sha256);
            file->set_size(o.size);
          }
          out->set_qc_metrics_json(d.qc_metrics_json);
          out->set_software_versions_json(d.software_versions_json);
          out->set_timings_json(d.timings_json);
          out->set_worker(d.worker);
          out->set_created_at(d.created_at);
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* HarmonizationService::ListRecipes(grpc::CallbackServerContext* context,
                                                            const v1::ListRecipesRequest*,
                                                            v1::ListRecipesResponse* response) {
  return Serve(context, "/tributary.v1.Harmonization/ListRecipes", "",
               [this, response]() -> absl::Status {
                 TRIB_ASSIGN_OR_RETURN(auto recipes, repository_.ListRecipes());
                 for (const auto& r : recipes) ToProto(r, false, response->add_recipes());
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* HarmonizationService::GetRecipe(grpc::CallbackServerContext* context,
                                                          const v1::GetRecipeRequest* request,
                                                          v1::GetRecipeResponse* response) {
  return Serve(context, "/tributary.v1.Harmonization/GetRecipe",
               "recipe=" + request->name_or_sha256().substr(0, 64),
               [this, request, response]() -> absl::Status {
                 TRIB_ASSIGN_OR_RETURN(auto recipe,
                                       operations_.ResolveRecipe(request->name_or_sha256()));
                 ToProto(recipe, true, response->mutable_recipe());
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* HarmonizationService::AddRecipe(grpc::CallbackServerContext* context,
                                                          const v1::AddRecipeRequest* request,
                                                          v1::AddRecipeResponse* response) {
  return Serve(context, "/tributary.v1.Harmonization/AddRecipe", "",
               [this, request, response]() -> absl::Status {
                 if (request->json().size() > (1 << 20))
                   return absl::InvalidArgumentError("a recipe document of more than 1 MiB");
                 TRIB_ASSIGN_OR_RETURN(auto recipe, operations_.AddRecipe(request->json()));
                 ToProto(recipe, true, response->mutable_recipe());
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* HarmonizationService::AssignRecipe(grpc::CallbackServerContext* context,
                                                             const v1::AssignRecipeRequest* request,
                                                             v1::AssignRecipeResponse* response) {
  return Serve(
      context, "/tributary.v1.Harmonization/AssignRecipe",
      "recipe=" + request->recipe().substr(0, 64), [this, request, response]() -> absl::Status {
        TRIB_ASSIGN_OR_RETURN(
            auto recipe,
            operations_.AssignRecipe(request->centre(), request->modality(), request->recipe()));
        ToProto(recipe, false, response->mutable_recipe());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* HarmonizationService::AddModel(grpc::CallbackServerContext* context,
                                                         const v1::AddModelRequest* request,
                                                         v1::AddModelResponse* response) {
  return Serve(context, "/tributary.v1.Harmonization/AddModel", "",
               [this, request, response]() -> absl::Status {
                 if (request->json().size() > (16 << 20))
                   return absl::InvalidArgumentError("a model document of more than 16 MiB");
                 TRIB_ASSIGN_OR_RETURN(auto model, operations_.AddModel(request->json()));
                 response->set_sha256(model.sha256);
                 response->set_method(model.method);
                 response->set_recipe_sha256(model.recipe_sha256);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* HarmonizationService::Reprocess(grpc::CallbackServerContext* context,
                                                          const v1::ReprocessRequest* request,
                                                          v1::ReprocessResponse* response) {
  return Serve(
      context, "/tributary.v1.Harmonization/Reprocess", "recipe=" + request->recipe().substr(0, 64),
      [this, request, response]() -> absl::Status {
        ReprocessTarget target;
        switch (request->target_case()) {
          case v1::ReprocessRequest::kSeriesId:
            target.series_id = request->series_id();
            break;
          case v1::ReprocessRequest::kStudyId:
            target.study_id = request->study_id();
            break;
          case v1::ReprocessRequest::kCentre:
            target.centre = request->centre();
            break;
          case v1::ReprocessRequest::TARGET_NOT_SET:
            return absl::InvalidArgumentError("target: a series, a study or a centre");
        }
        TRIB_ASSIGN_OR_RETURN(
            auto result, operations_.Reprocess(request->recipe(), request->model_sha256(), target));
        response->set_series_count(result.series_count);
        for (std::int64_t id : result.job_ids) response->add_job_ids(id);
        return absl::OkStatus();
      });
}

grpc::ServerWriteReactor<v1::BlobChunk>* HarmonizationService::GetBlob(
    grpc::CallbackServerContext* context, const v1::GetBlobRequest* request) {
  return new BlobReactor(*this, context, request);
}

}  // namespace tributary::services
