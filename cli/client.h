#pragma once

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <string>

namespace tributary::cli {

// --server, --token and the TLS files, shared by every command that talks to tributary-server.
struct ClientOptions {
  std::string server;
  std::string token;
  bool json = false;
  std::string tls_ca;    // PEM CA the server's certificate must chain to; TLS when set
  std::string tls_cert;  // client certificate chain (PEM), for mutual TLS
  std::string tls_key;   // its private key (PEM; owned by the user, mode 0600)
};

void AddClientOptions(CLI::App& command, ClientOptions& options);

// A channel with its own TCP connection (parallel upload streams should not share one). TLS when
// any of the TLS files is given; a file that cannot be read ends the program with status 2.
std::shared_ptr<grpc::Channel> MakeChannel(const ClientOptions& options, int connection_index = 0);

// Token metadata and a deadline: every call has one.
void PrepareContext(grpc::ClientContext& context, const ClientOptions& options,
                    std::chrono::seconds deadline);

// Prints "tributary COMMAND: <what the server said>" and returns the exit status for it.
int ReportRpcError(const std::string& command, const grpc::Status& status);

}  // namespace tributary::cli
