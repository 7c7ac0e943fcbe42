#include "services/postgres_cluster.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/hash.h"
#include "services/subprocess.h"

namespace tributary::services {
namespace {

namespace fs = std::filesystem;

// sun_path holds 107 characters and a NUL; PostgreSQL appends "/.s.PGSQL.5432" (14) to the folder.
constexpr std::size_t kMaxSocketPath = 107 - 14;

absl::StatusOr<std::string> FindBinDir() {
  std::vector<fs::path> candidates;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", error)) {
    if (fs::exists(entry.path() / "bin" / "initdb")) candidates.push_back(entry.path() / "bin");
  }
  if (candidates.empty()) {
    return absl::FailedPreconditionError(
        "PostgreSQL server binaries not found under /usr/lib/postgresql (install the `postgresql` "
        "package, or pass --database-url)");
  }
  std::sort(candidates.begin(), candidates.end(), [](const fs::path& a, const fs::path& b) {
    return std::stoi(a.parent_path().filename()) < std::stoi(b.parent_path().filename());
  });
  return candidates.back().string();
}

absl::Status Errno(const std::string& what) {
  return absl::PermissionDeniedError(what + ": " + std::strerror(errno));
}

// Opens `path` without following a symbolic link in its last component, then sets owner and mode
// on the descriptor: a link planted where a folder or file is expected is refused, not followed.
absl::Status SecureOwnerAndMode(const fs::path& path, bool directory, uid_t uid, gid_t gid,
                                mode_t mode) {
  int fd = ::open(path.c_str(),
                  O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (directory ? O_DIRECTORY : O_NONBLOCK));
  if (fd < 0) return Errno("cannot open " + path.string() + " (a symbolic link is refused)");
  struct stat info {};
  absl::Status status = absl::OkStatus();
  if (::fstat(fd, &info) != 0) {
    status = Errno("cannot stat " + path.string());
  } else if (!directory && !S_ISREG(info.st_mode)) {
    status = absl::PermissionDeniedError(path.string() + " is not a regular file");
  } else if ((info.st_uid != uid || info.st_gid != gid) && ::fchown(fd, uid, gid) != 0) {
    status = Errno("cannot hand " + path.string() + " to uid " + std::to_string(uid));
  } else if ((info.st_mode & 07777) != mode && ::fchmod(fd, mode) != 0) {
    status = Errno("cannot chmod " + path.string());
  }
  ::close(fd);
  return status;
}

// mkdir (if absent) + SecureOwnerAndMode.
absl::Status MakePrivateDirectory(const fs::path& path, uid_t uid, gid_t gid) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
    return Errno("cannot create " + path.string());
  return SecureOwnerAndMode(path, true, uid, gid, 0700);
}

// chown -R that never follows a symbolic link (links themselves are re-owned with lchown).
absl::Status HandOverTree(const fs::path& root, uid_t uid, gid_t gid) {
  std::error_code error;
  auto own = [&](const fs::path& p) -> absl::Status {
    if (::fchownat(AT_FDCWD, p.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
      return Errno("cannot hand " + p.string() + " to the postgres user");
    return absl::OkStatus();
  };
  TRIB_RETURN_IF_ERROR(own(root));
  for (fs::recursive_directory_iterator it(root, error), end; !error && it != end;
       it.increment(error)) {
    TRIB_RETURN_IF_ERROR(own(it->path()));
  }
  if (error)
    return absl::PermissionDeniedError("cannot walk " + root.string() + ": " + error.message());
  return absl::OkStatus();
}

// Replaces `path` by a file holding `content`, mode 0600, owned by uid:gid (temporary file,
// O_EXCL|O_NOFOLLOW, fsync, rename).
absl::Status ReplacePrivateFile(const fs::path& path, const std::string& content, uid_t uid,
                                gid_t gid) {
  fs::path temp = path.string() + ".tributary-new";
  ::unlink(temp.c_str());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create " + temp.string());
  bool ok = ::fchown(fd, uid, gid) == 0 &&
            ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
            ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(temp.c_str(), path.c_str()) != 0) {
    absl::Status status = Errno("cannot write " + path.string());
    ::unlink(temp.c_str());
    return status;
  }
  return absl::OkStatus();
}

// The first socket directory a running postmaster recorded in postmaster.pid (line 5).
std::string RunningSocketDirectory(const std::string& data_dir) {
  std::ifstream in(fs::path(data_dir) / "postmaster.pid");
  std::string line;
  for (int i = 0; i < 5 && std::getline(in, line); ++i) {
  }
  return line;
}

}  // namespace

std::vector<std::string> PostgresCluster::AsOwner(std::vector<std::string> argv) const {
  if (!as_postgres_user_) return argv;
  std::vector<std::string> wrapped = {"runuser", "-u", "postgres", "--"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

absl::Status PostgresCluster::Run(const std::vector<std::string>& argv, bool as_owner) const {
  ProcessResult result = RunProcess(as_owner ? AsOwner(argv) : argv);
  if (result.exit_code == 0) return absl::OkStatus();
  std::string log;
  std::ifstream in(log_file_);
  std::string line;
  std::vector<std::string> tail;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (tail.size() > 5) tail.erase(tail.begin());
  }
  for (const std::string& l : tail) log += "\n  " + l;
  return absl::UnavailableError(argv[0] + " failed (exit " + std::to_string(result.exit_code) +
                                "): " + result.output +
                                (log.empty() ? "" : "\n" + log_file_ + ":" + log));
}

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Start(
    const std::string& directory, Options options) {
  std::unique_ptr<PostgresCluster> cluster(new PostgresCluster());
  cluster->options_ = options;
  auto bin = FindBinDir();
  if (!bin.ok()) return bin.status();
  cluster->bin_dir_ = *bin;
  std::error_code error;
  fs::create_directories(directory, error);
  if (error)
    return absl::PermissionDeniedError("cannot create " + directory + ": " + error.message());
  fs::path root = fs::absolute(directory);
  cluster->data_dir_ = (root / "pgdata").string();
  cluster->log_file_ = (root / "postgres.log").string();
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  struct passwd* self = ::getpwuid(uid);
  if (self == nullptr) return absl::FailedPreconditionError("this process's user has no name");
  cluster->server_user_ = self->pw_name;
  if (uid == 0) {
    struct passwd* postgres = ::getpwnam("postgres");
    if (postgres == nullptr) {
      return absl::FailedPreconditionError(
          "running as root, and PostgreSQL refuses root: the `postgres` system user is needed");
    }
    cluster->as_postgres_user_ = true;
    uid = postgres->pw_uid;
    gid = postgres->pw_gid;
  }
  cluster->owner_uid_ = uid;
  cluster->owner_gid_ = gid;
  // The cluster's folder, and everything in it, belongs to the cluster's user alone (0700).
  TRIB_RETURN_IF_ERROR(SecureOwnerAndMode(root, true, uid, gid, 0700));
  if (fs::exists(cluster->data_dir_) && cluster->as_postgres_user_)
    TRIB_RETURN_IF_ERROR(HandOverTree(cluster->data_dir_, uid, gid));
  if (fs::exists(cluster->log_file_))
    TRIB_RETURN_IF_ERROR(SecureOwnerAndMode(cluster->log_file_, false, uid, gid, 0600));
  if (cluster->as_postgres_user_) {
    ProcessResult reach =
        RunProcess({"runuser", "-u", "postgres", "--", "test", "-w", root.string()});
    if (reach.exit_code != 0) {
      return absl::PermissionDeniedError(
          "the postgres user cannot write " + root.string() +
          " (a parent folder is not accessible to it); use a data directory outside /root or pass "
          "--database-url");
    }
  }
  // The socket's folder: private to the cluster's user (0700). Unix socket paths are limited; a
  // long data directory gets a fresh, unpredictable folder in the system temporary folder instead.
  fs::path socket = root / "run";
  if (socket.string().size() > kMaxSocketPath) {
    std::string pattern = (fs::temp_directory_path() / "tributary-pg-XXXXXX").string();
    if (pattern.size() > kMaxSocketPath || ::mkdtemp(pattern.data()) == nullptr)
      return Errno("cannot create a socket folder in " + fs::temp_directory_path().string());
    socket = pattern;
    cluster->temporary_socket_dir_ = true;
  }
  cluster->socket_dir_ = socket.string();
  TRIB_RETURN_IF_ERROR(MakePrivateDirectory(socket, uid, gid));

  bool fresh = !fs::exists(fs::path(cluster->data_dir_) / "PG_VERSION");
  if (fresh) {
    std::vector<std::string> initdb = {cluster->bin_dir_ + "/initdb",
                                       "-D",
                                       cluster->data_dir_,
                                       "-U",
                                       "tributary",
                                       "--auth-local=peer",
                                       "--auth-host=reject",
                                       "-E",
                                       "UTF8",
                                       "--locale=C"};
    if (!options.durable) initdb.push_back("--no-sync");
    TRIB_RETURN_IF_ERROR(cluster->Run(initdb));
  }
  TRIB_RETURN_IF_ERROR(cluster->WriteAuthentication());
  TRIB_RETURN_IF_ERROR(cluster->StartAgain());
  cluster->url_ = "postgresql:///tributary?host=" + cluster->socket_dir_ + "&user=tributary";
  if (fresh) {
    TRIB_RETURN_IF_ERROR(cluster->Run({cluster->bin_dir_ + "/createdb", "-h", cluster->socket_dir_,
                                       "-U", "tributary", "tributary"},
                                      /*as_owner=*/false));
  }
  return cluster;
}

absl::Status PostgresCluster::WriteAuthentication() const {
  // Peer authentication: the kernel names the connecting process's user; only the server's own OS
  // user (root when the cluster runs as `postgres`) may connect, as the `tributary` role. Rewritten
  // at every start, so clusters initialised with trust authentication are closed too.
  TRIB_RETURN_IF_ERROR(ReplacePrivateFile(
      fs::path(data_dir_) / "pg_hba.conf",
      "# Written by tributary-server at every start (docs/SERVER.md): Unix socket only, peer\n"
      "# authentication, the server's OS user only.\n"
      "local all tributary peer map=tributary\n",
      owner_uid_, owner_gid_));
  return ReplacePrivateFile(
      fs::path(data_dir_) / "pg_ident.conf",
      "# Written by tributary-server at every start.\ntributary " + server_user_ + " tributary\n",
      owner_uid_, owner_gid_);
}

absl::Status PostgresCluster::StartAgain() {
  // A server killed without stopping its cluster leaves it running: adopt it, with the socket
  // folder it listens in, and make it read the authentication files again.
  ProcessResult status = RunProcess(AsOwner({bin_dir_ + "/pg_ctl", "-D", data_dir_, "status"}));
  if (status.exit_code == 0) {
    std::string running = RunningSocketDirectory(data_dir_);
    if (!running.empty() && running != socket_dir_) {
      if (temporary_socket_dir_) ::rmdir(socket_dir_.c_str());
      socket_dir_ = running;
      temporary_socket_dir_ = running.rfind(fs::temp_directory_path().string(), 0) == 0;
    }
    TRIB_RETURN_IF_ERROR(Run({bin_dir_ + "/pg_ctl", "-D", data_dir_, "reload"}));
    running_ = true;
    return absl::OkStatus();
  }
  std::string settings = "-c listen_addresses='' -c unix_socket_directories='" + socket_dir_ +
                         "' -c unix_socket_permissions=0700 -c max_connections=200";
  if (!options_.durable)
    settings += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off";
  TRIB_RETURN_IF_ERROR(Run({bin_dir_ + "/pg_ctl", "-D", data_dir_, "-l", log_file_, "-w", "-t",
                            "60", "-o", settings, "start"}));
  running_ = true;
  return absl::OkStatus();
}

absl::Status PostgresCluster::Stop() {
  if (!running_) return absl::OkStatus();
  running_ = false;
  return Run({bin_dir_ + "/pg_ctl", "-D", data_dir_, "-m", "fast", "-w", "-t", "60", "stop"});
}

PostgresCluster::~PostgresCluster() {
  Stop().IgnoreError();
  if (temporary_socket_dir_) ::rmdir(socket_dir_.c_str());
}

}  // namespace tributary::services
