#include "cli/security_commands.h"

#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>

#include "cli/client.h"
#include "cli/remote_commands.h"
#include "tributary/v1/security.grpc.pb.h"

namespace tributary::cli {
namespace {

constexpr std::chrono::seconds kDeadline{30};

template <typename Call>
int Invoke(const std::string& name, const ClientOptions& options, Call call) {
  auto stub = v1::Security::NewStub(MakeChannel(options));
  grpc::ClientContext context;
  PrepareContext(context, options, kDeadline);
  grpc::Status status = call(*stub, context);
  return status.ok() ? 0 : ReportRpcError(name, status);
}

// "90s", "30m", "12h", "90d", "2w" (a bare number is seconds) -> seconds.
std::optional<std::int64_t> ParseDuration(const std::string& text) {
  static const std::regex kDuration("([0-9]{1,9})(s|m|h|d|w)?");
  std::smatch match;
  if (!std::regex_match(text, match, kDuration)) return std::nullopt;
  std::int64_t n = std::stoll(match[1].str());
  const std::string unit = match[2].str();
  if (unit == "m") return n * 60;
  if (unit == "h") return n * 3600;
  if (unit == "d") return n * 86400;
  if (unit == "w") return n * 7 * 86400;
  return n;
}

nlohmann::json TokenJson(const v1::Token& t) {
  return {{"id", t.id()},
          {"role", t.role()},
          {"centre", t.centre()},
          {"name", t.name()},
          {"created_at", t.created_at()},
          {"expires_at", t.expires_at()},
          {"revoked_at", t.revoked_at()},
          {"created_by", t.created_by()}};
}

void PrintTokens(const std::vector<v1::Token>& tokens) {
  std::cout << std::left << std::setw(6) << "ID" << std::setw(12) << "ROLE" << std::setw(20)
            << "CENTRE" << std::setw(24) << "NAME" << std::setw(22) << "CREATED" << std::setw(22)
            << "EXPIRES"
            << "REVOKED\n";
  for (const auto& t : tokens) {
    std::cout << std::setw(6) << t.id() << std::setw(12) << t.role() << std::setw(20)
              << (t.centre().empty() ? "-" : t.centre()) << std::setw(24)
              << (t.name().empty() ? "-" : t.name()) << std::setw(22) << t.created_at()
              << std::setw(22) << (t.expires_at().empty() ? "never" : t.expires_at())
              << (t.revoked_at().empty() ? "no" : t.revoked_at()) << "\n";
  }
}

void AddTokenCommands(CLI::App& app, int& exit_code) {
  CLI::App* tokens = app.add_subcommand("tokens", RemoteCommandDescription("tokens"));
  tokens->require_subcommand(1);

  struct Create {
    ClientOptions client;
    std::string role;
    std::string centre;
    std::string name;
    std::string expires;
  };
  auto create = std::make_shared<Create>();
  CLI::App* create_command = tokens->add_subcommand(
      "create", "Create a token; prints its secret alone on the last line (shown once)");
  create_command->add_option("--role", create->role, "uploader, researcher or operator")
      ->required()
      ->check(CLI::IsMember({"uploader", "researcher", "operator"}));
  create_command->add_option("--centre", create->centre,
                             "The centre an uploader token uploads for (uploaders only)");
  create_command->add_option("--name", create->name, "A name to recognise it by in listings");
  create_command->add_option("--expires", create->expires,
                             "Valid for this long: 3600s, 30m, 12h, 90d, 2w (default: never)");
  AddClientOptions(*create_command, create->client);
  create_command->callback([create, &exit_code] {
    std::int64_t seconds = 0;
    if (!create->expires.empty()) {
      auto parsed = ParseDuration(create->expires);
      if (!parsed || *parsed == 0) {
        std::cerr << "tributary tokens create: --expires: a duration such as 12h or 90d, not '"
                  << create->expires << "'\n";
        exit_code = 2;
        return;
      }
      seconds = *parsed;
    }
    exit_code = Invoke("tokens create", create->client,
                       [&](v1::Security::Stub& stub, grpc::ClientContext& context) {
                         v1::CreateTokenRequest request;
                         request.set_role(create->role);
                         request.set_centre(create->centre);
                         request.set_name(create->name);
                         request.set_expires_in_seconds(seconds);
                         v1::CreateTokenResponse response;
                         grpc::Status status = stub.CreateToken(&context, request, &response);
                         if (!status.ok()) return status;
                         if (create->client.json) {
                           nlohmann::json out = TokenJson(response.token());
                           out["secret"] = response.secret();
                           std::cout << out.dump(2) << "\n";
                         } else {
                           std::cout << response.token().role() << " token "
                                     << response.token().id() << " created"
                                     << (response.token().expires_at().empty()
                                             ? ""
                                             : ", expires " + response.token().expires_at())
                                     << ". Its secret, shown this once:\n"
                                     << response.secret() << "\n";
                         }
                         return status;
                       });
  });

  auto list_options = std::make_shared<ClientOptions>();
  CLI::App* list = tokens->add_subcommand("list", "List tokens (never their secrets)");
  AddClientOptions(*list, *list_options);
  list->callback([list_options, &exit_code] {
    exit_code = Invoke(
        "tokens list", *list_options, [&](v1::Security::Stub& stub, grpc::ClientContext& context) {
          v1::ListTokensResponse response;
          grpc::Status status = stub.ListTokens(&context, v1::ListTokensRequest(), &response);
          if (!status.ok()) return status;
          if (list_options->json) {
            nlohmann::json out = nlohmann::json::array();
            for (const auto& t : response.tokens()) out.push_back(TokenJson(t));
            std::cout << out.dump(2) << "\n";
          } else {
            PrintTokens({response.tokens().begin(), response.tokens().end()});
          }
          return status;
        });
  });

  auto revoke_options = std::make_shared<ClientOptions>();
  auto id = std::make_shared<std::int64_t>(0);
  CLI::App* revoke =
      tokens->add_subcommand("revoke", "Revoke a token: its calls get UNAUTHENTICATED from now on");
  revoke->add_option("id", *id, "Token id (from `tokens list`)")->required();
  AddClientOptions(*revoke, *revoke_options);
  revoke->callback([revoke_options, id, &exit_code] {
    exit_code = Invoke("tokens revoke", *revoke_options,
                       [&](v1::Security::Stub& stub, grpc::ClientContext& context) {
                         v1::RevokeTokenRequest request;
                         request.set_id(*id);
                         v1::RevokeTokenResponse response;
                         grpc::Status status = stub.RevokeToken(&context, request, &response);
                         if (!status.ok()) return status;
                         if (revoke_options->json) {
                           std::cout << TokenJson(response.token()).dump(2) << "\n";
                         } else {
                           std::cout << "token " << response.token().id() << " revoked at "
                                     << response.token().revoked_at() << "\n";
                         }
                         return status;
                       });
  });
}

void AddAuditCommands(CLI::App& app, int& exit_code) {
  CLI::App* audit = app.add_subcommand("audit", RemoteCommandDescription("audit"));
  audit->require_subcommand(1);
  struct List {
    ClientOptions client;
    std::string since;
    std::int64_t token = 0;
    std::string rpc;
    int limit = 1000;
  };
  auto list = std::make_shared<List>();
  CLI::App* command = audit->add_subcommand("list", "Audited calls, newest first");
  // Here --token is the token id to filter by: authenticate with --token-file or
  // $TRIBUTARY_TOKEN.
  AddClientOptions(*command, list->client);
  command->remove_option(command->get_option("--token"));
  command->add_option("--since", list->since,
                      "Only calls at or after this time (RFC 3339, e.g. 2024-05-01T08:00:00Z)");
  command->add_option("--token", list->token, "Only calls made with this token id");
  command->add_option("--rpc", list->rpc,
                      "Only this RPC: full name or its last part (GetStudy, Upload)");
  command->add_option("--limit", list->limit, "At most this many entries")->capture_default_str();
  command->callback([list, &exit_code] {
    exit_code = Invoke(
        "audit list", list->client, [&](v1::Security::Stub& stub, grpc::ClientContext& context) {
          v1::ListAuditRequest request;
          request.set_since(list->since);
          request.set_token_id(list->token);
          request.set_rpc(list->rpc);
          request.set_limit(list->limit);
          v1::ListAuditResponse response;
          grpc::Status status = stub.ListAudit(&context, request, &response);
          if (!status.ok()) return status;
          if (list->client.json) {
            nlohmann::json out = nlohmann::json::array();
            for (const auto& e : response.entries()) {
              out.push_back({{"id", e.id()},
                             {"at", e.at()},
                             {"token_id", e.token_id()},
                             {"role", e.role()},
                             {"centre", e.centre()},
                             {"rpc", e.rpc()},
                             {"object", e.object()},
                             {"outcome", e.outcome()},
                             {"peer", e.peer()}});
            }
            std::cout << out.dump(2) << "\n";
            return status;
          }
          std::cout << std::left << std::setw(29) << "AT" << std::setw(7) << "TOKEN"
                    << std::setw(12) << "ROLE" << std::setw(16) << "CENTRE" << std::setw(44)
                    << "RPC" << std::setw(20) << "OUTCOME" << std::setw(24) << "PEER"
                    << "OBJECT\n";
          for (const auto& e : response.entries()) {
            std::cout << std::setw(29) << e.at() << std::setw(7)
                      << (e.token_id() == 0 ? "-" : std::to_string(e.token_id())) << std::setw(12)
                      << (e.role().empty() ? "-" : e.role()) << std::setw(16)
                      << (e.centre().empty() ? "-" : e.centre()) << std::setw(44) << e.rpc()
                      << std::setw(20) << e.outcome() << std::setw(24) << e.peer() << e.object()
                      << "\n";
          }
          return status;
        });
  });
}

}  // namespace

void AddSecurityCommands(CLI::App& app, int& exit_code) {
  AddTokenCommands(app, exit_code);
  AddAuditCommands(app, exit_code);
}

}  // namespace tributary::cli
