#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace tributary::services {

// A PostgreSQL cluster of our own under `directory` (pgdata/, run/ for the Unix socket,
// postgres.log), reachable only through its Unix socket. Created with initdb on first start;
// started with pg_ctl; stopped when this object is destroyed. PostgreSQL refuses to run as root, so
// as root the cluster belongs to, and runs as, the `postgres` system user. Used by tributary-server
// without
// --database-url, and by the tests.
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
  absl::Status Stop();
  absl::Status StartAgain();

 private:
  PostgresCluster() = default;
  absl::Status Run(const std::vector<std::string>& argv) const;
  std::vector<std::string> AsOwner(std::vector<std::string> argv) const;

  std::string bin_dir_;
  std::string data_dir_;
  std::string socket_dir_;
  std::string log_file_;
  std::string url_;
  Options options_;
  bool as_postgres_user_ = false;
  bool running_ = false;
};

}  // namespace tributary::services
