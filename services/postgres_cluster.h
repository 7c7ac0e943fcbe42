#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace tributary::services {

// A PostgreSQL cluster of our own under `directory` (pgdata/, run/ for the Unix socket,
// postgres.log; all 0700/0600, owned by the cluster's user), reachable only through its Unix socket
// and only by this process's OS user (peer authentication). Created with initdb on first start;
// started with pg_ctl; stopped when this object is destroyed. PostgreSQL refuses to run as root, so
// as root the cluster belongs to, and runs as, the `postgres` system user. Used by tributary-server
// without --database-url, and by the tests.
class PostgresCluster {
 public:
  struct Options {
    bool durable = true;  // false: fsync=off, for throwaway test clusters
  };

  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start(const std::string& directory,
                                                                Options options);
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start(const std::string& directory) {
    return Start(directory, Options{});
  }
  ~PostgresCluster();

  // libpq URL of the `tributary` database.
  const std::string& url() const { return url_; }
  const std::string& socket_dir() const { return socket_dir_; }
  absl::Status Stop();
  absl::Status StartAgain();

 private:
  PostgresCluster() = default;
  absl::Status Run(const std::vector<std::string>& argv, bool as_owner = true) const;
  absl::Status WriteAuthentication() const;
  std::vector<std::string> AsOwner(std::vector<std::string> argv) const;

  std::string bin_dir_;
  std::string data_dir_;
  std::string socket_dir_;
  std::string log_file_;
  std::string url_;
  Options options_;
  std::string server_user_;
  unsigned owner_uid_ = 0;
  unsigned owner_gid_ = 0;
  bool as_postgres_user_ = false;
  bool temporary_socket_dir_ = false;
  bool running_ = false;
};

}  // namespace tributary::services
