#include "tests/support/swift_s3_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace tributary::test_support {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPython = "/usr/bin/python3";  // Debian's, where python3-swift lives
constexpr const char* kCurl = "/usr/bin/curl";
constexpr const char* kHelper = TRIBUTARY_SWIFT_S3_HELPER;  // tests/support/swift_s3_server.py
constexpr int kPartPower = 6;                               // 64 partitions: rings build in ms

absl::Status Errno(const std::string& what) {
  return absl::InternalError(what + ": " + std::strerror(errno));
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

absl::Status WriteFile(const fs::path& path, const std::string& content, mode_t mode = 0644) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Errno("cannot create " + path.string());
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok) return Errno("cannot write " + path.string());
  return absl::OkStatus();
}

// Free loopback TCP ports, distinct from one another (all held open until all are chosen).
absl::StatusOr<std::vector<int>> FreePorts(int count) {
  std::vector<int> sockets;
  std::vector<int> ports;
  absl::Status status = absl::OkStatus();
  for (int i = 0; i < count && status.ok(); ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      status = Errno("cannot find a free loopback port");
    } else {
      ports.push_back(ntohs(address.sin_port));
    }
    if (fd >= 0) sockets.push_back(fd);
  }
  for (int fd : sockets) ::close(fd);
  if (!status.ok()) return status;
  return ports;
}

bool Connects(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return ok;
}

// GET /healthcheck over a plain socket; true on "HTTP/1.x 200".
bool Healthy(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request = "GET /healthcheck HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[256];
      ssize_t n;
      while (response.size() < 64 && (n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0)
        response.append(buffer, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return response.rfind("HTTP/1.", 0) == 0 && response.size() >= 12 &&
         response.compare(9, 3, "200") == 0;
}

struct Spawn {
  std::vector<std::string> argv;
  std::string stdout_path;  // standard output (and standard error unless stderr_path)
  std::string stderr_path;
  bool drop_privileges = false;
  uid_t uid = 0;
  gid_t gid = 0;
  bool die_with_parent = false;
};

// fork + exec with everything prepared beforehand (the child only makes system calls: the test
// process may have threads).
absl::StatusOr<pid_t> StartProcess(const Spawn& spawn) {
  std::vector<char*> argv;
  for (const std::string& argument : spawn.argv) argv.push_back(const_cast<char*>(argument.data()));
  argv.push_back(nullptr);
  int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out = ::open(spawn.stdout_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int err = spawn.stderr_path.empty() ? -1
                                      : ::open(spawn.stderr_path.c_str(),
                                               O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (in < 0 || out < 0 || (!spawn.stderr_path.empty() && err < 0)) {
    absl::Status status = Errno("cannot open " + spawn.stdout_path);
    for (int fd : {in, out, err})
      if (fd >= 0) ::close(fd);
    return status;
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err >= 0 ? err : out, 2);
    if (spawn.drop_privileges &&
        (::setgroups(1, &spawn.gid) != 0 || ::setgid(spawn.gid) != 0 || ::setuid(spawn.uid) != 0))
      ::_exit(126);
    // After setuid, which clears the parent-death signal.
    if (spawn.die_with_parent && (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != parent))
      ::_exit(125);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int fork_errno = errno;
  for (int fd : {in, out, err})
    if (fd >= 0) ::close(fd);
  if (pid < 0) {
    errno = fork_errno;
    return Errno("fork");
  }
  return pid;
}

int WaitExit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Tail(const fs::path& path, int lines) {
  std::ifstream in(path);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (static_cast<int>(tail.size()) > lines) tail.pop_front();
  }
  std::string text;
  for (const std::string& l : tail) text += "  " + l + "\n";
  return text;
}

std::string StorageServerConf(const std::string& server, int port, const std::string& directory,
                              const std::string& user) {
  return "# Written by tests/support/swift_s3_server.cc.\n"
         "[DEFAULT]\n"
         "bind_ip = 127.0.0.1\n"
         "bind_port = " +
         std::to_string(port) +
         "\n"
         // No worker processes: the server answers in the process the harness started (and
         // SIGTERMs); the harness has already switched to `user`.
         "workers = 0\n"
         "user = " +
         user + "\nswift_dir = " + directory + "\ndevices = " + directory +
         "/devices\n"
         "mount_check = false\n"
         "disable_fallocate = true\n"
         "fallocate_reserve = 0\n"
         "log_name = " +
         server +
         "-server\n"
         "log_level = INFO\n\n"
         "[pipeline:main]\n"
         "pipeline = " +
         server + "-server\n\n[app:" + server + "-server]\nuse = egg:swift#" + server + "\n";
}

std::string ProxyServerConf(int port, const std::string& directory, const std::string& user,
                            const std::string& region, const S3Credentials& tenant,
                            const S3Credentials& other) {
  auto tempauth_user = [](const S3Credentials& c) {
    std::string account = c.access_key.substr(0, c.access_key.find(':'));
    std::string name = c.access_key.substr(c.access_key.find(':') + 1);
    return "user_" + account + "_" + name + " = " + c.secret_key + " .admin\n";
  };
  return "# Written by tests/support/swift_s3_server.cc.\n"
         "[DEFAULT]\n"
         "bind_ip = 127.0.0.1\n"
         "bind_port = " +
         std::to_string(port) +
         "\n"
         "workers = 0\n"
         "user = " +
         user + "\nswift_dir = " + directory +
         "\n"
         "log_name = proxy-server\n"
         "log_level = INFO\n\n"
         // The s3api documentation's order: s3api before the auth middleware (tempauth), and slo
         // after it (multipart upload needs SLO); proxy-logging at both ends.
         "[pipeline:main]\n"
         "pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats "
         "s3api tempauth copy slo dlo versioned_writes proxy-logging proxy-server\n\n"
         "[app:proxy-server]\n"
         "use = egg:swift#proxy\n"
         // An S3 client's first bucket PUT creates the Swift account.
         "account_autocreate = true\n\n"
         "[filter:catch_errors]\nuse = egg:swift#catch_errors\n\n"
         "[filter:gatekeeper]\nuse = egg:swift#gatekeeper\n\n"
         "[filter:healthcheck]\nuse = egg:swift#healthcheck\n\n"
         "[filter:proxy-logging]\nuse = egg:swift#proxy_logging\n\n"
         // tempauth requires a swift.cache: an in-process dictionary (swift_s3_server.py) instead
         // of Swift's memcache filter and a memcached.
         "[filter:cache]\npaste.filter_factory = tributary_swift_test_cache:filter_factory\n\n"
         "[filter:listing_formats]\nuse = egg:swift#listing_formats\n\n"
         "[filter:s3api]\n"
         "use = egg:swift#s3api\n"
         "location = " +
         region +
         "\n\n"
         "[filter:tempauth]\n"
         "use = egg:swift#tempauth\n" +
         tempauth_user(tenant) + tempauth_user(other) +
         "\n"
         "[filter:copy]\nuse = egg:swift#copy\n\n"
         "[filter:slo]\nuse = egg:swift#slo\n\n"
         "[filter:dlo]\nuse = egg:swift#dlo\n\n"
         "[filter:versioned_writes]\nuse = egg:swift#versioned_writes\n";
}

}  // namespace

absl::StatusOr<std::unique_ptr<SwiftS3Server>> SwiftS3Server::Start(Options options) {
  for (const char* program :
       {kPython, kCurl, "/usr/bin/swift-proxy-server", "/usr/bin/swift-account-server",
        "/usr/bin/swift-container-server", "/usr/bin/swift-object-server"}) {
    if (::access(program, X_OK) != 0) {
      return absl::FailedPreconditionError(
          std::string(program) +
          " is missing: install Debian's swift swift-proxy swift-account swift-container "
          "swift-object python3-swift and curl (deploy/install.sh does)");
    }
  }
  std::unique_ptr<SwiftS3Server> server(new SwiftS3Server());
  server->options_ = std::move(options);
  server->region_ = server->options_.region;

  std::string user;
  if (::geteuid() == 0) {
    struct passwd* swift = ::getpwnam("swift");
    if (swift == nullptr) {
      return absl::FailedPreconditionError(
          "running as root, and the Swift servers are to run as the `swift` user, which the swift "
          "package creates: it is missing");
    }
    server->drop_privileges_ = true;
    server->server_uid_ = swift->pw_uid;
    server->server_gid_ = swift->pw_gid;
    user = "swift";
  } else {
    struct passwd* self = ::getpwuid(::geteuid());
    if (self == nullptr) return absl::FailedPreconditionError("this process's user has no name");
    server->server_uid_ = self->pw_uid;
    server->server_gid_ = self->pw_gid;
    user = self->pw_name;
  }

  std::string pattern = (fs::temp_directory_path() / "tributary-swift-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    return Errno("cannot create a folder in " + fs::temp_directory_path().string());
  server->directory_ = pattern;
  const fs::path dir = server->directory_;
  std::error_code error;
  fs::create_directories(dir / "devices" / "d1", error);
  fs::create_directories(dir / "curl", error);
  if (error) return absl::InternalError("cannot create " + dir.string() + ": " + error.message());
  // The servers write the objects, the account and container databases, and their locks.
  for (const fs::path& p : {dir, dir / "devices", dir / "devices" / "d1"}) {
    if (::chown(p.c_str(), server->server_uid_, server->server_gid_) != 0)
      return Errno("cannot hand " + p.string() + " to " + user);
  }

  auto ports = FreePorts(4);
  if (!ports.ok()) return ports.status();
  server->proxy_port_ = (*ports)[0];
  server->account_port_ = (*ports)[1];
  server->container_port_ = (*ports)[2];
  server->object_port_ = (*ports)[3];
  server->endpoint_ = "http://127.0.0.1:" + std::to_string(server->proxy_port_);

  absl::Status status = WriteFile(dir / "swift.conf",
                                  "# Written by tests/support/swift_s3_server.cc; read instead of "
                                  "/etc/swift/swift.conf (swift_s3_server.py).\n"
                                  "[swift-hash]\n"
                                  "swift_hash_path_suffix = tributary-test-suffix\n"
                                  "swift_hash_path_prefix = tributary-test-prefix\n\n"
                                  "[storage-policy:0]\n"
                                  "name = Policy-0\n"
                                  "default = yes\n");
  const std::pair<const char*, int> storage[] = {{"account", server->account_port_},
                                                 {"container", server->container_port_},
                                                 {"object", server->object_port_}};
  for (const auto& [name, port] : storage) {
    if (status.ok())
      status = WriteFile(dir / (std::string(name) + "-server.conf"),
                         StorageServerConf(name, port, dir.string(), user));
  }
  if (status.ok())
    status = WriteFile(dir / "proxy-server.conf",
                       ProxyServerConf(server->proxy_port_, dir.string(), user, server->region_,
                                       server->tenant_, server->other_));
  if (status.ok()) status = server->Launch();
  if (!status.ok()) return status;  // the destructor stops what started and removes the folder
  return server;
}

absl::Status SwiftS3Server::Launch() {
  const fs::path dir = directory_;
  const std::string swift_conf = (dir / "swift.conf").string();
  // The rings, built as the servers' user (it owns everything in the folder).
  Spawn rings{.argv = {kPython, kHelper, swift_conf, "rings", directory_,
                       std::to_string(kPartPower), std::to_string(account_port_),
                       std::to_string(container_port_), std::to_string(object_port_)},
              .stdout_path = (dir / "rings.log").string(),
              .stderr_path = "",
              .drop_privileges = drop_privileges_,
              .uid = server_uid_,
              .gid = server_gid_};
  auto pid = StartProcess(rings);
  if (!pid.ok()) return pid.status();
  if (int code = WaitExit(*pid); code != 0) {
    std::string hint = code == 126 ? " (cannot switch to the servers' user)"
                       : drop_privileges_
                           ? " (can the swift user reach " + directory_ + "? set TMPDIR elsewhere)"
                           : "";
    return absl::InternalError("building the Swift rings failed (exit " + std::to_string(code) +
                               ")" + hint + ":\n" + Tail(dir / "rings.log", 20));
  }
  for (const char* name : {"account", "container", "object", "proxy"}) {
    Spawn spawn{
        .argv = {kPython, kHelper, swift_conf, "/usr/bin/swift-" + std::string(name) + "-server",
                 (dir / (std::string(name) + "-server.conf")).string(), "--verbose"},
        .stdout_path = (dir / (std::string(name) + ".log")).string(),
        .stderr_path = "",
        .drop_privileges = drop_privileges_,
        .uid = server_uid_,
        .gid = server_gid_,
        .die_with_parent = true};
    auto child = StartProcess(spawn);
    if (!child.ok()) return child.status();
    children_.push_back({name, *child});
  }
  return WaitUntilReady();
}

absl::Status SwiftS3Server::WaitUntilReady() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    for (Child& child : children_) {
      int status = 0;
      if (child.pid > 0 && ::waitpid(child.pid, &status, WNOHANG) == child.pid) {
        child.pid = -1;
        return absl::UnavailableError("the Swift " + child.name + " server exited (status " +
                                      std::to_string(status) + ") while starting:\n" + LogTail());
      }
    }
    if (Connects(account_port_) && Connects(container_port_) && Connects(object_port_) &&
        Healthy(proxy_port_))
      return absl::OkStatus();
    if (std::chrono::steady_clock::now() > deadline)
      return absl::DeadlineExceededError("Swift did not answer on " + endpoint_ +
                                         "/healthcheck within 60 s:\n" + LogTail());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void SwiftS3Server::Stop() {
  for (const Child& child : children_)
    if (child.pid > 0) ::kill(child.pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (Child& child : children_) {
    while (child.pid > 0) {
      int status = 0;
      pid_t done = ::waitpid(child.pid, &status, WNOHANG);
      if (done == child.pid || (done < 0 && errno != EINTR)) {
        child.pid = -1;
      } else if (std::chrono::steady_clock::now() > deadline) {
        ::kill(child.pid, SIGKILL);
        WaitExit(child.pid);
        child.pid = -1;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
}

SwiftS3Server::~SwiftS3Server() {
  Stop();
  if (!directory_.empty() && !options_.keep_directory) {
    std::error_code error;
    fs::remove_all(directory_, error);
  }
}

absl::Status SwiftS3Server::CreateBucket(const std::string& bucket, const S3Credentials& as) const {
  CurlResult result = Curl("/" + bucket, {"-X", "PUT"}, as);
  if (result.exit_code == 0 && result.http_status == 200) return absl::OkStatus();
  return absl::UnavailableError("creating bucket " + bucket + " at " + endpoint_ +
                                " failed: curl exit " + std::to_string(result.exit_code) +
                                ", HTTP " + std::to_string(result.http_status) + ": " +
                                result.body + result.error);
}

CurlResult SwiftS3Server::Curl(const std::string& path, const std::vector<std::string>& arguments,
                               const S3Credentials& as) const {
  CurlResult result;
  const fs::path base = fs::path(directory_) / "curl" / std::to_string(curl_runs_.fetch_add(1));
  const std::string netrc = base.string() + ".netrc", body = base.string() + ".body",
                    headers = base.string() + ".headers", status = base.string() + ".status",
                    error = base.string() + ".stderr";
  // The netrc file, because curl splits --user at the first colon and the access key holds one.
  absl::Status written = WriteFile(
      netrc, "machine 127.0.0.1 login " + as.access_key + " password " + as.secret_key + "\n",
      0600);
  if (!written.ok()) {
    result.error = written.ToString();
    return result;
  }
  std::vector<std::string> argv = {
      kCurl,          "--silent",    "--show-error", "--aws-sigv4", "aws:amz:" + region_ + ":s3",
      "--netrc-file", netrc,         "--output",     body,          "--dump-header",
      headers,        "--write-out", "%{http_code}"};
  bool has_payload_hash = false;
  for (const std::string& argument : arguments) {
    if (argument.size() >= 21 && ::strncasecmp(argument.c_str(), "x-amz-content-sha256:", 21) == 0)
      has_payload_hash = true;
  }
  if (!has_payload_hash) {
    argv.push_back("--header");
    argv.push_back("x-amz-content-sha256: UNSIGNED-PAYLOAD");
  }
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  argv.push_back(endpoint_ + path);
  auto pid = StartProcess({.argv = argv, .stdout_path = status, .stderr_path = error});
  if (!pid.ok()) {
    result.error = pid.status().ToString();
    return result;
  }
  result.exit_code = WaitExit(*pid);
  result.http_status = std::atoi(ReadFile(status).c_str());
  result.body = ReadFile(body);
  result.headers = ReadFile(headers);
  result.error = ReadFile(error);
  for (const std::string& file : {netrc, body, headers, status, error}) ::unlink(file.c_str());
  return result;
}

std::string SwiftS3Server::LogTail(int lines) const {
  std::string text;
  for (const char* name : {"proxy", "account", "container", "object"}) {
    fs::path log = fs::path(directory_) / (std::string(name) + ".log");
    text += log.string() + ":\n" + Tail(log, lines);
  }
  return text;
}

}  // namespace tributary::test_support
