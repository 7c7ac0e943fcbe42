#include "provenance/repository.h"

#include <condition_variable>
#include <mutex>
#include <pqxx/pqxx>

namespace tributary::provenance {
namespace {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

constexpr Migration kMigrations[] = {
#include "provenance/migrations.inc"
};

// A stable key for the migration advisory lock ("tributary" in ASCII, truncated).
constexpr long long kMigrationLock = 0x7472696275746172LL;

constexpr const char* kFindInstance =
    "SELECT st.study_uid, se.series_uid, i.sop_instance_uid, i.blob_sha256 FROM instances i "
    "JOIN series se ON se.id = i.series_id JOIN studies st ON st.id = se.study_id "
    "WHERE i.centre_id = $1 AND i.original_digest = $2";

// The whole record of a new instance in one statement: patient, study, series, blob, method,
// instance and receipt. Nothing is written when an instance with this SOP Instance UID or these
// original bytes exists; then no row comes back and the caller compares with the existing one.
// (The foreign keys are checked at the end of the statement, so they see the rows of the CTEs.)
//
// Every file of a study would otherwise upsert the same patient, study, series and method rows,
// and an upsert locks its row until commit: concurrent files of one study then waited for each
// other's commit (WAL flush included) one by one. So known rows are only read (`known`,
// `known_method`), and upserted only when missing, where the upsert also settles a concurrent
// first insert. The study's last_received_at is moved forward at most every 5 seconds: one file
// in that time takes the row lock; the others see a fresh value and leave the row alone.
constexpr const char* kRecordInstance =
    "WITH fresh AS (SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM instances "
    "    WHERE sop_instance_uid = $11 OR (centre_id = $1 AND original_digest = $14))), "
    "known AS (SELECT se.id AS series_id, st.id AS study_id FROM series se "
    "    JOIN studies st ON st.id = se.study_id JOIN patients pa ON pa.id = st.patient_id "
    "    WHERE se.series_uid = $4 AND st.study_uid = $3 AND pa.centre_id = $1 "
    "    AND pa.pseudonym = $2), "
    "unknown AS (SELECT 1 FROM fresh WHERE NOT EXISTS (SELECT 1 FROM known)), "
    "p AS (INSERT INTO patients (centre_id, pseudonym) SELECT $1, $2 FROM unknown "
    "    ON CONFLICT (centre_id, pseudonym) DO UPDATE SET pseudonym = EXCLUDED.pseudonym "
    "    RETURNING id), "
    "st AS (INSERT INTO studies (patient_id, study_uid) SELECT id, $3 FROM p "
    "    ON CONFLICT (study_uid) DO UPDATE SET last_received_at = now() RETURNING id), "
    "se AS (INSERT INTO series (study_id, series_uid, modality) SELECT id, $4, $5 FROM st "
    "    ON CONFLICT (series_uid) DO UPDATE SET modality = EXCLUDED.modality RETURNING id), "
    "touched AS (UPDATE studies SET last_received_at = now() "
    "    WHERE id = (SELECT study_id FROM known) "
    "    AND last_received_at < now() - interval '5 seconds' AND EXISTS (SELECT 1 FROM fresh)), "
    "series_row AS (SELECT series_id AS id FROM known, fresh UNION ALL SELECT id FROM se), "
    "b AS (INSERT INTO blobs (sha256, size) SELECT $6, $7 FROM fresh ON CONFLICT DO NOTHING), "
    "known_method AS (SELECT id FROM deid_methods WHERE profile_edition = $8 AND options = $9 "
    "    AND software_version = $10), "
    "new_method AS (INSERT INTO deid_methods (profile_edition, options, software_version) "
    "    SELECT $8, $9, $10 FROM fresh WHERE NOT EXISTS (SELECT 1 FROM known_method) "
    "    ON CONFLICT (profile_edition, options, software_version) "
    "    DO UPDATE SET options = EXCLUDED.options RETURNING id), "
    "m AS (SELECT id FROM known_method UNION ALL SELECT id FROM new_method), "
    "i AS (INSERT INTO instances (series_id, centre_id, sop_instance_uid, sop_class_uid, "
    "    transfer_syntax_uid, blob_sha256, original_digest, upload_id, deid_method_id, "
    "    date_shift_days) "
    "    SELECT series_row.id, $1, $11, $12, $13, $6, $14, $15, m.id, $16 FROM series_row, m "
    "    ON CONFLICT DO NOTHING RETURNING id) "
    "INSERT INTO receipts (upload_id, original_digest, outcome, instance_id) "
    "SELECT $15, $14, 'STORED', id FROM i RETURNING instance_id";

const char* OutcomeName(RecordResult result) {
  switch (result) {
    case RecordResult::kStored:
      return "STORED";
    case RecordResult::kAlreadyStored:
      return "ALREADY_STORED";
    case RecordResult::kConflict:
      return "CONFLICT";
  }
  return "?";
}

}  // namespace

struct Repository::Impl {
  std::string url;
  int max_connections;
  std::mutex mutex;
  std::condition_variable available;
  std::vector<std::unique_ptr<pqxx::connection>> idle;
  int open = 0;

  // Runs `body(transaction)` in one transaction on a pooled connection; maps every libpqxx and
  // standard exception to a status. A connection that failed is dropped, not returned to the pool.
  // With pqxx::nontransaction each statement commits on its own: one round trip for a body of one
  // statement, no BEGIN and COMMIT.
  template <typename Transaction = pqxx::work, typename Body>
  auto Transact(Body body) -> absl::StatusOr<decltype(body(std::declval<Transaction&>()))> {
    std::unique_ptr<pqxx::connection> connection;
    {
      std::unique_lock lock(mutex);
      available.wait(lock, [&] { return !idle.empty() || open < max_connections; });
      if (!idle.empty()) {
        connection = std::move(idle.back());
        idle.pop_back();
      } else {
        ++open;
      }
    }
    bool healthy = false;
    auto release = [&] {
      std::lock_guard lock(mutex);
      if (healthy && connection && connection->is_open()) {
        idle.push_back(std::move(connection));
      } else {
        --open;
      }
      available.notify_one();
    };
    try {
      if (!connection) {
        connection = std::make_unique<pqxx::connection>(url);
        connection->prepare("find_instance", kFindInstance);
        connection->prepare("record_instance", kRecordInstance);
      }
      Transaction work(*connection);

      auto value = body(work);
      work.commit();
      healthy = true;
      release();
      return value;
    } catch (const pqxx::broken_connection& e) {
      release();
      return absl::UnavailableError(std::string("database unavailable: ") + e.what());
    } catch (const pqxx::in_doubt_error& e) {
      release();
      return absl::UnavailableError(std::string("database commit outcome unknown: ") + e.what());
    } catch (const pqxx::transaction_rollback& e) {
      healthy = true;
      release();
      return absl::AbortedError(std::string("database transaction rolled back: ") + e.what());
    } catch (const pqxx::sql_error& e) {
      healthy = true;
      release();
      // Administrator shutdown and similar server-side terminations are transient.
      std::string state = e.sqlstate();
      if (state.rfind("57P", 0) == 0 || state.rfind("08", 0) == 0) {
        healthy = false;
        return absl::UnavailableError(std::string("database unavailable: ") + e.what());
      }
      return absl::InternalError(std::string("database error: ") + e.what());
    } catch (const std::exception& e) {
      release();
      return absl::UnavailableError(std::string("database failure: ") + e.what());
    }
  }
};

Repository::Repository(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Repository::~Repository() = default;

absl::StatusOr<std::unique_ptr<Repository>> Repository::Connect(const std::string& url,
                                                                int max_connections) {
  auto impl = std::make_unique<Impl>();
  impl->url = url;
  impl->max_connections = std::max(1, max_connections);
  std::unique_ptr<Repository> repository(new Repository(std::move(impl)));
  auto probe =
      repository->impl_->Transact([](pqxx::work& w) { return w.exec("SELECT 1")[0][0].as<int>(); });
  if (!probe.ok()) return probe.status();
  return repository;
}

absl::StatusOr<int> Repository::Migrate() {
  return impl_->Transact([](pqxx::work& w) {
    w.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
    w.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT "
        "NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    int current = w.exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0].as<int>();
    for (const Migration& migration : kMigrations) {
      if (migration.version <= current) continue;
      w.exec(migration.sql);
      w.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version, migration.name);
      current = migration.version;
    }
    return current;
  });
}

absl::StatusOr<CentreSummary> Repository::AddCentre(const std::string& name,
                                                    const std::string& token_sha256) {
  auto result = impl_->Transact([&](pqxx::work& w) -> std::optional<CentreSummary> {
    pqxx::result inserted = w.exec_params(
        "INSERT INTO centres (name) VALUES ($1) ON CONFLICT (name) DO NOTHING "
        "RETURNING id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
        name);
    if (inserted.empty()) return std::nullopt;
    CentreSummary centre;
    centre.id = inserted[0][0].as<std::int64_t>();
    centre.name = name;
    centre.created_at = inserted[0][1].as<std::string>();
    w.exec_params("INSERT INTO tokens (token_sha256, role, centre_id) VALUES ($1, 'uploader', $2)",
                  token_sha256, centre.id);
    return centre;
  });
  if (!result.ok()) return result.status();
  if (!*result) return absl::AlreadyExistsError("centre '" + name + "' exists already");
  return **result;
}

absl::Status Repository::AddOperatorToken(const std::string& token_sha256) {
  return impl_
      ->Transact([&](pqxx::work& w) {
        w.exec_params(
            "INSERT INTO tokens (token_sha256, role) VALUES ($1, 'operator') ON CONFLICT DO "
            "NOTHING",
            token_sha256);
        return true;
      })
      .status();
}

absl::StatusOr<bool> Repository::HasOperatorToken() {
  return impl_->Transact([](pqxx::work& w) {
    return w.exec(
                "SELECT count(*) FROM tokens WHERE role = 'operator' AND revoked_at IS NULL")[0][0]
               .as<long>() > 0;
  });
}

absl::StatusOr<Principal> Repository::Authenticate(const std::string& token_sha256) {
  auto found = impl_->Transact([&](pqxx::work& w) -> std::optional<Principal> {
    pqxx::result r = w.exec_params(
        "SELECT t.id, t.role, coalesce(t.centre_id, 0), coalesce(c.name, '') FROM tokens t "
        "LEFT JOIN centres c ON c.id = t.centre_id WHERE t.token_sha256 = $1 AND t.revoked_at IS "
        "NULL",
        token_sha256);
    if (r.empty()) return std::nullopt;
    Principal p;
    p.token_id = r[0][0].as<std::int64_t>();
    p.role = r[0][1].as<std::string>() == "operator" ? Role::kOperator : Role::kUploader;
    p.centre_id = r[0][2].as<std::int64_t>();
    p.centre_name = r[0][3].as<std::string>();
    return p;
  });
  if (!found.ok()) return found.status();
  if (!*found) return absl::UnauthenticatedError("unknown or revoked token");
  return **found;
}

absl::StatusOr<std::vector<CentreSummary>> Repository::ListCentres() {
  return impl_->Transact([](pqxx::work& w) {
    std::vector<CentreSummary> centres;
    for (const auto& row : w.exec("SELECT c.id, c.name, to_char(c.created_at AT TIME ZONE 'UTC', "
                                  "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                                  "(SELECT count(*) FROM studies s JOIN patients p ON p.id = "
                                  "s.patient_id WHERE p.centre_id = c.id), "
                                  "(SELECT count(*) FROM instances i WHERE i.centre_id = c.id) "
                                  "FROM centres c ORDER BY c.name")) {
      centres.push_back({row[0].as<std::int64_t>(), row[1].as<std::string>(),
                         row[2].as<std::string>(), row[3].as<std::int64_t>(),
                         row[4].as<std::int64_t>()});
    }
    return centres;
  });
}

absl::StatusOr<std::int64_t> Repository::StartUpload(const Principal& principal,
                                                     const std::string& request_id) {
  return impl_->Transact([&](pqxx::work& w) {
    return w
        .exec_params(
            "INSERT INTO uploads (centre_id, token_id, request_id) VALUES ($1, $2, $3) "
            "ON CONFLICT (centre_id, request_id) DO UPDATE SET last_seen_at = now() RETURNING id",
            principal.centre_id, principal.token_id, request_id)[0][0]
        .as<std::int64_t>();
  });
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Repository::FindStored(
    std::int64_t centre_id, const std::vector<std::string>& digests) {
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<std::pair<std::string, std::string>> stored;
    // One round trip per batch: the digests travel as one text array.
    std::string array = "{";
    for (std::size_t i = 0; i < digests.size(); ++i) {
      if (i) array += ",";
      array += digests[i];  // hex only, validated by the caller
    }
    array += "}";
    for (const auto& row :
         w.exec_params("SELECT i.original_digest, st.study_uid FROM instances i JOIN series se ON "
                       "se.id = i.series_id "
                       "JOIN studies st ON st.id = se.study_id "
                       "WHERE i.centre_id = $1 AND i.original_digest = ANY($2::text[])",
                       centre_id, array)) {
      stored.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
    }
    return stored;
  });
}

absl::StatusOr<std::optional<StoredInstance>> Repository::FindInstance(
    std::int64_t centre_id, const std::string& original_digest) {
  return impl_->Transact<pqxx::nontransaction>(
      [&](pqxx::nontransaction& w) -> std::optional<StoredInstance> {
        pqxx::result r = w.exec_prepared("find_instance", centre_id, original_digest);
        if (r.empty()) return std::nullopt;
        return StoredInstance{RecordResult::kAlreadyStored, r[0][0].as<std::string>(),
                              r[0][1].as<std::string>(), r[0][2].as<std::string>(),
                              r[0][3].as<std::string>()};
      });
}

// The common case, a new instance, is one statement committed on its own (one round trip). Only
// when it wrote nothing do more statements follow: the comparison and the receipt of the outcome.
absl::StatusOr<StoredInstance> Repository::RecordInstance(const InstanceRecord& rec) {
  return impl_->Transact<pqxx::nontransaction>([&](pqxx::nontransaction& w) {
    StoredInstance out{RecordResult::kStored, rec.study_uid, rec.series_uid, rec.sop_instance_uid,
                       rec.blob_sha256};
    pqxx::result inserted = w.exec_prepared(
        "record_instance", rec.centre_id, rec.patient_pseudonym, rec.study_uid, rec.series_uid,
        rec.modality, rec.blob_sha256, rec.blob_size, rec.profile_edition, rec.options,
        rec.software_version, rec.sop_instance_uid, rec.sop_class_uid, rec.transfer_syntax_uid,
        rec.original_digest, rec.upload_id, rec.date_shift_days);
    if (!inserted.empty()) return out;
    // An instance with this SOP Instance UID or these original bytes exists, or a concurrent upload
    // of the same instance won the race: compare with the stored row.
    pqxx::result existing = w.exec_params(
        "SELECT centre_id, original_digest, blob_sha256 FROM instances WHERE sop_instance_uid = $1 "
        "OR (centre_id = $2 AND original_digest = $3)",
        rec.sop_instance_uid, rec.centre_id, rec.original_digest);
    if (existing.empty())
      throw pqxx::transaction_rollback("instance vanished during insert");  // client retries
    bool same = existing[0][0].as<std::int64_t>() == rec.centre_id &&
                existing[0][1].as<std::string>() == rec.original_digest;
    out.result = same ? RecordResult::kAlreadyStored : RecordResult::kConflict;
    out.blob_sha256 = existing[0][2].as<std::string>();
    std::string detail =
        same ? "" : "an instance with this SOP Instance UID and different content is stored";
    w.exec_params(
        "INSERT INTO receipts (upload_id, original_digest, outcome, reason_code, detail) "
        "VALUES ($1, $2, $3, $4, $5)",
        rec.upload_id, rec.original_digest, OutcomeName(out.result), same ? "" : "CONFLICT",
        detail);
    return out;
  });
}

absl::Status Repository::RecordReceipt(std::int64_t upload_id, const std::string& original_digest,
                                       const std::string& outcome, const std::string& reason_code,
                                       const std::string& detail) {
  return impl_
      ->Transact([&](pqxx::work& w) {
        w.exec_params(
            "INSERT INTO receipts (upload_id, original_digest, outcome, reason_code, detail) "
            "VALUES ($1, $2, $3, $4, $5)",
            upload_id, original_digest, outcome, reason_code, detail);
        return true;
      })
      .status();
}

absl::StatusOr<StudyCompletion> Repository::CompleteStudy(const Principal& principal,
                                                          const std::string& study_uid,
                                                          std::int64_t expected_instance_count) {
  auto result = impl_->Transact([&](pqxx::work& w) -> std::optional<StudyCompletion> {
    pqxx::result r = w.exec_params(
        "UPDATE studies s SET completed_at = now(), expected_instance_count = NULLIF($3, 0) "
        "FROM patients p WHERE p.id = s.patient_id AND s.study_uid = $1 AND ($2 = 0 OR p.centre_id "
        "= $2) "
        "RETURNING (SELECT count(*) FROM instances i JOIN series se ON se.id = i.series_id "
        "WHERE se.study_id = s.id)",
        study_uid, principal.centre_id, expected_instance_count);
    if (r.empty()) return std::nullopt;
    StudyCompletion completion;
    completion.stored_instance_count = r[0][0].as<std::int64_t>();
    completion.complete =
        expected_instance_count == 0 || completion.stored_instance_count >= expected_instance_count;
    return completion;
  });
  if (!result.ok()) return result.status();
  if (!*result) return absl::NotFoundError("no study " + study_uid + " from this centre");
  return **result;
}

namespace {

constexpr const char* kStudySelect =
    "SELECT s.id, c.name, p.pseudonym, s.study_uid, "
    "(SELECT count(*) FROM series se WHERE se.study_id = s.id), "
    "(SELECT count(*) FROM instances i JOIN series se ON se.id = i.series_id WHERE se.study_id = "
    "s.id), "
    "(SELECT coalesce(sum(b.size), 0) FROM instances i JOIN series se ON se.id = i.series_id "
    " JOIN blobs b ON b.sha256 = i.blob_sha256 WHERE se.study_id = s.id), "
    "to_char(s.first_received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "coalesce(to_char(s.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), "
    "coalesce(s.expected_instance_count, 0) "
    "FROM studies s JOIN patients p ON p.id = s.patient_id JOIN centres c ON c.id = p.centre_id ";

StudySummary StudyFromRow(const pqxx::row& row) {
  StudySummary s;
  s.id = row[0].as<std::int64_t>();
  s.centre = row[1].as<std::string>();
  s.patient_pseudonym = row[2].as<std::string>();
  s.study_uid = row[3].as<std::string>();
  s.series_count = row[4].as<std::int64_t>();
  s.instance_count = row[5].as<std::int64_t>();
  s.bytes = row[6].as<std::int64_t>();
  s.first_received_at = row[7].as<std::string>();
  s.completed_at = row[8].as<std::string>();
  s.expected_instance_count = row[9].as<std::int64_t>();
  return s;
}

}  // namespace

absl::StatusOr<std::vector<StudySummary>> Repository::ListStudies(const Principal& principal,
                                                                  const std::string& centre,
                                                                  int limit) {
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<StudySummary> studies;
    for (const auto& row :
         w.exec_params(std::string(kStudySelect) +
                           "WHERE ($1 = 0 OR p.centre_id = $1) AND ($2 = '' OR c.name = $2) "
                           "ORDER BY s.first_received_at DESC, s.id DESC LIMIT $3",
                       principal.centre_id, centre, limit)) {
      studies.push_back(StudyFromRow(row));
    }
    return studies;
  });
}

absl::StatusOr<std::pair<StudySummary, std::vector<SeriesSummary>>> Repository::GetStudy(
    const Principal& principal, std::int64_t id) {
  using Result = std::optional<std::pair<StudySummary, std::vector<SeriesSummary>>>;
  auto result = impl_->Transact([&](pqxx::work& w) -> Result {
    pqxx::result r = w.exec_params(
        std::string(kStudySelect) + "WHERE s.id = $1 AND ($2 = 0 OR p.centre_id = $2)", id,
        principal.centre_id);
    if (r.empty()) return std::nullopt;
    std::pair<StudySummary, std::vector<SeriesSummary>> out{StudyFromRow(r[0]), {}};
    for (const auto& row : w.exec_params("SELECT se.series_uid, se.modality, count(i.id), "
                                         "coalesce(sum(b.size), 0) FROM series se "
                                         "LEFT JOIN instances i ON i.series_id = se.id LEFT JOIN "
                                         "blobs b ON b.sha256 = i.blob_sha256 "
                                         "WHERE se.study_id = $1 GROUP BY se.id ORDER BY se.id",
                                         id)) {
      out.second.push_back({row[0].as<std::string>(), row[1].as<std::string>(),
                            row[2].as<std::int64_t>(), row[3].as<std::int64_t>()});
    }
    return out;
  });
  if (!result.ok()) return result.status();
  if (!*result) return absl::NotFoundError("no study with id " + std::to_string(id));
  return std::move(**result);
}

absl::StatusOr<std::vector<std::pair<std::string, std::int64_t>>> Repository::ListBlobs() {
  return impl_->Transact([](pqxx::work& w) {
    std::vector<std::pair<std::string, std::int64_t>> blobs;
    for (const auto& row : w.exec("SELECT sha256, size FROM blobs ORDER BY sha256")) {
      blobs.emplace_back(row[0].as<std::string>(), row[1].as<std::int64_t>());
    }
    return blobs;
  });
}

}  // namespace tributary::provenance
