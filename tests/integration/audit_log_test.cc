// Tokens and the audit log against a real PostgreSQL: expiry and revocation, and an audit log
// that the service's own connection can append to but never change.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <pqxx/pqxx>
#include <thread>

#include "provenance/repository.h"
#include "services/postgres_cluster.h"
#include "tests/integration/fresh_database.h"

namespace tributary::provenance {
namespace {

namespace fs = std::filesystem;

NewToken Token(Role role, const std::string& centre, const std::string& digest,
               std::int64_t expires_in_seconds = 0) {
  NewToken token;
  token.role = role;
  token.centre = centre;
  token.token_sha256 = digest;
  token.expires_in_seconds = expires_in_seconds;
  return token;
}

AuditFilter Filter(const std::string& since, std::int64_t token_id, const std::string& rpc) {
  AuditFilter filter;
  filter.since = since;
  filter.token_id = token_id;
  filter.rpc = rpc;
  return filter;
}

class AuditDatabase : public FreshDatabase {
 protected:
  AuditDatabase() : FreshDatabase("trib_audit_pg_") {}
};

TEST_F(AuditDatabase, TokensExpireAndAreRevokedAndTheAuditLogIsAppendOnly) {
  ASSERT_TRUE(repository_->AddCentre("centre-x", std::string(64, 'c')).ok());
  NewToken uploader = Token(Role::kUploader, "centre-x", "u1");
  EXPECT_EQ(repository_->CreateToken(Token(Role::kUploader, "", "u0")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(repository_->CreateToken(Token(Role::kResearcher, "centre-x", "r0")).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto created = repository_->CreateToken(uploader);
  ASSERT_TRUE(created.ok()) << created.status();
  auto principal = repository_->Authenticate("u1");
  ASSERT_TRUE(principal.ok());
  EXPECT_EQ(principal->centre_name, "centre-x");
  auto expiring = repository_->CreateToken(Token(Role::kResearcher, "", "r1", 1));
  ASSERT_TRUE(expiring.ok());
  EXPECT_FALSE(expiring->expires_at.empty());
  EXPECT_TRUE(repository_->Authenticate("r1").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(repository_->Authenticate("r1").status().code(), absl::StatusCode::kUnauthenticated);
  ASSERT_TRUE(repository_->RevokeToken(created->id).ok());
  EXPECT_EQ(repository_->Authenticate("u1").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(repository_->RevokeToken(999999).status().code(), absl::StatusCode::kNotFound);

  AuditEntry entry;
  entry.at_unix_micros = 1700000000123456;
  entry.token_id = created->id;
  entry.role = "uploader";
  entry.centre_id = principal->centre_id;
  entry.rpc = "/tributary.v1.Admin/GetStudy";
  entry.object = "study=7 it's";
  entry.outcome = "NOT_FOUND";
  entry.peer = "ipv4:127.0.0.1:5";
  AuditEntry anonymous = entry;
  anonymous.token_id = 0;
  anonymous.role = "";
  anonymous.centre_id = 0;
  anonymous.outcome = "UNAUTHENTICATED";
  ASSERT_TRUE(repository_->AppendAudit({entry, anonymous}).ok());
  auto listed = repository_->ListAudit(Filter("", 0, "GetStudy"));
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].at, "2023-11-14T22:13:20.123456Z");
  auto by_token = repository_->ListAudit(Filter("", created->id, ""));
  ASSERT_TRUE(by_token.ok());
  ASSERT_EQ(by_token->size(), 1u);
  EXPECT_EQ((*by_token)[0].object, "study=7 it's");
  EXPECT_EQ((*by_token)[0].centre, "centre-x");
  EXPECT_EQ(repository_->ListAudit(Filter("2024-01-01T00:00:00Z", 0, ""))->size(), 0u);
  EXPECT_EQ(repository_->ListAudit(Filter("not a time", 0, "")).status().code(),
            absl::StatusCode::kInvalidArgument);

  // The same role the service connects as (the cluster owner) cannot change or remove a row.
  pqxx::connection connection(cluster_->url());
  for (const char* statement :
       {"UPDATE audit_log SET outcome = 'OK'", "DELETE FROM audit_log", "TRUNCATE audit_log"}) {
    pqxx::work w(connection);
    EXPECT_THROW(w.exec(statement), pqxx::sql_error) << statement;
  }
  pqxx::work w(connection);
  EXPECT_EQ(w.exec("SELECT count(*) FROM audit_log WHERE outcome <> 'OK'")[0][0].as<int>(), 2);
}

}  // namespace
}  // namespace tributary::provenance
