#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace tributary::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;
};

// Runs a shell command line, capturing standard output (and standard error with it unless
// `with_stderr` is false, when it is discarded).
CommandResult Shell(const std::string& command, bool with_stderr = true);
std::string Quote(const std::filesystem::path& path);
std::string ReadFile(const std::filesystem::path& path);
void WriteFile(const std::filesystem::path& path, const std::string& bytes);
int FreePort();

// tributary-server as a child process on a loopback port, with its own data directory (and so its
// own embedded PostgreSQL cluster).
class ServerProcess {
 public:
  ServerProcess(std::filesystem::path data_dir, std::vector<std::string> extra_args = {});
  ~ServerProcess();

  bool Start();  // waits until the server answers (up to 60 s)
  void Kill();   // SIGKILL, as a crash
  bool Stop();   // SIGTERM and wait; stops the embedded cluster
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string operator_token() const;
  const std::filesystem::path& data_dir() const { return data_dir_; }
  std::filesystem::path log() const {
    return data_dir_.parent_path() / (data_dir_.filename().string() + ".log");
  }
  // Adds a centre through the CLI; returns its upload token.
  std::string AddCentre(const std::string& name) const;
  // The CLI with --server (and the options set below) filled in.
  std::string Cli(const std::string& args) const;
  // Options the CLI is given on every call, e.g. "--tls-ca FILE" for a TLS server.
  void set_client_options(std::string options) { client_options_ = std::move(options); }

 private:
  std::filesystem::path data_dir_;
  std::vector<std::string> extra_args_;
  std::string client_options_;
  int port_;
  pid_t pid_ = -1;
};

}  // namespace tributary::testing
