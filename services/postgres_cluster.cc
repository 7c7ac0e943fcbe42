#include "services/postgres_cluster.h"

#include <pwd.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/hash.h"
#include "services/subprocess.h"

namespace tributary::services {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxSocketPath = 100;  // sun_path is 108 bytes with ".s.PGSQL.5432"

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

}  // namespace

std::vector<std::string> PostgresCluster::AsOwner(std::vector<std::string> argv) const {
  if (!as_postgres_user_) return argv;
  std::vector<std::string> wrapped = {"runuser", "-u", "postgres", "--"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

absl::Status PostgresCluster::Run(const std::vector<std::string>& argv) const {
  ProcessResult result = RunProcess(AsOwner(argv));
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
  fs::path socket = root / "run";
  if (socket.string().size() > kMaxSocketPath) {
    // Unix socket paths are limited; a long data directory gets its socket under /tmp.
    socket = fs::path("/tmp") / ("tributary-pg-" + ToHex(Sha256(root.string())).substr(0, 16));
  }
  cluster->socket_dir_ = socket.string();
  fs::create_directories(socket, error);

  if (::geteuid() == 0) {
    struct passwd* postgres = ::getpwnam("postgres");
    if (postgres == nullptr) {
      return absl::FailedPreconditionError(
          "running as root, and PostgreSQL refuses root: the `postgres` system user is needed");
    }
    cluster->as_postgres_user_ = true;
    for (const fs::path& p : {root, socket}) {
      if (::chown(p.c_str(), postgres->pw_uid, postgres->pw_gid) != 0) {
        return absl::PermissionDeniedError("cannot hand " + p.string() + " to the postgres user");
      }
    }
    if (fs::exists(cluster->data_dir_)) {
      ProcessResult chown = RunProcess({"chown", "-R", "postgres:postgres", cluster->data_dir_});
      if (chown.exit_code != 0) return absl::PermissionDeniedError("chown failed: " + chown.output);
    }
    ProcessResult reach =
        RunProcess({"runuser", "-u", "postgres", "--", "test", "-w", root.string()});
    if (reach.exit_code != 0) {
      return absl::PermissionDeniedError(
          "the postgres user cannot write " + root.string() +
          " (a parent folder is not accessible to it); use a data directory outside /root or pass "
          "--database-url");
    }
  }

  bool fresh = !fs::exists(fs::path(cluster->data_dir_) / "PG_VERSION");
  if (fresh) {
    std::vector<std::string> initdb = {cluster->bin_dir_ + "/initdb",
                                       "-D",
                                       cluster->data_dir_,
                                       "-U",
                                       "tributary",
                                       "-A",
                                       "trust",
                                       "-E",
                                       "UTF8",
                                       "--locale=C"};
    if (!options.durable) initdb.push_back("--no-sync");
    TRIB_RETURN_IF_ERROR(cluster->Run(initdb));
  }
  TRIB_RETURN_IF_ERROR(cluster->StartAgain());
  cluster->url_ = "postgresql:///tributary?host=" + cluster->socket_dir_ + "&user=tributary";
  if (fresh) {
    TRIB_RETURN_IF_ERROR(cluster->Run({cluster->bin_dir_ + "/createdb", "-h", cluster->socket_dir_,
                                       "-U", "tributary", "tributary"}));
  }
  return cluster;
}

absl::Status PostgresCluster::StartAgain() {
  // A server killed without stopping its cluster leaves it running: adopt it.
  ProcessResult status = RunProcess(AsOwner({bin_dir_ + "/pg_ctl", "-D", data_dir_, "status"}));
  if (status.exit_code == 0) {
    running_ = true;
    return absl::OkStatus();
  }
  std::string settings = "-c listen_addresses='' -c unix_socket_directories='" + socket_dir_ +
                         "' -c max_connections=200";
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

PostgresCluster::~PostgresCluster() { Stop().IgnoreError(); }

}  // namespace tributary::services
