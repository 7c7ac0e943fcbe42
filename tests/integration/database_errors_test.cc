// How the repository reports what PostgreSQL (or libpqxx) refused: only what a retry can cure comes
// back UNAVAILABLE or ABORTED; constraint violations and client-side errors do not.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <pqxx/pqxx>

#include "provenance/repository.h"
#include "services/postgres_cluster.h"
#include "tests/integration/fresh_database.h"

namespace tributary::provenance {
namespace {

namespace fs = std::filesystem;

class DatabaseErrors : public FreshDatabase {
 protected:
  DatabaseErrors() : FreshDatabase("trib_pgerr_") {}
};

TEST_F(DatabaseErrors, UniqueViolationIsAlreadyExistsNotUnavailable) {
  ASSERT_TRUE(repository_->AddCentre("first", std::string(64, '1')).ok());
  // Another centre under a token digest that exists: tokens.token_sha256 is UNIQUE (23505).
  auto second = repository_->AddCentre("second", std::string(64, '1'));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists) << second.status();
  // Nothing of it was kept, and the connection it ran on still works.
  auto centres = repository_->ListCentres();
  ASSERT_TRUE(centres.ok()) << centres.status();
  EXPECT_EQ(centres->size(), 1u);
}

TEST_F(DatabaseErrors, ClientSideErrorIsInternalNotUnavailable) {
  {
    // A row libpqxx cannot convert (a NULL where the code reads a string): a bug, not an outage.
    pqxx::connection admin(cluster_->url());
    pqxx::work w(admin);
    w.exec("ALTER TABLE tokens DROP CONSTRAINT tokens_role_check");
    w.exec("ALTER TABLE tokens ALTER COLUMN role DROP NOT NULL");
    w.exec("INSERT INTO tokens (token_sha256, role) VALUES ('" + std::string(64, '2') + "', NULL)");
    w.commit();
  }
  auto principal = repository_->Authenticate(std::string(64, '2'));
  EXPECT_EQ(principal.status().code(), absl::StatusCode::kInternal) << principal.status();
}

TEST_F(DatabaseErrors, StoppedClusterIsUnavailable) {
  ASSERT_TRUE(repository_->ListCentres().ok());  // a pooled connection, then the server goes
  ASSERT_TRUE(cluster_->Stop().ok());
  auto pooled = repository_->ListCentres();
  EXPECT_EQ(pooled.status().code(), absl::StatusCode::kUnavailable) << pooled.status();
  auto fresh = repository_->AddCentre("while-down", std::string(64, '3'));
  EXPECT_EQ(fresh.status().code(), absl::StatusCode::kUnavailable) << fresh.status();
  ASSERT_TRUE(cluster_->StartAgain().ok());
  EXPECT_TRUE(repository_->ListCentres().ok());
}

}  // namespace
}  // namespace tributary::provenance
