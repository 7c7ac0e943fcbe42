#include "tests/e2e/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace tributary::testing {

namespace fs = std::filesystem;

CommandResult Shell(const std::string& command, bool with_stderr) {
  CommandResult run;
  FILE* pipe = ::popen((command + (with_stderr ? " 2>&1" : " 2>/dev/null")).c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) run.out.append(buffer, n);
  int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::string Quote(const fs::path& path) { return "'" + path.string() + "'"; }

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  int port = ntohs(address.sin_port);
  ::close(fd);
  return port;
}

ServerProcess::ServerProcess(fs::path data_dir, std::vector<std::string> extra_args)
    : data_dir_(std::move(data_dir)), extra_args_(std::move(extra_args)), port_(FreePort()) {}

ServerProcess::~ServerProcess() { Stop(); }

bool ServerProcess::Start() {
  std::vector<std::string> args = {TRIBUTARY_SERVER, "--data-dir", data_dir_.string(), "--listen",
                                   address()};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  pid_ = ::fork();
  if (pid_ == 0) {
    int log_fd = ::open(log().c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    if (fs::exists(data_dir_ / "operator.token") &&
        Shell(Cli("centres list --token " + operator_token())).exit_code == 0) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

bool ServerProcess::Stop() {
  if (pid_ <= 0) return true;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string ServerProcess::operator_token() const {
  std::string token = ReadFile(data_dir_ / "operator.token");
  while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
  return token;
}

std::string ServerProcess::AddCentre(const std::string& name) const {
  CommandResult r = Shell(Cli("centres add " + name + " --token " + operator_token()));
  if (r.exit_code != 0) return {};
  std::string out = r.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out.substr(out.rfind('\n') + 1);
}

std::string ServerProcess::Cli(const std::string& args) const {
  std::string command = TRIBUTARY_CLI;
  std::size_t space = args.find(' ');
  std::string sub = args.substr(0, space);
  std::string client_options = client_options_.empty() ? "" : " " + client_options_;
  // `centres add`, `studies list`, `jobs wait`: the options follow the second word.
  if (sub == "centres" || sub == "studies" || sub == "jobs" || sub == "series" ||
      sub == "recipes" || sub == "models" || sub == "tokens" || sub == "audit" ||
      sub == "cohorts" || sub == "provenance") {
    std::size_t second = args.find(' ', space + 1);
    return command + " " + args.substr(0, second) + " --server " + address() + client_options +
           (second == std::string::npos ? "" : args.substr(second));
  }
  return command + " " + sub + " --server " + address() + client_options +
         (space == std::string::npos ? "" : args.substr(space));
}

}  // namespace tributary::testing
