#include "services/cohort_service.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "common/hash.h"
#include "common/version.h"
#include "services/cohort_query.h"
#include "services/grpc_status.h"
#include "services/serve_unary.h"

namespace tributary::services {
namespace {

constexpr std::size_t kChunkBytes = 1 << 20;

void ToProto(const provenance::HarmonizedVolume& v, v1::HarmonizedVolume* out) {
  out->set_derivation_id(v.derivation_id);
  out->set_stem(v.stem);
  out->set_series_id(v.series_id);
  out->set_series_instance_uid(v.series_uid);
  out->set_study_id(v.study_id);
  out->set_study_instance_uid(v.study_uid);
  out->set_centre(v.centre);
  out->set_patient_pseudonym(v.patient_pseudonym);
  out->set_modality(v.modality);
  out->set_recipe_name(v.recipe_name);
  out->set_recipe_sha256(v.recipe_sha256);
  out->set_model_sha256(v.model_sha256);
  out->set_body_part(v.body_part);
  out->set_patient_sex(v.patient_sex);
  out->set_patient_age_years(v.patient_age_years);
  out->set_study_date(v.study_date);
  for (double s : v.spacing) out->add_spacing(s);
  for (std::int64_t n : v.size) out->add_size(n);
  out->set_qc_metrics_json(v.qc_json);
  out->set_created_at(v.created_at);
}

void ToProto(const provenance::CohortSummary& c, v1::Cohort* out) {
  out->set_id(c.id);
  out->set_name(c.name);
  out->set_created_at(c.created_at);
  out->set_created_by_token_id(c.created_by_token_id);
  nlohmann::json query = nlohmann::json::parse(c.query_json, nullptr, false);
  if (query.is_object()) {
    for (const auto& f : query.value("filters", nlohmann::json::array())) {
      v1::Filter* filter = out->mutable_query()->add_filters();
      filter->set_key(f.value("key", ""));
      filter->set_value(f.value("value", ""));
    }
    out->mutable_query()->set_exclude_duplicates(query.value("exclude_duplicates", false));
  }
  out->set_volume_count(c.volume_count);
  out->set_subject_count(c.subject_count);
  out->set_centre_count(c.centre_count);
  out->set_file_count(c.file_count);
  out->set_bytes(c.bytes);
}

bool IsSha256Hex(const std::string& text) { return IngestPipeline::IsSha256Hex(text); }

absl::StatusOr<std::int64_t> ParseId(const std::string& text, const std::string& what) {
  static const std::regex kId("[1-9][0-9]{0,17}");
  if (!std::regex_match(text, kId)) return absl::InvalidArgumentError(what + " is not an id");
  return std::stoll(text);
}

}  // namespace

template <typename Body>
grpc::ServerUnaryReactor* CohortService::Serve(grpc::CallbackServerContext* context,
                                               std::string_view method, std::string object,
                                               Body body) {
  return ServeUnary(authenticator_, pool_, context, method, std::move(object), body);
}

grpc::ServerUnaryReactor* CohortService::QueryVolumes(grpc::CallbackServerContext* context,
                                                      const v1::QueryVolumesRequest* request,
                                                      v1::QueryVolumesResponse* response) {
  return Serve(
      context, "/tributary.v1.Cohorts/QueryVolumes", "",
      [this, request, response](const provenance::Principal&) -> absl::Status {
        TRIB_ASSIGN_OR_RETURN(provenance::VolumeQuery query, ParseVolumeQuery(request->query()));
        provenance::VolumeCursor after;
        if (!request->page_token().empty()) {
          TRIB_ASSIGN_OR_RETURN(after, ParsePageToken(request->page_token()));
        }
        int size = request->page_size() <= 0 ? 100 : std::min(request->page_size(), 1000);
        // One more than a page tells whether another page follows.
        TRIB_ASSIGN_OR_RETURN(auto volumes, repository_.QueryVolumes(query, after, size + 1));
        bool more = static_cast<int>(volumes.size()) > size;
        if (more) volumes.resize(size);
        for (const auto& v : volumes) ToProto(v, response->add_volumes());
        if (more)
          response->set_next_page_token(
              PageToken({volumes.back().derivation_id, volumes.back().stem}));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* CohortService::CreateCohort(grpc::CallbackServerContext* context,
                                                      const v1::CreateCohortRequest* request,
                                                      v1::CreateCohortResponse* response) {
  return Serve(
      context, "/tributary.v1.Cohorts/CreateCohort", "name=" + request->name().substr(0, 64),
      [this, request, response](const provenance::Principal& principal) -> absl::Status {
        static const std::regex kName("[A-Za-z0-9._ -]{1,64}");
        if (!std::regex_match(request->name(), kName) || request->name().front() == ' ' ||
            request->name().back() == ' ') {
          return absl::InvalidArgumentError(
              "cohort names are 1-64 characters of A-Z a-z 0-9 . _ - and inner spaces");
        }
        TRIB_ASSIGN_OR_RETURN(provenance::VolumeQuery query, ParseVolumeQuery(request->query()));
        TRIB_ASSIGN_OR_RETURN(
            provenance::CohortSummary cohort,
            snapshot_.Create(request->name(), query, VolumeQueryJson(request->query()),
                             principal.token_id));
        ToProto(cohort, response->mutable_cohort());
        spdlog::info("cohort {} created: {} volumes, {} files, {} bytes", cohort.id,
                     cohort.volume_count, cohort.file_count, cohort.bytes);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* CohortService::ListCohorts(grpc::CallbackServerContext* context,
                                                     const v1::ListCohortsRequest*,
                                                     v1::ListCohortsResponse* response) {
  return Serve(context, "/tributary.v1.Cohorts/ListCohorts", "",
               [this, response](const provenance::Principal&) -> absl::Status {
                 TRIB_ASSIGN_OR_RETURN(auto cohorts, repository_.ListCohorts());
                 for (const auto& c : cohorts) ToProto(c, response->add_cohorts());
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* CohortService::GetCohort(grpc::CallbackServerContext* context,
                                                   const v1::GetCohortRequest* request,
                                                   v1::GetCohortResponse* response) {
  return Serve(context, "/tributary.v1.Cohorts/GetCohort",
               "cohort=" + std::to_string(request->id()),
               [this, request, response](const provenance::Principal&) -> absl::Status {
                 TRIB_ASSIGN_OR_RETURN(auto cohort, repository_.GetCohort(request->id()));
                 TRIB_ASSIGN_OR_RETURN(auto members, repository_.CohortVolumes(request->id()));
                 TRIB_ASSIGN_OR_RETURN(auto volumes, repository_.DescribeVolumes(members));
                 TRIB_ASSIGN_OR_RETURN(auto files, repository_.CohortFiles(request->id()));
                 ToProto(cohort, response->mutable_cohort());
                 for (const auto& v : volumes) ToProto(v, response->add_volumes());
                 for (const auto& f : files) {
                   v1::CohortFile* out = response->add_files();
                   out->set_path(f.path);
                   out->set_sha256(f.blob_sha256);
                   out->set_size(f.size);
                 }
                 return absl::OkStatus();
               });
}

absl::StatusOr<provenance::ProvDocument> CohortService::Provenance(
    const provenance::Principal& principal, const std::string& id) {
  std::size_t colon = id.find(':');
  if (colon == std::string::npos)
    return absl::InvalidArgumentError(
        "name what to trace: sha256:<hex>, series:<id>, derivation:<id> or cohort:<id>");
  const std::string kind = id.substr(0, colon), value = id.substr(colon + 1);
  if (kind == "cohort") {
    TRIB_ASSIGN_OR_RETURN(std::int64_t cohort_id, ParseId(value, "cohort"));
    TRIB_ASSIGN_OR_RETURN(auto cohort, repository_.GetCohort(cohort_id));
    TRIB_ASSIGN_OR_RETURN(auto members, repository_.CohortVolumes(cohort_id));
    std::set<std::int64_t> ids;
    for (const auto& m : members) ids.insert(m.derivation_id);
    TRIB_ASSIGN_OR_RETURN(auto lineage, repository_.LineageOf({ids.begin(), ids.end()}));
    provenance::CohortExport exported;
    exported.id = cohort.id;
    exported.name = cohort.name;
    exported.created_at = cohort.created_at;
    exported.created_by_token_id = cohort.created_by_token_id;
    TRIB_ASSIGN_OR_RETURN(exported.files, repository_.CohortFiles(cohort_id));
    return provenance::BuildProvDocument(lineage, kVersion, &exported);
  }
  std::vector<std::int64_t> derivations;
  if (kind == "derivation") {
    TRIB_ASSIGN_OR_RETURN(std::int64_t d, ParseId(value, "derivation"));
    derivations.push_back(d);
  } else if (kind == "series") {
    TRIB_ASSIGN_OR_RETURN(std::int64_t series, ParseId(value, "series"));
    TRIB_ASSIGN_OR_RETURN(derivations, repository_.DerivationsOfSeries(series));
    if (derivations.empty())
      return absl::NotFoundError("series " + value + " has no derivation (or does not exist)");
  } else if (kind == "sha256") {
    if (!IsSha256Hex(value)) return absl::InvalidArgumentError("sha256: takes 64 lowercase hex");
    TRIB_ASSIGN_OR_RETURN(derivations, repository_.DerivationsWriting(value));
    if (derivations.empty()) {
      // A stored instance by its blob; an operator may also name an uploaded original by its
      // plain SHA-256 (kept only keyed).
      std::string keyed =
          principal.role == provenance::Role::kOperator ? pipeline_.KeyedDigest(value) : "";
      TRIB_ASSIGN_OR_RETURN(auto lineage, repository_.LineageOfInstance(value, keyed));
      if (lineage.instances.empty())
        return absl::NotFoundError("no derived file, stored instance or upload has SHA-256 " +
                                   value);
      return provenance::BuildProvDocument(lineage, kVersion);
    }
  } else {
    return absl::InvalidArgumentError("unknown kind '" + kind +
                                      "': sha256, series, derivation or cohort");
  }
  TRIB_ASSIGN_OR_RETURN(auto lineage, repository_.LineageOf(derivations));
  if (lineage.derivations.empty()) return absl::NotFoundError("no derivation " + value);
  return provenance::BuildProvDocument(lineage, kVersion);
}

grpc::ServerUnaryReactor* CohortService::GetProvenance(grpc::CallbackServerContext* context,
                                                       const v1::GetProvenanceRequest* request,
                                                       v1::GetProvenanceResponse* response) {
  return Serve(context, "/tributary.v1.Cohorts/GetProvenance", request->id().substr(0, 80),
               [this, request, response](const provenance::Principal& principal) -> absl::Status {
                 TRIB_ASSIGN_OR_RETURN(auto document, Provenance(principal, request->id()));
                 response->set_prov_json(document.json);
                 response->set_summary(document.summary);
                 return absl::OkStatus();
               });
}

// Streams a cohort's files: each file's header with its first chunk, then up to 1 MiB per chunk,
// read from the blob store as it goes (memory stays one chunk whatever the cohort's size). The
// client checks every file against its size and SHA-256 (the export's guarantee); here only the
// size is checked, since hashing every byte a second time halved the export's rate (the "Cohort
// export" benchmark): a blob that is short or long ends the stream DATA_LOSS, one whose bytes
// changed is refused by the client, naming the file.
class ExportReactor final : public grpc::ServerWriteReactor<v1::ExportChunk> {
 public:
  ExportReactor(CohortService& service, grpc::CallbackServerContext* context,
                const v1::ExportCohortRequest* request)
      : service_(service) {
    service.pool_.Submit([this, context, request] {
      constexpr std::string_view kMethod = "/tributary.v1.Cohorts/ExportCohort";
      provenance::Principal principal;
      absl::Status status = service_.authenticator_.Authorize(*context, kMethod, principal);
      if (status.ok()) status = Load(*request);
      grpc::Status wire = service_.authenticator_.Conclude(
          *context, kMethod, principal,
          "cohort=" + std::to_string(request->id()) + " files=" + std::to_string(files_.size()) +
              " skipped=" + std::to_string(request->skip_paths_size()),
          status);
      std::lock_guard lock(mutex_);
      if (!status.ok()) {
        Finish(wire);
        return;
      }
      NextLocked();
    });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    NextLocked();
  }

  void OnDone() override { delete this; }

 private:
  absl::Status Load(const v1::ExportCohortRequest& request) {
    TRIB_RETURN_IF_ERROR(service_.repository_.GetCohort(request.id()).status());
    TRIB_ASSIGN_OR_RETURN(auto files, service_.repository_.CohortFiles(request.id()));
    std::set<std::string> skip(request.skip_paths().begin(), request.skip_paths().end());
    for (auto& f : files) {
      if (skip.count(f.path) == 0) files_.push_back(std::move(f));
    }
    return absl::OkStatus();
  }

  // The next chunk: more of the current file, or the start of the next one, or the end.
  void NextLocked() {
    chunk_.Clear();
    if (!in_) {
      if (next_ >= files_.size()) {
        Finish(grpc::Status::OK);
        return;
      }
      const auto& f = files_[next_];
      auto reader = service_.blobs_.OpenReader(f.blob_sha256);
      if (!reader.ok()) {
        Finish(ToGrpcStatus(absl::Status(
            reader.status().code() == absl::StatusCode::kNotFound ? absl::StatusCode::kDataLoss
                                                                  : reader.status().code(),
            "the blob of " + f.path + ": " + std::string(reader.status().message()))));
        return;
      }
      in_ = std::move(*reader);
      sent_ = 0;
      chunk_.mutable_file()->set_path(f.path);
      chunk_.mutable_file()->set_sha256(f.blob_sha256);
      chunk_.mutable_file()->set_size(f.size);
    }
    const auto& f = files_[next_];
    // Read straight into the message (Clear() keeps the string's capacity): no copy here.
    std::string& data = *chunk_.mutable_data();
    data.resize(kChunkBytes);
    absl::StatusOr<std::size_t> read = in_->Read(data.data(), data.size());
    if (!read.ok()) {
      Finish(ToGrpcStatus(read.status()));
      return;
    }
    std::size_t n = *read;
    data.resize(n);
    sent_ += n;
    if (n == 0 || sent_ >= static_cast<std::uint64_t>(f.size)) {
      in_.reset();
      ++next_;
      if (sent_ != static_cast<std::uint64_t>(f.size)) {
        spdlog::error("export: the blob of {} does not have its recorded size", f.path);
        Finish(grpc::Status(grpc::StatusCode::DATA_LOSS,
                            "the stored copy of " + f.path + " does not have its recorded size"));
        return;
      }
    }
    service_.metrics_.AddExportBytes(n);
    StartWrite(&chunk_);
  }

  CohortService& service_;
  std::mutex mutex_;
  std::vector<provenance::CohortFileRecord> files_;
  std::size_t next_ = 0;
  std::unique_ptr<storage::BlobReader> in_;
  std::uint64_t sent_ = 0;
  v1::ExportChunk chunk_;
};

grpc::ServerWriteReactor<v1::ExportChunk>* CohortService::ExportCohort(
    grpc::CallbackServerContext* context, const v1::ExportCohortRequest* request) {
  return new ExportReactor(*this, context, request);
}

}  // namespace tributary::services
