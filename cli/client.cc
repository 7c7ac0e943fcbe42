#include "cli/client.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/private_file.h"

namespace tributary::cli {
namespace {

std::string Environment(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

std::string ReadPemOrExit(const std::string& path, const char* option) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  if (!in || content.str().find("-----BEGIN ") == std::string::npos) {
    std::cerr << "tributary: " << option << " " << path << ": cannot read a PEM file\n";
    std::exit(2);
  }
  return content.str();
}

std::shared_ptr<grpc::ChannelCredentials> Credentials(const ClientOptions& options) {
  if (options.tls_ca.empty() && options.tls_cert.empty() && options.tls_key.empty())
    return grpc::InsecureChannelCredentials();
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    std::cerr << "tributary: --tls-cert and --tls-key go together\n";
    std::exit(2);
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.tls_ca.empty()) ssl.pem_root_certs = ReadPemOrExit(options.tls_ca, "--tls-ca");
  if (!options.tls_cert.empty()) {
    ssl.pem_cert_chain = ReadPemOrExit(options.tls_cert, "--tls-cert");
    auto key = ReadPrivateFile(options.tls_key, "TLS key", 1 << 16);
    if (!key.ok()) {
      std::cerr << "tributary: --tls-key: " << key.status().message() << "\n";
      std::exit(2);
    }
    ssl.pem_private_key = std::move(*key);
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::SslCredentials(ssl);
  WipeSecret(ssl.pem_private_key);
  return credentials;
}

}  // namespace

void AddClientOptions(CLI::App& command, ClientOptions& options) {
  const char* server = std::getenv("TRIBUTARY_SERVER");
  const char* token = std::getenv("TRIBUTARY_TOKEN");
  options.server = server != nullptr && *server != '\0' ? server : "127.0.0.1:50051";
  options.token = token != nullptr ? token : "";
  command.add_option("--server", options.server,
                     "tributary-server address (default: $TRIBUTARY_SERVER or 127.0.0.1:50051)");
  CLI::Option* token_option =
      command.add_option("--token", options.token,
                         "Token (visible to other users in the process list: prefer "
                         "--token-file or $TRIBUTARY_TOKEN)");
  command
      .add_option_function<std::string>(
          "--token-file",
          [&options](const std::string& path) {
            auto token = ReadPrivateFile(path, "token file", 4096);
            if (!token.ok())
              throw CLI::ValidationError("--token-file", std::string(token.status().message()));
            std::string text = *token;
            WipeSecret(*token);
            text.erase(text.find_last_not_of(" \t\r\n") + 1);
            text.erase(0, text.find_first_not_of(" \t\r\n"));
            if (text.empty()) throw CLI::ValidationError("--token-file", path + " is empty");
            options.token = std::move(text);
          },
          "Read the token from FILE (owned by you, mode 0600; default: $TRIBUTARY_TOKEN)")
      ->excludes(token_option);
  command.add_flag("--json", options.json, "Print JSON instead of text");
  options.tls_ca = Environment("TRIBUTARY_TLS_CA");
  options.tls_cert = Environment("TRIBUTARY_TLS_CERT");
  options.tls_key = Environment("TRIBUTARY_TLS_KEY");
  command.add_option("--tls-ca", options.tls_ca,
                     "Connect with TLS; the server's certificate must chain to this CA (PEM) "
                     "(default: $TRIBUTARY_TLS_CA)");
  command.add_option("--tls-cert", options.tls_cert,
                     "Client certificate (PEM) for mutual TLS (default: $TRIBUTARY_TLS_CERT)");
  command.add_option("--tls-key", options.tls_key,
                     "Its private key (PEM, mode 0600) (default: $TRIBUTARY_TLS_KEY)");
}

std::shared_ptr<grpc::Channel> MakeChannel(const ClientOptions& options, int connection_index) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("tributary.connection", connection_index);
  args.SetMaxReceiveMessageSize(16 << 20);
  return grpc::CreateCustomChannel(options.server, Credentials(options), args);
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
