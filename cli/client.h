#pragma once

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <string>

namespace tributary::cli {

// --server and --token, shared by every command that talks to tributary-server.
struct ClientOptions {
  std::string server;
  std::string token;
  bool json = false;
};

void AddClientOptions(CLI::App& command, ClientOptions& options);

// A channel with its own TCP connection (parallel upload streams should not share one).
std::shared_ptr<grpc::Channel> MakeChannel(const ClientOptions& options, int connection_index = 0);

// Token metadata and a deadline: every call has one.
void PrepareContext(grpc::ClientContext& context, const ClientOptions& options,
                    std::chrono::seconds deadline);

// Prints "tributary COMMAND: <what the server said>" and returns the exit status for it.
int ReportRpcError(const std::string& command, const grpc::Status& status);

}  // namespace tributary::cli
