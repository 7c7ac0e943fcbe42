#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "provenance/repository.h"
#include "services/postgres_cluster.h"

namespace tributary::provenance {

// A throwaway PostgreSQL cluster per test (the launcher the server uses, in a temporary folder,
// never durable) with the schema migrated, for tests that change or stop the cluster itself.
class FreshDatabase : public ::testing::Test {
 protected:
  explicit FreshDatabase(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / (prefix_ + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    auto cluster = services::PostgresCluster::Start(dir_.string(), {.durable = false});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    auto repository = Repository::Connect(cluster_->url(), 2);
    ASSERT_TRUE(repository.ok()) << repository.status();
    repository_ = std::move(*repository);
    ASSERT_TRUE(repository_->Migrate().ok());
  }
  void TearDown() override {
    repository_.reset();
    cluster_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string prefix_;
  std::filesystem::path dir_;
  std::unique_ptr<services::PostgresCluster> cluster_;
  std::unique_ptr<Repository> repository_;
};

}  // namespace tributary::provenance
