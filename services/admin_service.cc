#include "services/admin_service.h"

#include <spdlog/spdlog.h>

#include <regex>

#include "services/grpc_status.h"
#include "services/serve_unary.h"
#include "services/tokens.h"

namespace tributary::services {
namespace {

void ToProto(const provenance::StudySummary& s, v1::Study* out) {
  out->set_id(s.id);
  out->set_centre(s.centre);
  out->set_patient_pseudonym(s.patient_pseudonym);
  out->set_study_instance_uid(s.study_uid);
  out->set_series_count(s.series_count);
  out->set_instance_count(s.instance_count);
  out->set_bytes(s.bytes);
  out->set_first_received_at(s.first_received_at);
  out->set_completed_at(s.completed_at);
  out->set_expected_instance_count(static_cast<std::uint32_t>(s.expected_instance_count));
}

void ToProto(const provenance::CentreSummary& c, v1::Centre* out) {
  out->set_id(c.id);
  out->set_name(c.name);
  out->set_created_at(c.created_at);
  out->set_study_count(c.study_count);
  out->set_instance_count(c.instance_count);
  out->mutable_policy()->set_accept_burned_in_annotation(c.policy.accept_burned_in_annotation);
  out->set_policy_changed_at(c.policy_changed_at);
}

}  // namespace

template <typename Body>
grpc::ServerUnaryReactor* AdminService::Serve(grpc::CallbackServerContext* context,
                                              std::string_view method, std::string object,
                                              Body body) {
  return ServeUnary(authenticator_, pool_, context, method, std::move(object), body);
}

grpc::ServerUnaryReactor* AdminService::AddCentre(grpc::CallbackServerContext* context,
                                                  const v1::AddCentreRequest* request,
                                                  v1::AddCentreResponse* response) {
  return Serve(context, "/tributary.v1.Admin/AddCentre", "centre=" + request->name().substr(0, 64),
               [this, request, response](const provenance::Principal&) -> absl::Status {
                 static const std::regex kName("[A-Za-z0-9._-]{1,64}");
                 if (!std::regex_match(request->name(), kName)) {
                   return absl::InvalidArgumentError(
                       "centre names are 1-64 characters of A-Z a-z 0-9 . _ -");
                 }
                 std::string token = NewToken();
                 TRIB_ASSIGN_OR_RETURN(provenance::CentreSummary centre,
                                       repository_.AddCentre(request->name(), TokenDigest(token)));
                 ToProto(centre, response->mutable_centre());
                 response->set_upload_token(token);
                 spdlog::info("centre {} added (id {})", centre.name, centre.id);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* AdminService::ListCentres(grpc::CallbackServerContext* context,
                                                    const v1::ListCentresRequest*,
                                                    v1::ListCentresResponse* response) {
  return Serve(context, "/tributary.v1.Admin/ListCentres", "",
               [this, response](const provenance::Principal&) -> absl::Status {
                 TRIB_ASSIGN_OR_RETURN(auto centres, repository_.ListCentres());
                 for (const auto& c : centres) ToProto(c, response->add_centres());
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* AdminService::SetCentrePolicy(grpc::CallbackServerContext* context,
                                                        const v1::SetCentrePolicyRequest* request,
                                                        v1::SetCentrePolicyResponse* response) {
  const bool accept = request->policy().accept_burned_in_annotation();
  return Serve(context, "/tributary.v1.Admin/SetCentrePolicy",
               "centre=" + request->centre().substr(0, 64) +
                   " accept_burned_in_annotation=" + (accept ? "true" : "false"),
               [this, request, response, accept](const provenance::Principal&) -> absl::Status {
                 if (request->centre().empty())
                   return absl::InvalidArgumentError("no centre named");
                 provenance::CentrePolicy policy;
                 policy.accept_burned_in_annotation = accept;
                 TRIB_ASSIGN_OR_RETURN(provenance::CentreSummary centre,
                                       repository_.SetCentrePolicy(request->centre(), policy));
                 ToProto(centre, response->mutable_centre());
                 spdlog::info("centre {} policy: accept burned-in annotation {}", centre.name,
                              accept ? "on" : "off");
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* AdminService::ListStudies(grpc::CallbackServerContext* context,
                                                    const v1::ListStudiesRequest* request,
                                                    v1::ListStudiesResponse* response) {
  return Serve(context, "/tributary.v1.Admin/ListStudies",
               request->centre().empty() ? "" : "centre=" + request->centre().substr(0, 64),
               [this, request, response](const provenance::Principal& principal) -> absl::Status {
                 int limit = request->limit() <= 0 ? 100 : std::min(request->limit(), 10000);
                 TRIB_ASSIGN_OR_RETURN(
                     auto studies, repository_.ListStudies(principal, request->centre(), limit));
                 for (const auto& s : studies) ToProto(s, response->add_studies());
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* AdminService::GetStudy(grpc::CallbackServerContext* context,
                                                 const v1::GetStudyRequest* request,
                                                 v1::GetStudyResponse* response) {
  return Serve(context, "/tributary.v1.Admin/GetStudy", "study=" + std::to_string(request->id()),
               [this, request, response](const provenance::Principal& principal) -> absl::Status {
                 TRIB_ASSIGN_OR_RETURN(auto study, repository_.GetStudy(principal, request->id()));
                 ToProto(study.first, response->mutable_study());
                 for (const auto& s : study.second) {
                   v1::Series* out = response->add_series();
                   out->set_series_instance_uid(s.series_uid);
                   out->set_modality(s.modality);
                   out->set_instance_count(s.instance_count);
                   out->set_bytes(s.bytes);
                 }
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* AdminService::ListCrossCentreDuplicates(
    grpc::CallbackServerContext* context, const v1::ListCrossCentreDuplicatesRequest* request,
    v1::ListCrossCentreDuplicatesResponse* response) {
  return Serve(context, "/tributary.v1.Admin/ListCrossCentreDuplicates", "",
               [this, request, response](const provenance::Principal&) -> absl::Status {
                 int limit = request->limit() <= 0 ? 1000 : std::min(request->limit(), 10000);
                 TRIB_ASSIGN_OR_RETURN(auto duplicates, repository_.CrossCentreDuplicates(limit));
                 for (const auto& d : duplicates) {
                   v1::CrossCentreDuplicate* out = response->add_duplicates();
                   ToProto(d.study, out->mutable_study());
                   for (const auto& link : d.also_sent_as) {
                     v1::DuplicateLink* other = out->add_also_sent_as();
                     other->set_study_id(link.study_id);
                     other->set_centre(link.centre);
                     other->set_study_instance_uid(link.study_uid);
                     other->set_shared_instance_count(link.shared_instance_count);
                   }
                 }
                 return absl::OkStatus();
               });
}

}  // namespace tributary::services
