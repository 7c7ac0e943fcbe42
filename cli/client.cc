#include "cli/client.h"

#include <cstdlib>
#include <iostream>

namespace tributary::cli {

void AddClientOptions(CLI::App& command, ClientOptions& options) {
  const char* server = std::getenv("TRIBUTARY_SERVER");
  const char* token = std::getenv("TRIBUTARY_TOKEN");
  options.server = server != nullptr && *server != '\0' ? server : "127.0.0.1:50051";
  options.token = token != nullptr ? token : "";
  command.add_option("--server", options.server,
                     "tributary-server address (default: $TRIBUTARY_SERVER or 127.0.0.1:50051)");
  command.add_option("--token", options.token,
                     "Upload or operator token (default: $TRIBUTARY_TOKEN)");
  command.add_flag("--json", options.json, "Print JSON instead of text");
}

std::shared_ptr<grpc::Channel> MakeChannel(const ClientOptions& options, int connection_index) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("tributary.connection", connection_index);
  args.SetMaxReceiveMessageSize(16 << 20);
  return grpc::CreateCustomChannel(options.server, grpc::InsecureChannelCredentials(), args);
}

void PrepareContext(grpc::ClientContext& context, const ClientOptions& options,
                    std::chrono::seconds deadline) {
  if (!options.token.empty()) context.AddMetadata("authorization", "Bearer " + options.token);
  context.set_deadline(std::chrono::system_clock::now() + deadline);
}

int ReportRpcError(const std::string& command, const grpc::Status& status) {
  std::cerr << "tributary " << command << ": ";
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      std::cerr << "server unavailable (" << status.error_message() << ")\n";
      return 3;
    case grpc::StatusCode::UNAUTHENTICATED:
      std::cerr << "not authenticated: " << status.error_message() << "\n";
      return 4;
    case grpc::StatusCode::PERMISSION_DENIED:
      std::cerr << "permission denied: " << status.error_message() << "\n";
      return 4;
    default:
      std::cerr << status.error_message() << " (" << static_cast<int>(status.error_code()) << ")\n";
      return 1;
  }
}

}  // namespace tributary::cli
