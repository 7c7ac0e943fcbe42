#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace tributary::services {

// The server's TLS files (PEM): certificate chain and private key, and the CA that client
// certificates must chain to (mutual TLS) when given.
struct TlsFiles {
  std::string cert;
  std::string key;
  std::string client_ca;
};

// True for 127.0.0.0/8, ::1, localhost and unix: addresses.
bool IsLoopbackAddress(const std::string& listen);

// TLS credentials from `tls` (with a client CA, a verified client certificate is required), or
// insecure ones, which are refused on a non-loopback `listen` address unless `insecure` is set.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& tls, const std::string& listen, bool insecure);

// Makes DATA_DIR private: 0700 and owned by this process's user; as root with the embedded
// cluster, group `postgres` and 0710, so that the cluster's user can only pass through to
// DATA_DIR/postgres. A symbolic link in its place is refused.
absl::Status SecureDataDirectory(const std::string& data_dir, bool embedded_cluster_as_postgres);

// True when `file` resolves to a path inside `directory`.
bool IsInsideDirectory(const std::string& file, const std::string& directory);

}  // namespace tributary::services
