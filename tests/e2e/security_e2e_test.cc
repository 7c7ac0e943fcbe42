// Issue 10, C and E: TLS and mutual TLS (certificates made with the openssl command), the listening
// rule, the embedded cluster's privacy (modes, peer authentication, the socket folder), and the
// de-identification key (its place, its fingerprint, rotation).
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "tests/e2e/server_process.h"
#include "tests/unit/synthetic_dicom.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::Quote;
using testing::ReadFile;
using testing::ServerProcess;
using testing::Shell;
using testing::WriteFile;

class SecurityE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("trib_sec_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }

  // CA "a" (server and client certificates) and CA "b" (a client certificate no server trusts).
  void MakeCertificates() {
    fs::path t = dir_ / "tls";
    fs::create_directories(t);
    std::string ext = Quote(t / "server.ext");
    WriteFile(t / "server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    std::string script =
        "set -e; cd " + Quote(t) +
        "; for ca in a b; do openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "
        "/CN=test-ca-$ca -keyout ca-$ca.key -out ca-$ca.pem; done"
        "; openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out "
        "server.csr; openssl x509 -req -in server.csr -CA ca-a.pem -CAkey ca-a.key "
        "-CAcreateserial -days 2 -extfile " +
        ext +
        " -out server.pem"
        "; for ca in a b; do openssl req -newkey rsa:2048 -nodes -subj /CN=gateway-$ca -keyout "
        "client-$ca.key -out client-$ca.csr; openssl x509 -req -in client-$ca.csr -CA "
        "ca-$ca.pem -CAkey ca-$ca.key -CAcreateserial -days 2 -out client-$ca.pem; done"
        "; chmod 600 *.key";
    CommandResult made = Shell("(" + script + ") 2>&1");
    ASSERT_EQ(made.exit_code, 0) << made.out;
  }
  fs::path Tls(const std::string& name) const { return dir_ / "tls" / name; }
  std::vector<std::string> ServerTls(bool mutual) const {
    std::vector<std::string> args = {"--tls-cert", Tls("server.pem").string(), "--tls-key",
                                     Tls("server.key").string()};
    if (mutual) {
      args.push_back("--client-ca");
      args.push_back(Tls("ca-a.pem").string());
    }
    return args;
  }
  std::string ClientTls(const std::string& ca, const std::string& client = "") const {
    std::string options = "--tls-ca " + Quote(Tls("ca-" + ca + ".pem"));
    if (!client.empty())
      options += " --tls-cert " + Quote(Tls("client-" + client + ".pem")) + " --tls-key " +
                 Quote(Tls("client-" + client + ".key"));
    return options;
  }
  void StartServer(std::vector<std::string> args, const std::string& client_options = "") {
    server_ = std::make_unique<ServerProcess>(dir_ / "data", args);
    server_->set_client_options(client_options);
    ASSERT_TRUE(server_->Start()) << ReadFile(server_->log());
  }
  // `centres list` with the given client options in place of the server's usual ones.
  CommandResult ListCentres(const std::string& client_options) const {
    return Shell(std::string(TRIBUTARY_CLI) + " centres list --server " + server_->address() + " " +
                 client_options + " --token " + server_->operator_token());
  }
  std::shared_ptr<grpc::ChannelCredentials> MutualCredentials() const {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFile(Tls("ca-a.pem"));
    ssl.pem_cert_chain = ReadFile(Tls("client-a.pem"));
    ssl.pem_private_key = ReadFile(Tls("client-a.key"));
    return grpc::SslCredentials(ssl);
  }
  std::string Keygen(const std::string& name) const {
    fs::path path = dir_ / "keys" / name;
    fs::create_directories(path.parent_path());
    CommandResult made = Shell(std::string(TRIBUTARY_CLI) + " keygen --out " + Quote(path));
    EXPECT_EQ(made.exit_code, 0) << made.out;
    return path.string();
  }
  // tributary-server run to its end (it exits: a refusal, or --rotate-key-fingerprint).
  CommandResult RunServer(const std::string& args) const {
    return Shell("timeout 120 " + std::string(TRIBUTARY_SERVER) + " --data-dir " +
                 Quote(dir_ / "data") + " " + args);
  }

  fs::path dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(SecurityE2E, TlsServerIsReachedOnlyByClientsThatTrustItsCa) {
  MakeCertificates();
  StartServer(ServerTls(false), ClientTls("a"));
  EXPECT_NE(ReadFile(server_->log()).find("(port " + server_->address().substr(10) + ", TLS)"),
            std::string::npos)
      << ReadFile(server_->log());
  EXPECT_EQ(ListCentres(ClientTls("a")).exit_code, 0);
  CommandResult plaintext = ListCentres("");
  EXPECT_EQ(plaintext.exit_code, 3) << plaintext.out;
  CommandResult other_ca = ListCentres(ClientTls("b"));
  EXPECT_EQ(other_ca.exit_code, 3) << other_ca.out;
}

TEST_F(SecurityE2E, MutualTlsRequiresAClientCertificateFromTheClientCa) {
  MakeCertificates();
  StartServer(ServerTls(true), ClientTls("a", "a"));
  EXPECT_NE(ReadFile(server_->log()).find("mutual TLS"), std::string::npos);
  CommandResult valid = ListCentres(ClientTls("a", "a"));
  EXPECT_EQ(valid.exit_code, 0) << valid.out;
  CommandResult no_certificate = ListCentres(ClientTls("a"));
  EXPECT_EQ(no_certificate.exit_code, 3) << no_certificate.out;
  CommandResult foreign_certificate = ListCentres(ClientTls("a", "b"));
  EXPECT_EQ(foreign_certificate.exit_code, 3) << foreign_certificate.out;
  CommandResult plaintext = ListCentres("");
  EXPECT_EQ(plaintext.exit_code, 3) << plaintext.out;
  // The same from the environment.
  CommandResult from_environment =
      Shell("TRIBUTARY_TLS_CA=" + Quote(Tls("ca-a.pem")) + " TRIBUTARY_TLS_CERT=" +
            Quote(Tls("client-a.pem")) + " TRIBUTARY_TLS_KEY=" + Quote(Tls("client-a.key")) + " " +
            TRIBUTARY_CLI + " centres list --server " + server_->address() + " --token " +
            server_->operator_token());
  EXPECT_EQ(from_environment.exit_code, 0) << from_environment.out;
  // A client key others may read is refused before anything is sent.
  fs::permissions(Tls("client-a.key"), fs::perms::others_read, fs::perm_options::add);
  CommandResult open_key = ListCentres(ClientTls("a", "a"));
  EXPECT_EQ(open_key.exit_code, 2) << open_key.out;
  EXPECT_NE(open_key.out.find("chmod 600"), std::string::npos) << open_key.out;
}

TEST_F(SecurityE2E, HealthAndReflectionAreServedOverMutualTls) {
  MakeCertificates();
  StartServer(ServerTls(true), ClientTls("a", "a"));
  auto channel = grpc::CreateChannel(server_->address(), MutualCredentials());
  grpc::GenericStub stub(channel);
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1);
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                   &response, [&](grpc::Status status) { done.set_value(status); });
    grpc::Status status = done.get_future().get();
    ASSERT_TRUE(status.ok()) << status.error_message();
    std::vector<grpc::Slice> slices;
    ASSERT_TRUE(response.Dump(&slices).ok());
    std::string bytes;
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    EXPECT_EQ(bytes, std::string("\x08\x01", 2));  // status: SERVING
  }
  {
    grpc::CompletionQueue queue;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto call = stub.PrepareCall(
        &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &queue);
    void* tag = nullptr;
    bool ok = false;
    call->StartCall(reinterpret_cast<void*>(1));
    ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
    grpc::Slice list_services(std::string("\x3a\x01*", 3));
    grpc::ByteBuffer request(&list_services, 1);
    call->Write(request, reinterpret_cast<void*>(2));
    ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
    grpc::ByteBuffer response;
    call->Read(&response, reinterpret_cast<void*>(3));
    ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
    std::vector<grpc::Slice> slices;
    ASSERT_TRUE(response.Dump(&slices).ok());
    std::string bytes;
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    EXPECT_NE(bytes.find("tributary.v1.Ingest"), std::string::npos);
    EXPECT_NE(bytes.find("grpc.health.v1.Health"), std::string::npos);
    context.TryCancel();
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(4));
    while (queue.Next(&tag, &ok) && tag != reinterpret_cast<void*>(4)) {
    }
    queue.Shutdown();
    while (queue.Next(&tag, &ok)) {
    }
  }
  // Without a client certificate, health is refused too.
  grpc::GenericStub anonymous(grpc::CreateChannel(
      server_->address(), grpc::SslCredentials({ReadFile(Tls("ca-a.pem")), "", ""})));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  anonymous.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                      &response, [&](grpc::Status status) { done.set_value(status); });
  EXPECT_EQ(done.get_future().get().error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecurityE2E, PlaintextOnANonLoopbackAddressIsRefusedUnlessInsecure) {
  CommandResult refused = RunServer("--listen 0.0.0.0:" + std::to_string(testing::FreePort()));
  EXPECT_EQ(refused.exit_code, 2) << refused.out;
  EXPECT_NE(refused.out.find("without TLS"), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("--insecure"), std::string::npos) << refused.out;
  CommandResult half = RunServer("--tls-cert " + Quote(dir_ / "missing.pem"));
  EXPECT_EQ(half.exit_code, 2) << half.out;
  EXPECT_NE(half.out.find("--tls-key"), std::string::npos) << half.out;
}

struct stat Stat(const fs::path& path) {
  struct stat info {};
  EXPECT_EQ(::lstat(path.c_str(), &info), 0) << path;
  return info;
}

TEST_F(SecurityE2E, FilesOnDiskAndTheEmbeddedClusterArePrivate) {
  StartServer({"--harmonization-workers", "0"});
  std::string token = server_->AddCentre("north");
  ASSERT_FALSE(token.empty());
  for (int i = 0; i < 3; ++i) {
    tributary::testing::CtSliceSpec spec;
    spec.patient_id = "PID-SEC";
    spec.study_uid = "1.2.826.0.1.3680043.2.1125.90.1";
    spec.series_uid = "1.2.826.0.1.3680043.2.1125.90.2";
    spec.sop_uid = "1.2.826.0.1.3680043.2.1125.90.3." + std::to_string(i);
    spec.slice_position = i;
    WriteFile(dir_ / "in" / ("IM" + std::to_string(i)),
              tributary::testing::Encode(*tributary::testing::MakeCtSlice(spec)));
  }
  CommandResult upload = Shell(server_->Cli("upload " + Quote(dir_ / "in") + " --token " + token));
  ASSERT_EQ(upload.exit_code, 0) << upload.out;

  fs::path data = server_->data_dir();
  bool root = ::geteuid() == 0;
  EXPECT_EQ(Stat(data).st_mode & 07777, root ? 0710u : 0700u);
  for (const char* name : {"blobs", "postgres", "postgres/run", "postgres/pgdata"})
    EXPECT_EQ(Stat(data / name).st_mode & 07777, 0700u) << name;
  for (const char* name : {"deid.key", "operator.token", "postgres/postgres.log",
                           "postgres/pgdata/pg_hba.conf", "postgres/pgdata/pg_ident.conf"})
    EXPECT_EQ(Stat(data / name).st_mode & 07777, 0600u) << name;
  int blob_files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(data / "blobs")) {
    EXPECT_EQ(Stat(entry.path()).st_mode & 077, 0u) << entry.path();
    blob_files += entry.is_regular_file();
  }
  EXPECT_EQ(blob_files, 3);
  if (root) {
    struct passwd* postgres = ::getpwnam("postgres");
    ASSERT_NE(postgres, nullptr);
    EXPECT_EQ(Stat(data / "postgres" / "run").st_uid, postgres->pw_uid);
    EXPECT_EQ(Stat(data / "postgres").st_uid, postgres->pw_uid);
  }
  EXPECT_NE(ReadFile(data / "postgres" / "pgdata" / "pg_hba.conf").find("peer map=tributary"),
            std::string::npos);

  // The server's own user connects; another OS user is refused.
  std::string psql;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql"))
    psql = (e.path() / "bin" / "psql").string();
  std::string connect = psql + " -X -w -At 'host=" + (data / "postgres" / "run").string() +
                        " dbname=tributary user=tributary' -c 'SELECT count(*) FROM instances'";
  CommandResult own = Shell(connect);
  EXPECT_EQ(own.exit_code, 0) << own.out;
  EXPECT_EQ(own.out, "3\n");
  if (!root) GTEST_SKIP() << "connections as other OS users need root (runuser)";
  CommandResult nobody = Shell("runuser -u nobody -- " + connect);
  EXPECT_NE(nobody.exit_code, 0) << nobody.out;
  EXPECT_EQ(nobody.out.find("\n3\n"), std::string::npos) << nobody.out;
  // The cluster's own user reaches the socket and is refused by peer authentication.
  CommandResult cluster_user = Shell("runuser -u postgres -- " + connect);
  EXPECT_NE(cluster_user.exit_code, 0) << cluster_user.out;
  EXPECT_NE(cluster_user.out.find("authentication failed"), std::string::npos) << cluster_user.out;
}

TEST_F(SecurityE2E, ALongDataDirectoryGetsAnUnpredictablePrivateSocketFolder) {
  fs::path data = dir_ / std::string(90, 'd') / "data";
  fs::create_directories(data.parent_path());  // 0755: the postgres user passes through
  server_ = std::make_unique<ServerProcess>(data, std::vector<std::string>{});
  ASSERT_TRUE(server_->Start()) << ReadFile(server_->log());
  std::ifstream pid_file(data / "postgres" / "pgdata" / "postmaster.pid");
  std::string line;
  for (int i = 0; i < 5; ++i) std::getline(pid_file, line);
  fs::path socket = line;
  EXPECT_EQ(socket.parent_path(), fs::temp_directory_path()) << socket;
  ASSERT_EQ(socket.filename().string().rfind("tributary-pg-", 0), 0u) << socket;
  EXPECT_EQ(socket.filename().string().size(), std::string("tributary-pg-XXXXXX").size());
  EXPECT_EQ(Stat(socket).st_mode & 07777, 0700u);
  EXPECT_FALSE(fs::exists(data / "postgres" / "run"));
  EXPECT_TRUE(server_->Stop());
  EXPECT_FALSE(fs::exists(socket)) << "removed with the cluster";
}

TEST_F(SecurityE2E, AKeyInsideTheDataDirectoryIsWarnedAbout) {
  StartServer({"--harmonization-workers", "0"});
  EXPECT_NE(ReadFile(server_->log()).find("lies inside the data directory"), std::string::npos)
      << ReadFile(server_->log());
  server_.reset();
  fs::remove_all(dir_ / "data");
  fs::remove(dir_ / "data.log");
  StartServer({"--harmonization-workers", "0", "--key-file", Keygen("outside.key")});
  EXPECT_EQ(ReadFile(server_->log()).find("lies inside the data directory"), std::string::npos)
      << ReadFile(server_->log());
}

TEST_F(SecurityE2E, AnotherKeyIsRefusedUntilTheFingerprintIsRotated) {
  std::string first = Keygen("first.key");
  std::string second = Keygen("second.key");
  StartServer({"--harmonization-workers", "0", "--key-file", first});
  ASSERT_TRUE(server_->Stop());

  server_ = std::make_unique<ServerProcess>(
      dir_ / "data",
      std::vector<std::string>{"--harmonization-workers", "0", "--key-file", second});
  EXPECT_FALSE(server_->Start());
  std::string log = ReadFile(server_->log());
  EXPECT_NE(log.find("the de-identification key differs from the one this database was first "
                     "used with"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("--rotate-key-fingerprint"), std::string::npos) << log;
  server_.reset();

  // Rotation checks the old key: the wrong one changes nothing.
  CommandResult wrong = RunServer("--rotate-key-fingerprint --old-key-file " + Quote(second) +
                                  " --key-file " + Quote(first));
  EXPECT_EQ(wrong.exit_code, 1) << wrong.out;
  EXPECT_NE(wrong.out.find("--old-key-file is not the key this database uses"), std::string::npos)
      << wrong.out;
  CommandResult rotated = RunServer("--rotate-key-fingerprint --old-key-file " + Quote(first) +
                                    " --key-file " + Quote(second));
  EXPECT_EQ(rotated.exit_code, 0) << rotated.out;

  StartServer({"--harmonization-workers", "0", "--key-file", second});
  ASSERT_TRUE(server_->Stop());
  server_ = std::make_unique<ServerProcess>(
      dir_ / "data", std::vector<std::string>{"--harmonization-workers", "0", "--key-file", first});
  EXPECT_FALSE(server_->Start()) << "the first key is no longer the database's";
}

TEST_F(SecurityE2E, AKeyFileOthersCanReadIsRefused) {
  std::string key = Keygen("open.key");
  fs::permissions(key, fs::perms::group_read, fs::perm_options::add);
  CommandResult refused = RunServer("--key-file " + Quote(key));
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_NE(refused.out.find("chmod 600"), std::string::npos) << refused.out;
}

}  // namespace
}  // namespace tributary
