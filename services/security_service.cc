#include "services/security_service.h"

#include <spdlog/spdlog.h>

#include "services/serve_unary.h"
#include "services/tokens.h"

namespace tributary::services {
namespace {

constexpr std::string_view kCreateToken = "/tributary.v1.Security/CreateToken";
constexpr std::string_view kListTokens = "/tributary.v1.Security/ListTokens";
constexpr std::string_view kRevokeToken = "/tributary.v1.Security/RevokeToken";
constexpr std::string_view kListAudit = "/tributary.v1.Security/ListAudit";

void ToProto(const provenance::TokenInfo& t, v1::Token* out) {
  out->set_id(t.id);
  out->set_role(provenance::RoleName(t.role));
  out->set_centre(t.centre);
  out->set_name(t.name);
  out->set_created_at(t.created_at);
  out->set_expires_at(t.expires_at);
  out->set_revoked_at(t.revoked_at);
  out->set_created_by(t.created_by);
}

std::optional<provenance::Role> RoleFromName(const std::string& name) {
  if (name == "uploader") return provenance::Role::kUploader;
  if (name == "researcher") return provenance::Role::kResearcher;
  if (name == "operator") return provenance::Role::kOperator;
  return std::nullopt;
}

}  // namespace

template <typename Body>
grpc::ServerUnaryReactor* SecurityService::Serve(grpc::CallbackServerContext* context,
                                                 std::string_view method, std::string object,
                                                 Body body) {
  return ServeUnary(authenticator_, pool_, context, method, std::move(object), body);
}

grpc::ServerUnaryReactor* SecurityService::CreateToken(grpc::CallbackServerContext* context,
                                                       const v1::CreateTokenRequest* request,
                                                       v1::CreateTokenResponse* response) {
  return Serve(context, kCreateToken, "role=" + request->role().substr(0, 16),
               [this, request, response](const provenance::Principal& principal) -> absl::Status {
                 std::optional<provenance::Role> role = RoleFromName(request->role());
                 if (!role)
                   return absl::InvalidArgumentError("role: uploader, researcher or operator");
                 if (request->name().size() > 200)
                   return absl::InvalidArgumentError("name: at most 200 characters");
                 provenance::NewToken token;
                 token.role = *role;
                 token.centre = request->centre();
                 token.name = request->name();
                 token.expires_in_seconds = request->expires_in_seconds();
                 token.created_by = principal.token_id;
                 std::string secret = NewToken();
                 token.token_sha256 = TokenDigest(secret);
                 TRIB_ASSIGN_OR_RETURN(provenance::TokenInfo created,
                                       repository_.CreateToken(token));
                 ToProto(created, response->mutable_token());
                 response->set_secret(secret);
                 spdlog::info("token {} created ({}{}) by token {}", created.id, request->role(),
                              created.centre.empty() ? "" : ", centre " + created.centre,
                              principal.token_id);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* SecurityService::ListTokens(grpc::CallbackServerContext* context,
                                                      const v1::ListTokensRequest*,
                                                      v1::ListTokensResponse* response) {
  return Serve(context, kListTokens, "",
               [this, response](const provenance::Principal&) -> absl::Status {
                 TRIB_ASSIGN_OR_RETURN(auto tokens, repository_.ListTokens());
                 for (const auto& t : tokens) ToProto(t, response->add_tokens());
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* SecurityService::RevokeToken(grpc::CallbackServerContext* context,
                                                       const v1::RevokeTokenRequest* request,
                                                       v1::RevokeTokenResponse* response) {
  return Serve(context, kRevokeToken, "token=" + std::to_string(request->id()),
               [this, request, response](const provenance::Principal& principal) -> absl::Status {
                 TRIB_ASSIGN_OR_RETURN(auto token, repository_.RevokeToken(request->id()));
                 authenticator_.Forget(token.id);
                 ToProto(token, response->mutable_token());
                 spdlog::info("token {} revoked by token {}", token.id, principal.token_id);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* SecurityService::ListAudit(grpc::CallbackServerContext* context,
                                                     const v1::ListAuditRequest* request,
                                                     v1::ListAuditResponse* response) {
  return Serve(context, kListAudit, "",
               [this, request, response](const provenance::Principal&) -> absl::Status {
                 provenance::AuditFilter filter;
                 filter.since = request->since();
                 filter.token_id = request->token_id();
                 filter.rpc = request->rpc();
                 filter.limit = request->limit() <= 0 ? 1000 : std::min(request->limit(), 100000);
                 TRIB_ASSIGN_OR_RETURN(auto entries, repository_.ListAudit(filter));
                 for (const auto& e : entries) {
                   v1::AuditEntry* out = response->add_entries();
                   out->set_id(e.id);
                   out->set_at(e.at);
                   out->set_token_id(e.token_id);
                   out->set_role(e.role);
                   out->set_centre(e.centre);
                   out->set_rpc(e.rpc);
                   out->set_object(e.object);
                   out->set_outcome(e.outcome);
                   out->set_peer(e.peer);
                 }
                 return absl::OkStatus();
               });
}

}  // namespace tributary::services
