// The repository against a real PostgreSQL: a throwaway cluster started by the test (initdb +
// pg_ctl on a Unix socket in a temporary folder; as the postgres user when run as root).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>
#include <tuple>

#include "provenance/record_batcher.h"
#include "provenance/repository.h"
#include "services/postgres_cluster.h"

namespace tributary::provenance {
namespace {

namespace fs = std::filesystem;

class Database : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("trib_pg_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    auto cluster = services::PostgresCluster::Start(dir_->string(), {.durable = false});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    auto repository = Repository::Connect(cluster_->url(), 4);
    ASSERT_TRUE(repository.ok()) << repository.status();
    repository_ = std::move(*repository);
    ASSERT_TRUE(repository_->Migrate().ok());
  }

  // A fresh centre per test keeps the tests independent of each other.
  Principal NewCentre(const std::string& name) {
    static int counter = 0;
    std::string unique = name + "-" + std::to_string(++counter);
    std::string token_digest = std::string(60, 'a') + std::to_string(1000 + counter);
    auto centre = repository_->AddCentre(unique, token_digest);
    EXPECT_TRUE(centre.ok()) << centre.status();
    auto principal = repository_->Authenticate(token_digest);
    EXPECT_TRUE(principal.ok());
    return *principal;
  }

  InstanceRecord Record(const Principal& p, std::int64_t upload, const std::string& sop,
                        const std::string& digest) {
    InstanceRecord r;
    r.centre_id = p.centre_id;
    r.upload_id = upload;
    r.patient_pseudonym = "TRBPATIENT" + p.centre_name;
    r.study_uid = "2.25.1" + std::to_string(p.centre_id);
    r.series_uid = "2.25.2" + std::to_string(p.centre_id);
    r.sop_instance_uid = sop;
    r.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
    r.transfer_syntax_uid = "1.2.840.10008.1.2.1";
    r.modality = "CT";
    r.blob_sha256 = "b" + digest.substr(1);
    r.blob_size = 1000;
    r.original_digest = digest;
    r.profile_edition = "test";
    r.options = "retain-modified-dates";
    r.software_version = "tributary test";
    r.date_shift_days = -10;
    return r;
  }

  static fs::path* dir_;
  static services::PostgresCluster* cluster_;
  std::unique_ptr<Repository> repository_;
};

fs::path* Database::dir_ = nullptr;
services::PostgresCluster* Database::cluster_ = nullptr;

TEST_F(Database, MigrationsAreIdempotentAndConcurrentSafe) {
  std::vector<std::thread> threads;
  std::vector<int> versions(4, -1);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto repository = Repository::Connect(cluster_->url(), 1);
      if (!repository.ok()) return;
      auto version = (*repository)->Migrate();
      if (version.ok()) versions[i] = *version;
    });
  }
  for (auto& t : threads) t.join();
  for (int v : versions) EXPECT_GE(v, 3);  // 0003_centre_keyed_uids and any later ones
  for (int v : versions) EXPECT_EQ(v, versions[0]);
}

TEST_F(Database, CrossCentreDuplicatesListsStudiesSentByMoreThanOneCentre) {
  Principal north = NewCentre("dup-north");
  Principal south = NewCentre("dup-south");
  Principal east = NewCentre("dup-east");
  auto north_upload = repository_->StartUpload(north, "dup-n");
  auto south_upload = repository_->StartUpload(south, "dup-s");
  auto east_upload = repository_->StartUpload(east, "dup-e");
  ASSERT_TRUE(north_upload.ok() && south_upload.ok() && east_upload.ok());
  auto fingerprint = [](char c) { return std::string(64, c); };
  // North and south sent the same three originals (each under its own UIDs); south also sent one
  // of its own; east sent one original nobody else has, and one instance without a fingerprint.
  for (int i = 0; i < 3; ++i) {
    std::string n = std::to_string(i);
    InstanceRecord a = Record(north, *north_upload, "2.25.7100" + n, std::string(63, 'd') + n);
    a.original_fingerprint = fingerprint(static_cast<char>('1' + i));
    InstanceRecord b = Record(south, *south_upload, "2.25.7200" + n, std::string(63, 'e') + n);
    b.original_fingerprint = a.original_fingerprint;
    ASSERT_EQ(repository_->RecordInstance(a)->result, RecordResult::kStored);
    ASSERT_EQ(repository_->RecordInstance(b)->result, RecordResult::kStored);
  }
  InstanceRecord own = Record(south, *south_upload, "2.25.72009", std::string(63, 'e') + "9");
  own.original_fingerprint = fingerprint('9');
  ASSERT_EQ(repository_->RecordInstance(own)->result, RecordResult::kStored);
  InstanceRecord lone = Record(east, *east_upload, "2.25.73000", std::string(63, 'f') + "0");
  lone.original_fingerprint = fingerprint('8');
  ASSERT_EQ(repository_->RecordInstance(lone)->result, RecordResult::kStored);
  InstanceRecord legacy = Record(east, *east_upload, "2.25.73001", std::string(63, 'f') + "1");
  ASSERT_EQ(repository_->RecordInstance(legacy)->result, RecordResult::kStored);

  auto duplicates = repository_->CrossCentreDuplicates();
  ASSERT_TRUE(duplicates.ok()) << duplicates.status();
  std::map<std::string, CrossCentreDuplicate> by_centre;
  for (const auto& d : *duplicates) by_centre[d.study.centre] = d;
  EXPECT_EQ(by_centre.count(east.centre_name), 0u);
  ASSERT_EQ(by_centre.count(north.centre_name), 1u);
  ASSERT_EQ(by_centre.count(south.centre_name), 1u);
  const CrossCentreDuplicate& n = by_centre[north.centre_name];
  const CrossCentreDuplicate& s = by_centre[south.centre_name];
  EXPECT_EQ(n.study.study_uid, "2.25.1" + std::to_string(north.centre_id));
  EXPECT_EQ(n.study.instance_count, 3);
  EXPECT_EQ(s.study.instance_count, 4);
  ASSERT_EQ(n.also_sent_as.size(), 1u);
  ASSERT_EQ(s.also_sent_as.size(), 1u);
  EXPECT_EQ(n.also_sent_as[0].study_id, s.study.id);
  EXPECT_EQ(n.also_sent_as[0].centre, south.centre_name);
  EXPECT_EQ(n.also_sent_as[0].shared_instance_count, 3);
  EXPECT_EQ(s.also_sent_as[0].study_id, n.study.id);
  EXPECT_EQ(s.also_sent_as[0].shared_instance_count, 3);

  // The fingerprint is stored with the instance and the new rows say which UID rule made them.
  pqxx::connection connection(cluster_->url());
  pqxx::work w(connection);
  pqxx::result rows = w.exec_params(
      "SELECT original_fingerprint, uid_scheme FROM instances WHERE sop_instance_uid = ANY($1)",
      std::string("{2.25.71000,2.25.73001}"));
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) {
    EXPECT_EQ(row[1].as<int>(), 2);
    if (!row[0].is_null()) {
      EXPECT_EQ(row[0].as<std::string>(), fingerprint('1'));
    }
  }
}

// A database written before migration 0003 (centre-independent UIDs, no fingerprints) migrates
// without losing or changing a row, and its studies read as before.
TEST_F(Database, Migration0003KeepsWhatTheOldMappingStored) {
  {
    pqxx::connection admin(cluster_->url());
    pqxx::nontransaction n(admin);
    n.exec("DROP DATABASE IF EXISTS trib_legacy");
    n.exec("CREATE DATABASE trib_legacy");
  }
  std::string url = cluster_->url();
  std::size_t at = url.find("/tributary?");
  ASSERT_NE(at, std::string::npos) << url;
  url.replace(at, std::string("/tributary?").size(), "/trib_legacy?");
  const fs::path migrations = fs::path(__FILE__).parent_path() / "../../provenance/migrations";
  {
    pqxx::connection connection(url);
    pqxx::work w(connection);
    for (const char* name : {"0001_ingest.sql", "0002_harmonization.sql"}) {
      std::ifstream in(migrations / name);
      ASSERT_TRUE(in) << (migrations / name);
      std::stringstream sql;
      sql << in.rdbuf();
      w.exec(sql.str());
    }
    w.exec(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
        "applied_at timestamptz NOT NULL DEFAULT now())");
    w.exec(
        "INSERT INTO schema_migrations (version, name) VALUES (1, 'ingest'), (2, 'harmonization')");
    w.exec("INSERT INTO centres (name) VALUES ('old-centre')");
    w.exec(
        "INSERT INTO tokens (token_sha256, role, centre_id) VALUES (repeat('a', 64), 'uploader', "
        "1)");
    w.exec("INSERT INTO uploads (centre_id, token_id, request_id) VALUES (1, 1, 'r')");
    w.exec("INSERT INTO patients (centre_id, pseudonym) VALUES (1, 'TRBOLD')");
    w.exec("INSERT INTO studies (patient_id, study_uid) VALUES (1, '2.25.111')");
    w.exec("INSERT INTO series (study_id, series_uid, modality) VALUES (1, '2.25.222', 'CT')");
    w.exec("INSERT INTO blobs (sha256, size) VALUES (repeat('b', 64), 10)");
    w.exec(
        "INSERT INTO deid_methods (profile_edition, options, software_version) VALUES ('e', '', "
        "'v')");
    w.exec(
        "INSERT INTO instances (series_id, centre_id, sop_instance_uid, sop_class_uid, "
        "transfer_syntax_uid, blob_sha256, original_digest, upload_id, deid_method_id, "
        "date_shift_days) VALUES (1, 1, '2.25.333', '1.2.840.10008.5.1.4.1.1.2', "
        "'1.2.840.10008.1.2.1', repeat('b', 64), repeat('d', 64), 1, 1, -5)");
    w.commit();
  }
  auto legacy = Repository::Connect(url, 1);
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  auto version = (*legacy)->Migrate();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_GE(*version, 3);

  Principal operator_principal;
  operator_principal.role = Role::kOperator;
  auto studies = (*legacy)->ListStudies(operator_principal, "", 10);
  ASSERT_TRUE(studies.ok()) << studies.status();
  ASSERT_EQ(studies->size(), 1u);
  EXPECT_EQ((*studies)[0].study_uid, "2.25.111");
  EXPECT_EQ((*studies)[0].patient_pseudonym, "TRBOLD");
  EXPECT_EQ((*studies)[0].instance_count, 1);
  auto found = (*legacy)->FindInstance(1, std::string(64, 'd'));
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->sop_instance_uid, "2.25.333");
  auto duplicates = (*legacy)->CrossCentreDuplicates();
  ASSERT_TRUE(duplicates.ok()) << duplicates.status();
  EXPECT_TRUE(duplicates->empty());
  {
    pqxx::connection connection(url);
    pqxx::work w(connection);
    pqxx::row row =
        w.exec1("SELECT original_fingerprint IS NULL, uid_scheme, date_shift_days FROM instances");
    EXPECT_TRUE(row[0].as<bool>());
    EXPECT_EQ(row[1].as<int>(), 1) << "written under the centre-independent rule";
    EXPECT_EQ(row[2].as<int>(), -5);
  }
  legacy->reset();
  pqxx::connection admin(cluster_->url());
  pqxx::nontransaction n(admin);
  n.exec("DROP DATABASE trib_legacy");
}

TEST_F(Database, CentresAndTokens) {
  auto centre = repository_->AddCentre("alpha", std::string(64, 'c'));
  ASSERT_TRUE(centre.ok()) << centre.status();
  EXPECT_EQ(repository_->AddCentre("alpha", std::string(64, 'd')).status().code(),
            absl::StatusCode::kAlreadyExists);
  auto principal = repository_->Authenticate(std::string(64, 'c'));
  ASSERT_TRUE(principal.ok());
  EXPECT_EQ(principal->role, Role::kUploader);
  EXPECT_EQ(principal->centre_name, "alpha");
  EXPECT_EQ(repository_->Authenticate(std::string(64, 'e')).status().code(),
            absl::StatusCode::kUnauthenticated);
  ASSERT_TRUE(repository_->AddOperatorToken(std::string(64, 'f')).ok());
  ASSERT_TRUE(repository_->AddOperatorToken(std::string(64, 'f')).ok());  // idempotent
  auto op = repository_->Authenticate(std::string(64, 'f'));
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->role, Role::kOperator);
  EXPECT_EQ(op->centre_id, 0);
  EXPECT_TRUE(repository_->HasOperatorToken().value());
}

TEST_F(Database, StoredThenAlreadyStoredThenConflict) {
  Principal p = NewCentre("beta");
  auto upload = repository_->StartUpload(p, "req-1");
  ASSERT_TRUE(upload.ok());
  EXPECT_EQ(repository_->StartUpload(p, "req-1").value(), *upload)
      << "same request id, same upload";
  EXPECT_NE(repository_->StartUpload(p, "req-2").value(), *upload);

  std::string digest(64, '1');
  auto first = repository_->RecordInstance(Record(p, *upload, "2.25.900", digest));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->result, RecordResult::kStored);
  auto again = repository_->RecordInstance(Record(p, *upload, "2.25.900", digest));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->result, RecordResult::kAlreadyStored);
  auto conflict = repository_->RecordInstance(Record(p, *upload, "2.25.900", std::string(64, '2')));
  ASSERT_TRUE(conflict.ok());
  EXPECT_EQ(conflict->result, RecordResult::kConflict);

  auto found = repository_->FindInstance(p.centre_id, digest);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->sop_instance_uid, "2.25.900");
  auto stored =
      repository_->FindStored(p.centre_id, {digest, std::string(64, '2'), std::string(64, '3')});
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].first, digest);
  EXPECT_EQ((*stored)[0].second, "2.25.1" + std::to_string(p.centre_id));

  // Another centre never sees this centre's digests.
  Principal other = NewCentre("gamma");
  EXPECT_TRUE(repository_->FindStored(other.centre_id, {digest}).value().empty());
}

TEST_F(Database, ConcurrentRecordsOfOneStudyAllLand) {
  Principal p = NewCentre("delta");
  std::int64_t upload = repository_->StartUpload(p, "req").value();
  std::vector<std::thread> threads;
  std::atomic<int> stored{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::string n = std::to_string(t * 100 + i);
        auto r = repository_->RecordInstance(Record(
            p, upload, "2.25.77" + n, std::string(60, '7') + std::string(4 - n.size(), '0') + n));
        if (r.ok() && r->result == RecordResult::kStored) ++stored;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(stored.load(), 100);
  auto studies = repository_->ListStudies(p, "", 10);
  ASSERT_TRUE(studies.ok());
  ASSERT_EQ(studies->size(), 1u);
  EXPECT_EQ((*studies)[0].instance_count, 100);
  EXPECT_EQ((*studies)[0].series_count, 1);
}

// Group commit: records that arrive together share one transaction (one xmin), each caller gets
// its own outcome, and a record the database refuses fails only its own caller.
TEST_F(Database, BatchedRecordsShareACommitAndABadRecordFailsOnlyItself) {
  Principal p = NewCentre("batch");
  std::int64_t upload = repository_->StartUpload(p, "req").value();
  // Waits until all five are queued (a long max_wait, so that no timing decides the test).
  RecordBatcher batcher(
      *repository_,
      {.max_batch = 5, .max_wait = std::chrono::seconds(20), .max_concurrent_batches = 1});
  std::vector<InstanceRecord> records = {
      Record(p, upload, "2.25.8800", std::string(64, '1')),
      Record(p, upload, "2.25.8801", std::string(64, '2')),
      Record(p, upload, "2.25.8800", std::string(64, '1')),     // the first one again
      Record(p, upload, "2.25.8801", std::string(64, '3')),     // the second's UID, other bytes
      Record(p, 987654321, "2.25.8804", std::string(64, '4')),  // no such upload: refused
  };
  std::vector<absl::StatusOr<StoredInstance>> results(records.size(),
                                                      absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < records.size(); ++i)
    threads.emplace_back([&, i] { results[i] = batcher.RecordInstance(records[i]); });
  for (auto& t : threads) t.join();
  ASSERT_FALSE(results[4].ok());
  for (int i : {0, 1, 2, 3}) ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
  // Which of two identical records lands first is the threads' order.
  int stored = 0, already = 0;
  for (int i : {0, 2}) {
    stored += results[i]->result == RecordResult::kStored;
    already += results[i]->result == RecordResult::kAlreadyStored;
  }
  EXPECT_EQ(stored, 1);
  EXPECT_EQ(already, 1);
  EXPECT_EQ(results[1]->result == RecordResult::kStored,
            results[3]->result == RecordResult::kConflict);
  EXPECT_NE(results[1]->result, results[3]->result);

  // The batch with the refused record was undone and its records recorded one by one; a batch of
  // good records is one transaction.
  std::vector<InstanceRecord> good;
  for (int i = 0; i < 5; ++i)
    good.push_back(Record(p, upload, "2.25.881" + std::to_string(i),
                          std::string(63, '5') + std::to_string(i)));
  threads.clear();
  for (std::size_t i = 0; i < good.size(); ++i)
    threads.emplace_back([&, i] { results[i] = batcher.RecordInstance(good[i]); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    EXPECT_EQ(results[i]->result, RecordResult::kStored);
  }
  pqxx::connection sql(cluster_->url());
  pqxx::nontransaction n(sql);
  pqxx::row row = n.exec_params1(
      "SELECT count(*), count(DISTINCT xmin::text) FROM instances WHERE sop_instance_uid LIKE "
      "'2.25.881_'");
  EXPECT_EQ(row[0].as<int>(), 5);
  EXPECT_EQ(row[1].as<int>(), 1) << "one commit for the batch";
  EXPECT_EQ(
      n.exec_params1("SELECT count(*) FROM receipts WHERE upload_id = $1", upload)[0].as<int>(),
      4 + 5)
      << "one receipt per outcome, none of the undone batch";
}

TEST_F(Database, ManyConcurrentCallersOfTheBatcherEachGetTheirOwnOutcome) {
  Principal p = NewCentre("batchmany");
  std::int64_t upload = repository_->StartUpload(p, "req").value();
  RecordBatcher batcher(*repository_, {.max_batch = 7});
  std::vector<std::thread> threads;
  std::atomic<int> stored{0}, already{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        // Threads 0 and 1 send the same 25 records, as do 2 and 3, and so on.
        std::string n = std::to_string((t / 2) * 100 + i);
        auto r = batcher.RecordInstance(Record(
            p, upload, "2.25.66" + n, std::string(60, '6') + std::string(4 - n.size(), '0') + n));
        ASSERT_TRUE(r.ok()) << r.status();
        ++(r->result == RecordResult::kStored ? stored : already);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(stored.load(), 100);
  EXPECT_EQ(already.load(), 100);
  auto studies = repository_->ListStudies(p, "", 10);
  ASSERT_TRUE(studies.ok());
  ASSERT_EQ(studies->size(), 1u);
  EXPECT_EQ((*studies)[0].instance_count, 100);
}

// Every file of a series used to upsert its patient, study, series and method rows, and the row
// locks made concurrent files wait for each other's commits. Rows that exist are now only read;
// the study's last_received_at moves forward at most every few seconds.
TEST_F(Database, FilesOfAKnownSeriesLeaveItsRowsAloneAndRefreshTheStudyNowAndThen) {
  Principal p = NewCentre("theta");
  std::int64_t upload = repository_->StartUpload(p, "req").value();
  ASSERT_TRUE(
      repository_->RecordInstance(Record(p, upload, "2.25.4242000", std::string(64, 'c'))).ok());
  pqxx::connection sql(cluster_->url());
  const std::string study = "2.25.1" + std::to_string(p.centre_id);
  auto versions = [&] {
    pqxx::nontransaction n(sql);
    pqxx::row r = n.exec_params1(
        "SELECT pa.xmin::text, st.xmin::text, se.xmin::text, m.xmin::text, "
        "  st.last_received_at > now() - interval '1 minute' "
        "FROM studies st JOIN patients pa ON pa.id = st.patient_id "
        "JOIN series se ON se.study_id = st.id "
        "JOIN instances i ON i.series_id = se.id JOIN deid_methods m ON m.id = i.deid_method_id "
        "WHERE st.study_uid = $1 LIMIT 1",
        study);
    return std::make_tuple(r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                           r[3].as<std::string>(), r[4].as<bool>());
  };
  auto before = versions();
  for (int i = 1; i <= 5; ++i) {
    auto r = repository_->RecordInstance(Record(p, upload, "2.25.424200" + std::to_string(i),
                                                std::string(63, 'c') + std::to_string(i)));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->result, RecordResult::kStored);
  }
  EXPECT_EQ(versions(), before) << "a known patient, study, series or method row was rewritten";

  {
    pqxx::nontransaction n(sql);
    n.exec_params0(
        "UPDATE studies SET last_received_at = now() - interval '1 hour' "
        "WHERE study_uid = $1",
        study);
  }
  EXPECT_FALSE(std::get<4>(versions()));
  ASSERT_TRUE(
      repository_->RecordInstance(Record(p, upload, "2.25.4242009", std::string(63, 'd') + "9"))
          .ok());
  EXPECT_TRUE(std::get<4>(versions())) << "last_received_at was not moved forward";
  EXPECT_EQ(repository_->ListStudies(p, "", 10).value()[0].instance_count, 7);
}

TEST_F(Database, StudyCompletionAndVisibility) {
  Principal p = NewCentre("epsilon");
  Principal other = NewCentre("zeta");
  std::int64_t upload = repository_->StartUpload(p, "req").value();
  ASSERT_TRUE(
      repository_->RecordInstance(Record(p, upload, "2.25.500", std::string(64, '5'))).ok());
  ASSERT_TRUE(
      repository_->RecordInstance(Record(p, upload, "2.25.501", std::string(64, '6'))).ok());
  std::string study = "2.25.1" + std::to_string(p.centre_id);

  auto short_of = repository_->CompleteStudy(p, study, 3);
  ASSERT_TRUE(short_of.ok());
  EXPECT_EQ(short_of->stored_instance_count, 2);
  EXPECT_FALSE(short_of->complete);
  EXPECT_TRUE(repository_->CompleteStudy(p, study, 2).value().complete);
  EXPECT_EQ(repository_->CompleteStudy(other, study, 2).status().code(),
            absl::StatusCode::kNotFound);

  auto mine = repository_->ListStudies(p, "", 10).value();
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_FALSE(mine[0].completed_at.empty());
  EXPECT_EQ(mine[0].expected_instance_count, 2);
  EXPECT_TRUE(repository_->ListStudies(other, "", 10).value().empty());
  EXPECT_EQ(repository_->GetStudy(other, mine[0].id).status().code(), absl::StatusCode::kNotFound);
  auto shown = repository_->GetStudy(p, mine[0].id);
  ASSERT_TRUE(shown.ok());
  ASSERT_EQ(shown->second.size(), 1u);
  EXPECT_EQ(shown->second[0].instance_count, 2);
  Principal op;
  op.role = Role::kOperator;
  EXPECT_FALSE(repository_->ListStudies(op, p.centre_name, 10).value().empty());
}

// A rejection is recorded as its keyed digest, outcome, reason and detail, the time and the upload:
// the row read back holds exactly those, and no column beyond them.
TEST_F(Database, RejectionsAreRecordedWithoutPhi) {
  Principal p = NewCentre("eta");
  std::int64_t upload = repository_->StartUpload(p, "req").value();
  ASSERT_TRUE(
      repository_->RecordReceipt(upload, std::string(64, '9'), "REJECTED", "NOT_DICOM", "not DICOM")
          .ok());
  pqxx::connection connection(cluster_->url());
  pqxx::nontransaction n(connection);
  pqxx::result rows = n.exec_params(
      "SELECT original_digest, outcome, reason_code, detail, instance_id IS NULL, "
      "received_at IS NOT NULL FROM receipts WHERE upload_id = $1",
      upload);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0].as<std::string>(), std::string(64, '9'));
  EXPECT_EQ(rows[0][1].as<std::string>(), "REJECTED");
  EXPECT_EQ(rows[0][2].as<std::string>(), "NOT_DICOM");
  EXPECT_EQ(rows[0][3].as<std::string>(), "not DICOM");
  EXPECT_TRUE(rows[0][4].as<bool>());  // no instance: nothing of the file is kept
  EXPECT_TRUE(rows[0][5].as<bool>());
  pqxx::result columns = n.exec(
      "SELECT column_name FROM information_schema.columns WHERE table_name = 'receipts' "
      "ORDER BY column_name");
  std::vector<std::string> names;
  for (const auto& row : columns) names.push_back(row[0].as<std::string>());
  EXPECT_EQ(names,
            (std::vector<std::string>{"detail", "id", "instance_id", "original_digest", "outcome",
                                      "reason_code", "received_at", "upload_id"}));
}

TEST_F(Database, UnreachableDatabaseIsUnavailable) {
  auto repository =
      Repository::Connect("postgresql:///tributary?host=/nonexistent&user=tributary", 1);
  EXPECT_EQ(repository.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tributary::provenance
