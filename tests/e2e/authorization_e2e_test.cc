// The authorization matrix: every RPC of the code's table (services::RpcRoles()), called with no
// token, an expired token, a revoked token, uploaders of two centres, a researcher and an
// operator. Only what the table allows gets past authorization; the rest is UNAUTHENTICATED or
// PERMISSION_DENIED; no message tells an uploader anything of the other centre's data. The table
// is checked against the server's reflection: every method of every tributary.v1 service has a
// rule, and every rule names a served method. Then the audit log, through the CLI.
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "services/rpc_roles.h"
#include "tests/e2e/server_process.h"
#include "tests/unit/synthetic_dicom.h"
#include "tributary/v1/admin.pb.h"
#include "tributary/v1/ingest.pb.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;
using services::RoleBit;
using testing::CommandResult;
using testing::Quote;
using testing::ReadFile;
using testing::ServerProcess;
using testing::Shell;
using testing::WriteFile;

std::string Bytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  for (const auto& slice : slices)
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return bytes;
}

// One call of any kind (unary or streaming) with raw bytes: sends `body` (when not null) as the
// only request message, reads every response, returns the status.
grpc::Status Call(const std::string& address, const std::string& method, const std::string& token,
                  const std::string* body, std::vector<std::string>* responses = nullptr) {
  grpc::GenericStub stub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  auto call = stub.PrepareCall(&context, method, &queue);
  auto step = [&](auto start) {
    start();
    void* tag = nullptr;
    bool ok = false;
    return queue.Next(&tag, &ok) && ok;
  };
  grpc::Status status;
  if (step([&] { call->StartCall(nullptr); })) {
    if (body != nullptr) {
      grpc::Slice slice(*body);
      grpc::ByteBuffer request(&slice, 1);
      step([&] { call->Write(request, nullptr); });
    }
    step([&] { call->WritesDone(nullptr); });
    grpc::ByteBuffer response;
    while (step([&] { call->Read(&response, nullptr); })) {
      if (responses != nullptr) responses->push_back(Bytes(response));
    }
  }
  step([&] { call->Finish(&status, nullptr); });
  return status;
}

// Every method of every tributary.v1 service, from the server's reflection (v1alpha, encoded by
// hand: list_services = field 7, file_containing_symbol = field 4; answers: list_services_response
// = field 6 {service = 1 {name = 1}}, file_descriptor_response = field 4 {file_descriptor_proto =
// 1}).
std::set<std::string> ServedMethods(const std::string& address) {
  auto ask = [&](int field, const std::string& value) {
    std::string request;
    request.push_back(static_cast<char>(field << 3 | 2));
    request.push_back(static_cast<char>(value.size()));
    request += value;
    std::vector<std::string> responses;
    grpc::Status status =
        Call(address, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "",
             &request, &responses);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(responses.size(), 1u);
    return responses.empty() ? std::string() : responses[0];
  };
  // The length-delimited fields `number` of a message.
  auto sub = [](const std::string& message, int number) {
    google::protobuf::UnknownFieldSet set;
    EXPECT_TRUE(set.ParseFromString(message));
    std::vector<std::string> values;
    for (int i = 0; i < set.field_count(); ++i) {
      if (set.field(i).number() == number &&
          set.field(i).type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED)
        values.push_back(set.field(i).length_delimited());
    }
    return values;
  };
  std::set<std::string> methods;
  for (const std::string& list : sub(ask(7, "*"), 6)) {
    for (const std::string& service : sub(list, 1)) {
      for (const std::string& name : sub(service, 1)) {
        if (name.rfind("tributary.v1.", 0) != 0) continue;
        for (const std::string& files : sub(ask(4, name), 4)) {
          for (const std::string& bytes : sub(files, 1)) {
            google::protobuf::FileDescriptorProto file;
            EXPECT_TRUE(file.ParseFromString(bytes));
            for (const auto& s : file.service()) {
              if (file.package() + "." + s.name() != name) continue;
              for (const auto& m : s.method()) methods.insert("/" + name + "/" + m.name());
            }
          }
        }
      }
    }
  }
  return methods;
}

class Authorization : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("trib_authz_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    server_ = std::make_unique<ServerProcess>(
        dir_ / "data", std::vector<std::string>{"--harmonization-workers", "0"});
    ASSERT_TRUE(server_->Start()) << ReadFile(server_->log());
    operator_file_ = server_->data_dir() / "operator.token";
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }
  // A token in a file of its own (0600), as the documentation says to keep them.
  fs::path TokenFile(const std::string& name, const std::string& token) {
    fs::path path = dir_ / (name + ".token");
    WriteFile(path, token + "\n");
    ::chmod(path.c_str(), 0600);
    return path;
  }
  nlohmann::json Json(const std::string& args) {
    CommandResult r = Shell(server_->Cli(args + " --json"), false);
    EXPECT_EQ(r.exit_code, 0) << args << ": " << r.out;
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  nlohmann::json CreateToken(const std::string& args) {
    return Json("tokens create " + args + " --token-file " + Quote(operator_file_));
  }

  fs::path dir_;
  fs::path operator_file_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(Authorization, EveryRpcAnswersOnlyTheRolesItsRuleAllows) {
  // The table and the served API agree, both ways.
  std::set<std::string> table;
  for (const auto& rule : services::RpcRoles()) {
    EXPECT_TRUE(table.insert(std::string(rule.method)).second) << "two rules for " << rule.method;
    EXPECT_NE(rule.roles, 0u) << rule.method << " allows nobody";
  }
  std::set<std::string> served = ServedMethods(server_->address());
  ASSERT_GE(served.size(), 20u);
  for (const auto& method : served) EXPECT_TRUE(table.count(method)) << method << " has no rule";
  for (const auto& method : table) EXPECT_TRUE(served.count(method)) << method << " is not served";

  // Two centres; centre B stores a study.
  std::string token_a = server_->AddCentre("centre-a");
  std::string token_b = server_->AddCentre("centre-b");
  ASSERT_FALSE(token_a.empty());
  ASSERT_FALSE(token_b.empty());
  fs::path file_b = TokenFile("b", token_b);
  for (int i = 0; i < 3; ++i) {
    testing::CtSliceSpec spec;
    spec.patient_id = "PID-B";
    spec.patient_name = "SECRET^PATIENT";
    spec.study_uid = "1.2.826.0.1.3680043.2.1125.77.1";
    spec.series_uid = "1.2.826.0.1.3680043.2.1125.77.2";
    spec.sop_uid = "1.2.826.0.1.3680043.2.1125.77.3." + std::to_string(i);
    spec.slice_position = i;
    WriteFile(dir_ / "in" / ("IM" + std::to_string(i)),
              testing::Encode(*testing::MakeCtSlice(spec)));
  }
  nlohmann::json uploaded = Json("upload " + Quote(dir_ / "in") + " --token-file " + Quote(file_b));
  ASSERT_EQ(uploaded["summary"]["STORED"], 3) << uploaded;
  nlohmann::json studies_b = Json("studies list --token-file " + Quote(file_b));
  ASSERT_EQ(studies_b.size(), 1u);
  const std::int64_t study_b = studies_b[0]["id"].get<std::int64_t>();
  const std::string study_uid_b = studies_b[0]["study_instance_uid"].get<std::string>();
  const std::string pseudonym_b = studies_b[0]["patient"].get<std::string>();
  nlohmann::json study_b_shown =
      Json("studies show " + std::to_string(study_b) + " --token-file " + Quote(file_b));
  const std::string series_uid_b =
      study_b_shown["series_list"][0]["series_instance_uid"].get<std::string>();

  // A researcher; one that expires in a second; an uploader of A that is used, then revoked.
  nlohmann::json researcher = CreateToken("--role researcher --name analyst");
  ASSERT_EQ(researcher["role"], "researcher");
  nlohmann::json expiring = CreateToken("--role researcher --name short --expires 1s");
  ASSERT_FALSE(expiring["expires_at"].get<std::string>().empty());
  nlohmann::json revoked = CreateToken("--role uploader --centre centre-a --name old-gateway");
  const std::string find_stored = "/tributary.v1.Ingest/FindStored";
  std::string empty;
  ASSERT_TRUE(Call(server_->address(), find_stored, revoked["secret"], &empty).ok());
  Json("tokens revoke " + std::to_string(revoked["id"].get<std::int64_t>()) + " --token-file " +
       Quote(operator_file_));
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));

  struct Caller {
    std::string name;
    std::string token;
    std::optional<RoleBit> role;  // nullopt: must be UNAUTHENTICATED
    bool is_centre_b = false;
  };
  const std::vector<Caller> callers = {
      {"no token", "", std::nullopt},
      {"unknown token", "trb_" + std::string(64, '0'), std::nullopt},
      {"expired", expiring["secret"], std::nullopt},
      {"revoked", revoked["secret"], std::nullopt},
      {"uploader A", token_a, RoleBit::kUploader},
      {"uploader B", token_b, RoleBit::kUploader, true},
      {"researcher", researcher["secret"], RoleBit::kResearcher},
      {"operator", server_->operator_token(), RoleBit::kOperator},
  };

  // Requests that name centre B's objects where an RPC takes ids; empty messages elsewhere
  // (which never change anything: they are refused by validation when allowed).
  std::map<std::string, std::string> bodies;
  {
    v1::GetStudyRequest get;
    get.set_id(study_b);
    bodies["/tributary.v1.Admin/GetStudy"] = get.SerializeAsString();
    v1::CompleteStudyRequest complete;
    complete.set_study_instance_uid(study_uid_b);
    bodies["/tributary.v1.Ingest/CompleteStudy"] = complete.SerializeAsString();
    v1::ListStudiesRequest list;
    list.set_centre("centre-b");
    bodies["/tributary.v1.Admin/ListStudies"] = list.SerializeAsString();
  }

  int allowed_calls = 0;
  for (const auto& rule : services::RpcRoles()) {
    const std::string method(rule.method);
    for (const auto& caller : callers) {
      std::string body = bodies.count(method) ? bodies[method] : "";
      std::vector<std::string> responses;
      grpc::Status status = Call(server_->address(), method, caller.token, &body, &responses);
      const std::string what = method + " as " + caller.name + ": " +
                               std::to_string(status.error_code()) + " " + status.error_message();
      if (!caller.role) {
        EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << what;
      } else if (services::Allows(rule, *caller.role)) {
        ++allowed_calls;
        EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << what;
        EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << what;
        EXPECT_NE(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << what;
      } else {
        EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << what;
      }
      // Researchers and operators see every centre's de-identified data; nothing of centre B's
      // reaches uploader A or a caller without a valid token: not in messages, not in answers.
      if (caller.is_centre_b || (caller.role && caller.role != RoleBit::kUploader)) continue;
      std::string seen = status.error_message();
      for (const auto& r : responses) seen += r;
      for (const std::string& secret : {std::string("centre-b"), pseudonym_b, series_uid_b,
                                        std::string("SECRET"), std::string("PID-B")}) {
        EXPECT_EQ(seen.find(secret), std::string::npos) << what << " shows " << secret;
      }
    }
  }
  EXPECT_GT(allowed_calls, 20);

  // Uploader A asking for B's study by id and by UID gets what it would for no study at all.
  std::string missing = v1::GetStudyRequest().SerializeAsString();
  {
    v1::GetStudyRequest none;
    none.set_id(study_b + 1000);
    missing = none.SerializeAsString();
  }
  std::string body_b = bodies["/tributary.v1.Admin/GetStudy"];
  grpc::Status theirs = Call(server_->address(), "/tributary.v1.Admin/GetStudy", token_a, &body_b);
  grpc::Status nobody = Call(server_->address(), "/tributary.v1.Admin/GetStudy", token_a, &missing);
  EXPECT_EQ(theirs.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(nobody.error_code(), grpc::StatusCode::NOT_FOUND);

  // Tokens: listed without secrets; the audit log has the refusals, with who and what.
  CommandResult tokens =
      Shell(server_->Cli("tokens list --json --token-file " + Quote(operator_file_)), false);
  ASSERT_EQ(tokens.exit_code, 0) << tokens.out;
  for (const auto& secret : {token_a, token_b, researcher["secret"].get<std::string>()})
    EXPECT_EQ(tokens.out.find(secret), std::string::npos);
  nlohmann::json listed = nlohmann::json::parse(tokens.out);
  EXPECT_GE(listed.size(), 6u);
  bool saw_revoked = false;
  std::int64_t id_a = 0;
  for (const auto& t : listed) {
    EXPECT_FALSE(t.contains("secret"));
    if (t["id"] == revoked["id"]) saw_revoked = !t["revoked_at"].get<std::string>().empty();
    if (t["centre"] == "centre-a" && t["revoked_at"] == "") id_a = t["id"].get<std::int64_t>();
  }
  EXPECT_TRUE(saw_revoked);
  ASSERT_NE(id_a, 0);

  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // reads are written in batches
  nlohmann::json audit = Json("audit list --limit 100000 --token-file " + Quote(operator_file_));
  ASSERT_TRUE(audit.is_array());
  std::map<std::string, int> outcomes;
  for (const auto& e : audit) {
    outcomes[e["outcome"].get<std::string>()]++;
    EXPECT_FALSE(e["peer"].get<std::string>().empty()) << e;
    EXPECT_EQ(e.dump().find(pseudonym_b), std::string::npos) << e;
  }
  EXPECT_GE(outcomes["UNAUTHENTICATED"], 4 * static_cast<int>(services::RpcRoles().size()));
  EXPECT_GT(outcomes["PERMISSION_DENIED"], 0);
  EXPECT_GT(outcomes["OK"], 0);
  nlohmann::json filtered = Json("audit list --rpc GetStudy --token " + std::to_string(id_a) +
                                 " --token-file " + Quote(operator_file_));
  ASSERT_TRUE(filtered.is_array());
  EXPECT_EQ(filtered.size(), 3u);  // the matrix's call and the two above
  for (const auto& e : filtered) {
    EXPECT_EQ(e["token_id"], id_a);
    EXPECT_EQ(e["outcome"], "NOT_FOUND");
  }
  for (const auto& e : filtered) EXPECT_EQ(e["rpc"], "/tributary.v1.Admin/GetStudy");
  nlohmann::json uploads = Json("audit list --rpc Upload --token-file " + Quote(operator_file_));
  ASSERT_FALSE(uploads.empty());
  bool upload_by_b = false;
  for (const auto& e : uploads) {
    if (e["centre"] == "centre-b" && e["outcome"] == "OK" && e["role"] == "uploader")
      upload_by_b = e["object"].get<std::string>().find("files=3") != std::string::npos;
  }
  EXPECT_TRUE(upload_by_b) << uploads.dump(1);

  // Expired and revoked tokens through the CLI: exit status 4, "not authenticated".
  CommandResult expired_cli = Shell(
      server_->Cli("series list --token-file " + Quote(TokenFile("expired", expiring["secret"]))));
  EXPECT_EQ(expired_cli.exit_code, 4) << expired_cli.out;
  // The environment variable works like the file.
  CommandResult by_env = Shell("TRIBUTARY_TOKEN=" + researcher["secret"].get<std::string>() + " " +
                               server_->Cli("series list --json"));
  EXPECT_EQ(by_env.exit_code, 0) << by_env.out;
  EXPECT_TRUE(server_->Stop());
}

}  // namespace
}  // namespace tributary
