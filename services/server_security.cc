#include "services/server_security.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <grpcpp/security/server_credentials.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/private_file.h"

namespace tributary::services {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ReadPem(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + what + " " + path);
  std::stringstream content;
  content << in.rdbuf();
  if (content.str().find("-----BEGIN ") == std::string::npos)
    return absl::InvalidArgumentError(what + " " + path + " is not PEM");
  return content.str();
}

}  // namespace

bool IsLoopbackAddress(const std::string& listen) {
  if (listen.rfind("unix:", 0) == 0 || listen.rfind("unix-abstract:", 0) == 0) return true;
  std::string host = listen;
  if (listen.rfind("ipv4:", 0) == 0 || listen.rfind("ipv6:", 0) == 0) host = listen.substr(5);
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') - 1);
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    host = host.substr(0, host.find(':'));
  }
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  return false;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& tls, const std::string& listen, bool insecure) {
  bool any = !tls.cert.empty() || !tls.key.empty() || !tls.client_ca.empty();
  if (!any) {
    if (!insecure && !IsLoopbackAddress(listen)) {
      return absl::FailedPreconditionError(
          "refusing to listen on " + listen +
          " without TLS: give --tls-cert and --tls-key (and --client-ca for mutual TLS), or "
          "--insecure to accept plaintext on a trusted network");
    }
    return grpc::InsecureServerCredentials();
  }
  if (tls.cert.empty() || tls.key.empty())
    return absl::InvalidArgumentError("TLS needs both --tls-cert and --tls-key");
  TRIB_ASSIGN_OR_RETURN(std::string cert, ReadPem(tls.cert, "TLS certificate"));
  auto key = ReadPrivateFile(tls.key, "TLS key", 1 << 16);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!tls.client_ca.empty()) {
    auto ca = ReadPem(tls.client_ca, "client CA");
    if (!ca.ok()) {
      WipeSecret(*key);
      return ca.status();
    }
    options.pem_root_certs = *ca;
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  options.pem_key_cert_pairs.push_back({*key, cert});
  WipeSecret(*key);
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(options);
  WipeSecret(options.pem_key_cert_pairs.front().private_key);
  return credentials;
}

absl::Status SecureDataDirectory(const std::string& data_dir, bool embedded_cluster_as_postgres) {
  int fd = ::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return absl::PermissionDeniedError("cannot open data directory " + data_dir + ": " +
                                       std::strerror(errno) + " (a symbolic link is refused)");
  gid_t group = ::getegid();
  mode_t mode = 0700;
  if (embedded_cluster_as_postgres) {
    struct group* postgres = ::getgrnam("postgres");
    if (postgres == nullptr) {
      ::close(fd);
      return absl::FailedPreconditionError(
          "the `postgres` group is needed for the embedded cluster");
    }
    group = postgres->gr_gid;
    mode = 0710;
  }
  absl::Status status = absl::OkStatus();
  if (::fchown(fd, ::geteuid(), group) != 0 || ::fchmod(fd, mode) != 0)
    status = absl::PermissionDeniedError("cannot make data directory " + data_dir +
                                         " private: " + std::strerror(errno));
  ::close(fd);
  return status;
}

bool IsInsideDirectory(const std::string& file, const std::string& directory) {
  std::error_code error;
  fs::path f = fs::weakly_canonical(fs::absolute(file), error);
  if (error) return false;
  fs::path d = fs::weakly_canonical(fs::absolute(directory), error);
  if (error) return false;
  auto [end, _] = std::mismatch(d.begin(), d.end(), f.begin(), f.end());
  return end == d.end();
}

}  // namespace tributary::services
