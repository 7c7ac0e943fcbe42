#include "provenance/repository.h"

#include <absl/strings/cord.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <set>

#include "common/hash.h"
#include "provenance/repository_impl.h"

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
    "    date_shift_days, original_fingerprint) "
    "    SELECT series_row.id, $1, $11, $12, $13, $6, $14, $15, m.id, $16, NULLIF($17, '') "
    "    FROM series_row, m "
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

Role RoleFromName(const std::string& name) {
  if (name == "operator") return Role::kOperator;
  if (name == "researcher") return Role::kResearcher;
  return Role::kUploader;
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kOperator:
      return "operator";
    case Role::kResearcher:
      return "researcher";
    case Role::kUploader:
      return "uploader";
  }
  return "?";
}

void Repository::Impl::Prepare(pqxx::connection& connection) {
  connection.prepare("find_instance", kFindInstance);
  connection.prepare("record_instance", kRecordInstance);
}

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
    // Every version not applied yet, in order, not only those above the highest applied: a
    // database that got a later migration first still gets the earlier ones.
    std::set<int> applied;
    for (const auto& row : w.exec("SELECT version FROM schema_migrations")) {
      applied.insert(row[0].as<int>());
    }
    for (const Migration& migration : kMigrations) {
      if (applied.count(migration.version) != 0) continue;
      w.exec(migration.sql);
      w.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version, migration.name);
      applied.insert(migration.version);
    }
    return applied.empty() ? 0 : *applied.rbegin();
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
        "SELECT t.id, t.role, coalesce(t.centre_id, 0), coalesce(c.name, ''), "
        "coalesce(extract(epoch FROM t.expires_at)::bigint, 0) FROM tokens t "
        "LEFT JOIN centres c ON c.id = t.centre_id WHERE t.token_sha256 = $1 AND t.revoked_at IS "
        "NULL AND (t.expires_at IS NULL OR t.expires_at > now())",
        token_sha256);
    if (r.empty()) return std::nullopt;
    Principal p;
    p.token_id = r[0][0].as<std::int64_t>();
    p.role = RoleFromName(r[0][1].as<std::string>());
    p.centre_id = r[0][2].as<std::int64_t>();
    p.centre_name = r[0][3].as<std::string>();
    p.expires_at_unix = r[0][4].as<std::int64_t>();
    return p;
  });
  if (!found.ok()) return found.status();
  if (!*found) return absl::UnauthenticatedError("unknown, expired or revoked token");
  return **found;
}

namespace {

constexpr const char* kCentreColumns =
    "c.id, c.name, to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "(SELECT count(*) FROM studies s JOIN patients p ON p.id = s.patient_id WHERE p.centre_id = "
    "c.id), (SELECT count(*) FROM instances i WHERE i.centre_id = c.id), "
    "c.accept_burned_in_annotation, coalesce(to_char(c.policy_changed_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')";

CentreSummary CentreFromRow(const pqxx::row& row) {
  CentreSummary centre;
  centre.id = row[0].as<std::int64_t>();
  centre.name = row[1].as<std::string>();
  centre.created_at = row[2].as<std::string>();
  centre.study_count = row[3].as<std::int64_t>();
  centre.instance_count = row[4].as<std::int64_t>();
  centre.policy.accept_burned_in_annotation = row[5].as<bool>();
  centre.policy_changed_at = row[6].as<std::string>();
  return centre;
}

}  // namespace

absl::StatusOr<std::vector<CentreSummary>> Repository::ListCentres() {
  return impl_->Transact([](pqxx::work& w) {
    std::vector<CentreSummary> centres;
    for (const auto& row :
         w.exec(std::string("SELECT ") + kCentreColumns + " FROM centres c ORDER BY c.name")) {
      centres.push_back(CentreFromRow(row));
    }
    return centres;
  });
}

absl::StatusOr<CentreSummary> Repository::SetCentrePolicy(const std::string& name,
                                                          const CentrePolicy& policy) {
  auto result = impl_->Transact([&](pqxx::work& w) -> std::optional<CentreSummary> {
    pqxx::result updated = w.exec_params(
        "UPDATE centres SET accept_burned_in_annotation = $2, policy_changed_at = now() "
        "WHERE name = $1 RETURNING id",
        name, policy.accept_burned_in_annotation);
    if (updated.empty()) return std::nullopt;
    return CentreFromRow(
        w.exec_params1(std::string("SELECT ") + kCentreColumns + " FROM centres c WHERE c.id = $1",
                       updated[0][0].as<std::int64_t>()));
  });
  if (!result.ok()) return result.status();
  if (!*result) return absl::NotFoundError("no centre named '" + name + "'");
  return **result;
}

absl::StatusOr<CentrePolicy> Repository::GetCentrePolicy(std::int64_t centre_id) {
  auto result = impl_->Transact([&](pqxx::work& w) -> std::optional<CentrePolicy> {
    pqxx::result row =
        w.exec_params("SELECT accept_burned_in_annotation FROM centres WHERE id = $1", centre_id);
    if (row.empty()) return std::nullopt;
    CentrePolicy policy;
    policy.accept_burned_in_annotation = row[0][0].as<bool>();
    return policy;
  });
  if (!result.ok()) return result.status();
  if (!*result) return absl::NotFoundError("the token's centre no longer exists");
  return **result;
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

namespace {

// The common case, a new instance, is one statement. Only when it wrote nothing do more statements
// follow: the comparison and the receipt of the outcome.
StoredInstance RecordOne(pqxx::transaction_base& w, const InstanceRecord& rec) {
  StoredInstance out{RecordResult::kStored, rec.study_uid, rec.series_uid, rec.sop_instance_uid,
                     rec.blob_sha256};
  pqxx::result inserted = w.exec_prepared(
      "record_instance", rec.centre_id, rec.patient_pseudonym, rec.study_uid, rec.series_uid,
      rec.modality, rec.blob_sha256, rec.blob_size, rec.profile_edition, rec.options,
      rec.software_version, rec.sop_instance_uid, rec.sop_class_uid, rec.transfer_syntax_uid,
      rec.original_digest, rec.upload_id, rec.date_shift_days, rec.original_fingerprint);
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
      rec.upload_id, rec.original_digest, OutcomeName(out.result), same ? "" : "CONFLICT", detail);
  return out;
}

}  // namespace

// Committed on its own: one round trip for a new instance.
absl::StatusOr<StoredInstance> Repository::RecordInstance(const InstanceRecord& rec) {
  return impl_->Transact<pqxx::nontransaction>(
      [&](pqxx::nontransaction& w) { return RecordOne(w, rec); });
}

absl::StatusOr<std::vector<StoredInstance>> Repository::RecordInstances(
    const std::vector<const InstanceRecord*>& records) {
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<StoredInstance> out;
    out.reserve(records.size());
    for (const InstanceRecord* rec : records) out.push_back(RecordOne(w, *rec));
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
        "WHERE se.study_id = s.id), s.id",
        study_uid, principal.centre_id, expected_instance_count);
    if (r.empty()) return std::nullopt;
    StudyCompletion completion;
    completion.stored_instance_count = r[0][0].as<std::int64_t>();
    completion.study_id = r[0][1].as<std::int64_t>();
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

absl::StatusOr<std::vector<CrossCentreDuplicate>> Repository::CrossCentreDuplicates(int limit) {
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<CrossCentreDuplicate> out;
    pqxx::result pairs = w.exec_params(
        "SELECT sa.id, sb.id, cb.name, sb.study_uid, count(*) FROM instances ia "
        "JOIN instances ib ON ib.original_fingerprint = ia.original_fingerprint "
        "  AND ib.centre_id <> ia.centre_id "
        "JOIN series sea ON sea.id = ia.series_id JOIN studies sa ON sa.id = sea.study_id "
        "JOIN series seb ON seb.id = ib.series_id JOIN studies sb ON sb.id = seb.study_id "
        "JOIN centres cb ON cb.id = ib.centre_id "
        "WHERE ia.original_fingerprint IS NOT NULL "
        "AND sa.id IN (SELECT DISTINCT se.study_id FROM instances i "
        "  JOIN series se ON se.id = i.series_id WHERE i.original_fingerprint IN ("
        "    SELECT original_fingerprint FROM instances WHERE original_fingerprint IS NOT NULL "
        "    GROUP BY original_fingerprint HAVING count(DISTINCT centre_id) > 1) "
        "  ORDER BY se.study_id LIMIT $1) "
        "GROUP BY sa.id, sb.id, cb.name, sb.study_uid ORDER BY sa.id, sb.id",
        limit);
    std::vector<std::int64_t> ids;
    for (const auto& row : pairs) {
      std::int64_t study_id = row[0].as<std::int64_t>();
      if (ids.empty() || ids.back() != study_id) {
        ids.push_back(study_id);
        out.emplace_back();
      }
      out.back().also_sent_as.push_back({row[1].as<std::int64_t>(), row[2].as<std::string>(),
                                         row[3].as<std::string>(), row[4].as<std::int64_t>()});
    }
    if (ids.empty()) return out;
    std::string array = "{";
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (i) array += ",";
      array += std::to_string(ids[i]);
    }
    array += "}";
    for (const auto& row : w.exec_params(
             std::string(kStudySelect) + "WHERE s.id = ANY($1::bigint[]) ORDER BY s.id", array)) {
      StudySummary study = StudyFromRow(row);
      auto at = std::lower_bound(ids.begin(), ids.end(), study.id);
      out[at - ids.begin()].study = std::move(study);
    }
    return out;
  });
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

// Harmonization: recipes, models, assignments, the job queue and derivations.
namespace tributary::provenance {
namespace {

template <typename T>
absl::StatusOr<T> Flatten(absl::StatusOr<absl::StatusOr<T>> nested) {
  if (!nested.ok()) return nested.status();
  return *std::move(nested);
}

bool IsSha256Hex(const std::string& text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

absl::Status CheckDigest(const std::string& what, const std::string& digest) {
  if (IsSha256Hex(digest)) return absl::OkStatus();
  return absl::InvalidArgumentError(what + " is not a SHA-256 in lowercase hex: '" + digest + "'");
}

absl::Status CheckContentAddress(const std::string& what, const std::string& sha256,
                                 const std::string& json) {
  TRIB_RETURN_IF_ERROR(CheckDigest(what, sha256));
  if (ToHex(Sha256(json)) != sha256) {
    return absl::InvalidArgumentError(what + " " + sha256 + " is not the SHA-256 of its JSON");
  }
  return absl::OkStatus();
}

const char* StateName(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kDone:
      return "done";
    case JobState::kFailed:
      return "failed";
  }
  return "?";
}

JobState StateFromName(const std::string& name) {
  if (name == "running") return JobState::kRunning;
  if (name == "done") return JobState::kDone;
  if (name == "failed") return JobState::kFailed;
  return JobState::kQueued;
}

// The columns JobFromRow reads, of jobs `j` joined with series `se`.
const std::string& JobColumns() {
  static const std::string columns =
      "j.id, j.series_id, se.series_uid, se.modality, j.recipe_sha256, "
      "coalesce(j.model_sha256, ''), j.state, j.attempts, j.max_attempts, " +
      Timestamp("j.next_attempt_at") + ", coalesce(j.lease_owner, ''), " +
      Timestamp("j.lease_expires_at") + ", j.last_error, " + Timestamp("j.created_at") + ", " +
      Timestamp("j.started_at") + ", " + Timestamp("j.finished_at");
  return columns;
}

Job JobFromRow(const pqxx::row& row) {
  Job job;
  job.id = row[0].as<std::int64_t>();
  job.series_id = row[1].as<std::int64_t>();
  job.series_uid = row[2].as<std::string>();
  job.modality = row[3].as<std::string>();
  job.recipe_sha256 = row[4].as<std::string>();
  job.model_sha256 = row[5].as<std::string>();
  job.state = StateFromName(row[6].as<std::string>());
  job.attempts = row[7].as<int>();
  job.max_attempts = row[8].as<int>();
  job.next_attempt_at = row[9].as<std::string>();
  job.lease_owner = row[10].as<std::string>();
  job.lease_expires_at = row[11].as<std::string>();
  job.last_error = row[12].as<std::string>();
  job.created_at = row[13].as<std::string>();
  job.started_at = row[14].as<std::string>();
  job.finished_at = row[15].as<std::string>();
  return job;
}

const std::string& RecipeColumns() {
  static const std::string columns =
      "r.sha256, r.name, r.version, r.json, " + Timestamp("r.created_at");
  return columns;
}

Recipe RecipeFromRow(const pqxx::row& row) {
  return Recipe{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                row[3].as<std::string>(), row[4].as<std::string>()};
}

// The series of completed studies (all, or study $1) and the recipes that apply to them: their
// centre's assignments for the series' modality, else the modality's defaults.
constexpr const char* kApplicableRecipes =
    "WITH s AS (SELECT se.id AS series_id, se.modality, p.centre_id FROM series se "
    "    JOIN studies st ON st.id = se.study_id JOIN patients p ON p.id = st.patient_id "
    "    WHERE st.completed_at IS NOT NULL AND ($1::bigint = 0 OR st.id = $1::bigint)), "
    "applicable AS ("
    "  SELECT s.series_id, cr.recipe_sha256 FROM s JOIN centre_recipes cr "
    "      ON cr.centre_id = s.centre_id AND cr.modality = s.modality "
    "  UNION "
    "  SELECT s.series_id, cr.recipe_sha256 FROM s JOIN centre_recipes cr "
    "      ON cr.centre_id IS NULL AND cr.modality = s.modality "
    "  WHERE NOT EXISTS (SELECT 1 FROM centre_recipes own "
    "      WHERE own.centre_id = s.centre_id AND own.modality = s.modality)) ";

// Claims one job in one statement: a due queued job, or a running one whose lease expired with
// attempts left; running jobs whose lease expired on their last attempt are failed on the way.
// SKIP LOCKED lets concurrent claimers pass over each other's rows; a row updated since the
// statement's snapshot is re-checked against the WHERE clause before it is locked.
const std::string& ClaimSql() {
  static const std::string sql =
      "WITH exhausted AS (UPDATE jobs SET state = 'failed', lease_owner = NULL, "
      "    lease_expires_at = NULL, finished_at = now(), "
      "    last_error = 'worker lost (lease expired) on attempt ' || attempts "
      "        || CASE WHEN last_error = '' THEN '' ELSE '; before: ' || last_error END "
      "    WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < now() "
      "        AND attempts >= max_attempts FOR UPDATE SKIP LOCKED)), "
      "next AS (SELECT id FROM jobs "
      "    WHERE (state = 'queued' AND next_attempt_at <= now()) "
      "       OR (state = 'running' AND lease_expires_at < now() AND attempts < max_attempts) "
      "    ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED), "
      "j AS (UPDATE jobs SET state = 'running', lease_owner = $1, "
      "    lease_expires_at = now() + $2 * interval '1 millisecond', attempts = jobs.attempts + 1, "
      "    started_at = now(), finished_at = NULL "
      "    FROM next WHERE jobs.id = next.id RETURNING jobs.*) "
      "SELECT " +
      JobColumns() + " FROM j JOIN series se ON se.id = j.series_id";
  return sql;
}

double JitterFraction() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

}  // namespace

absl::StatusOr<std::vector<SeriesRow>> Repository::ListSeries(const SeriesFilter& filter) {
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<SeriesRow> rows;
    for (const auto& row : w.exec_params(
             "SELECT se.id, st.id, st.study_uid, c.name, se.series_uid, se.modality, "
             "(SELECT count(*) FROM instances i WHERE i.series_id = se.id) "
             "FROM series se JOIN studies st ON st.id = se.study_id "
             "JOIN patients p ON p.id = st.patient_id JOIN centres c ON c.id = p.centre_id "
             "WHERE ($1::bigint = 0 OR st.id = $1::bigint) AND ($2 = '' OR c.name = $2) "
             "AND ($3 = '' OR se.modality = $3) AND ($5::bigint = 0 OR se.id = $5::bigint) "
             "ORDER BY se.id LIMIT $4",
             filter.study_id, filter.centre, filter.modality, filter.limit, filter.series_id)) {
      rows.push_back({row[0].as<std::int64_t>(), row[1].as<std::int64_t>(),
                      row[2].as<std::string>(), row[3].as<std::string>(), row[4].as<std::string>(),
                      row[5].as<std::string>(), row[6].as<std::int64_t>()});
    }
    return rows;
  });
}

absl::StatusOr<std::vector<std::pair<std::string, std::int64_t>>> Repository::SeriesInstanceBlobs(
    std::int64_t series_id) {
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<std::pair<std::string, std::int64_t>> blobs;
    for (const auto& row : w.exec_params("SELECT i.blob_sha256, b.size FROM instances i "
                                         "JOIN blobs b ON b.sha256 = i.blob_sha256 "
                                         "WHERE i.series_id = $1 ORDER BY i.id",
                                         series_id)) {
      blobs.emplace_back(row[0].as<std::string>(), row[1].as<std::int64_t>());
    }
    return blobs;
  });
}

absl::Status Repository::PutRecipe(const Recipe& recipe) {
  TRIB_RETURN_IF_ERROR(CheckContentAddress("recipe", recipe.sha256, recipe.json));
  if (recipe.name.empty()) return absl::InvalidArgumentError("a recipe needs a name");
  return impl_
      ->Transact([&](pqxx::work& w) {
        w.exec_params(
            "INSERT INTO recipes (sha256, name, version, json) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (sha256) DO NOTHING",
            recipe.sha256, recipe.name, recipe.version, recipe.json);
        return true;
      })
      .status();
}

absl::StatusOr<Recipe> Repository::GetRecipe(const std::string& sha256) {
  auto found = impl_->Transact([&](pqxx::work& w) -> std::optional<Recipe> {
    pqxx::result r =
        w.exec_params("SELECT " + RecipeColumns() + " FROM recipes r WHERE r.sha256 = $1", sha256);
    if (r.empty()) return std::nullopt;
    return RecipeFromRow(r[0]);
  });
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError("no recipe " + sha256);
  return std::move(**found);
}

absl::StatusOr<std::vector<Recipe>> Repository::ListRecipes() {
  return impl_->Transact([](pqxx::work& w) {
    std::vector<Recipe> recipes;
    for (const auto& row : w.exec("SELECT " + RecipeColumns() +
                                  " FROM recipes r ORDER BY r.name, r.version, r.sha256")) {
      recipes.push_back(RecipeFromRow(row));
    }
    return recipes;
  });
}

absl::Status Repository::PutModel(const Model& model) {
  TRIB_RETURN_IF_ERROR(CheckContentAddress("model", model.sha256, model.json));
  TRIB_RETURN_IF_ERROR(CheckDigest("the model's recipe", model.recipe_sha256));
  return Flatten(impl_->Transact([&](pqxx::work& w) -> absl::StatusOr<bool> {
           if (w.exec_params("SELECT 1 FROM recipes WHERE sha256 = $1", model.recipe_sha256)
                   .empty()) {
             return absl::NotFoundError("no recipe " + model.recipe_sha256);
           }
           std::string series = ArrayLiteral(model.training_series_ids);
           auto known = w.exec_params(
               "SELECT count(DISTINCT s) = (SELECT count(*) FROM series WHERE id = "
               "ANY($1::bigint[])) "
               "FROM unnest($1::bigint[]) s",
               series);
           if (!known[0][0].as<bool>()) return absl::NotFoundError("unknown training series");
           pqxx::result inserted = w.exec_params(
               "INSERT INTO models (sha256, method, json, recipe_sha256, added_by) "
               "VALUES ($1, $2, $3, $4, NULLIF($5::bigint, 0)) ON CONFLICT (sha256) DO NOTHING "
               "RETURNING 1",
               model.sha256, model.method, model.json, model.recipe_sha256,
               model.added_by_token_id);
           if (inserted.empty()) return true;
           w.exec_params(
               "INSERT INTO model_training_series (model_sha256, series_id) "
               "SELECT DISTINCT $1::text, s FROM unnest($2::bigint[]) s",
               model.sha256, series);
           return true;
         }))
      .status();
}

namespace {

std::vector<Model> ReadModels(pqxx::work& w, const std::string& sha256) {
  std::vector<Model> models;
  for (const auto& row :
       w.exec_params("SELECT sha256, method, json, recipe_sha256, coalesce(added_by, 0), " +
                         Timestamp("created_at") +
                         " FROM models WHERE $1 = '' OR sha256 = $1 ORDER BY created_at, sha256",
                     sha256)) {
    Model model;
    model.sha256 = row[0].as<std::string>();
    model.method = row[1].as<std::string>();
    model.json = row[2].as<std::string>();
    model.recipe_sha256 = row[3].as<std::string>();
    model.added_by_token_id = row[4].as<std::int64_t>();
    model.created_at = row[5].as<std::string>();
    for (const auto& series :
         w.exec_params("SELECT series_id FROM model_training_series WHERE model_sha256 = $1 "
                       "ORDER BY series_id",
                       model.sha256)) {
      model.training_series_ids.push_back(series[0].as<std::int64_t>());
    }
    models.push_back(std::move(model));
  }
  return models;
}

}  // namespace

absl::StatusOr<Model> Repository::GetModel(const std::string& sha256) {
  if (sha256.empty()) return absl::NotFoundError("no model ''");
  auto models = impl_->Transact([&](pqxx::work& w) { return ReadModels(w, sha256); });
  if (!models.ok()) return models.status();
  if (models->empty()) return absl::NotFoundError("no model " + sha256);
  return std::move(models->front());
}

absl::StatusOr<std::vector<Model>> Repository::ListModels() {
  return impl_->Transact([](pqxx::work& w) { return ReadModels(w, ""); });
}

namespace {

// The centre's id, 0 for "" (the defaults); NotFound for an unknown centre.
absl::StatusOr<std::int64_t> CentreId(pqxx::work& w, const std::string& centre) {
  if (centre.empty()) return 0;
  pqxx::result r = w.exec_params("SELECT id FROM centres WHERE name = $1", centre);
  if (r.empty()) return absl::NotFoundError("no centre '" + centre + "'");
  return r[0][0].as<std::int64_t>();
}

}  // namespace

absl::Status Repository::AssignRecipe(const std::string& centre, const std::string& modality,
                                      const std::string& recipe_sha256) {
  return Flatten(impl_->Transact([&](pqxx::work& w) -> absl::StatusOr<bool> {
           TRIB_ASSIGN_OR_RETURN(std::int64_t centre_id, CentreId(w, centre));
           if (w.exec_params("SELECT 1 FROM recipes WHERE sha256 = $1", recipe_sha256).empty()) {
             return absl::NotFoundError("no recipe " + recipe_sha256);
           }
           w.exec_params(
               "INSERT INTO centre_recipes (centre_id, modality, recipe_sha256) "
               "VALUES (NULLIF($1::bigint, 0), $2, $3) ON CONFLICT DO NOTHING",
               centre_id, modality, recipe_sha256);
           return true;
         }))
      .status();
}

absl::Status Repository::UnassignRecipe(const std::string& centre, const std::string& modality,
                                        const std::string& recipe_sha256) {
  return Flatten(impl_->Transact([&](pqxx::work& w) -> absl::StatusOr<bool> {
           TRIB_ASSIGN_OR_RETURN(std::int64_t centre_id, CentreId(w, centre));
           pqxx::result r = w.exec_params(
               "DELETE FROM centre_recipes WHERE centre_id IS NOT DISTINCT FROM NULLIF($1::bigint, "
               "0) "
               "AND modality = $2 AND recipe_sha256 = $3 RETURNING 1",
               centre_id, modality, recipe_sha256);
           if (r.empty()) return absl::NotFoundError("no such assignment");
           return true;
         }))
      .status();
}

absl::StatusOr<std::vector<Recipe>> Repository::RecipesFor(const std::string& centre,
                                                           const std::string& modality) {
  return Flatten(impl_->Transact([&](pqxx::work& w) -> absl::StatusOr<std::vector<Recipe>> {
    TRIB_ASSIGN_OR_RETURN(std::int64_t centre_id, CentreId(w, centre));
    std::vector<Recipe> recipes;
    for (const auto& row : w.exec_params(
             "SELECT " + RecipeColumns() +
                 " FROM recipes r JOIN centre_recipes cr ON cr.recipe_sha256 = r.sha256 "
                 "WHERE cr.modality = $2 AND (cr.centre_id = $1 OR (cr.centre_id IS NULL AND "
                 "NOT EXISTS (SELECT 1 FROM centre_recipes own WHERE own.centre_id = $1 "
                 "AND own.modality = $2))) ORDER BY r.name, r.version, r.sha256",
             centre_id, modality)) {
      recipes.push_back(RecipeFromRow(row));
    }
    return recipes;
  }));
}

absl::StatusOr<std::vector<std::int64_t>> Repository::EnqueueJobs(
    const std::vector<std::int64_t>& series_ids, const std::string& recipe_sha256,
    const std::string& model_sha256, int max_attempts) {
  if (max_attempts < 1) return absl::InvalidArgumentError("max_attempts must be at least 1");
  using Ids = std::vector<std::int64_t>;
  return Flatten(impl_->Transact([&](pqxx::work& w) -> absl::StatusOr<Ids> {
    if (w.exec_params("SELECT 1 FROM recipes WHERE sha256 = $1", recipe_sha256).empty()) {
      return absl::NotFoundError("no recipe " + recipe_sha256);
    }
    if (!model_sha256.empty()) {
      pqxx::result model =
          w.exec_params("SELECT recipe_sha256 FROM models WHERE sha256 = $1", model_sha256);
      if (model.empty()) return absl::NotFoundError("no model " + model_sha256);
      if (model[0][0].as<std::string>() != recipe_sha256) {
        return absl::InvalidArgumentError("model " + model_sha256 + " belongs to recipe " +
                                          model[0][0].as<std::string>());
      }
    }
    std::string series = ArrayLiteral(series_ids);
    if (!w.exec_params("SELECT count(DISTINCT s) = (SELECT count(*) FROM series "
                       "WHERE id = ANY($1::bigint[])) FROM unnest($1::bigint[]) s",
                       series)[0][0]
             .as<bool>()) {
      return absl::NotFoundError("unknown series");
    }
    Ids created;
    for (const auto& row : w.exec_params(
             "INSERT INTO jobs (series_id, recipe_sha256, model_sha256, max_attempts) "
             "SELECT DISTINCT s, $2::text, NULLIF($3::text, ''), $4::integer FROM "
             "unnest($1::bigint[]) s "
             "WHERE NOT EXISTS (SELECT 1 FROM derivations d WHERE d.series_id = s "
             "    AND d.recipe_sha256 = $2 AND coalesce(d.model_sha256, '') = $3) "
             "ON CONFLICT (series_id, recipe_sha256, (coalesce(model_sha256, ''))) DO NOTHING "
             "RETURNING id",
             series, recipe_sha256, model_sha256, max_attempts)) {
      created.push_back(row[0].as<std::int64_t>());
    }
    std::sort(created.begin(), created.end());
    return created;
  }));
}

absl::StatusOr<std::vector<std::int64_t>> Repository::EnqueueForCompletedStudy(
    std::int64_t study_id, int max_attempts) {
  if (max_attempts < 1) return absl::InvalidArgumentError("max_attempts must be at least 1");
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<std::int64_t> created;
    for (const auto& row : w.exec_params(
             std::string(kApplicableRecipes) +
                 "INSERT INTO jobs (series_id, recipe_sha256, max_attempts) "
                 "SELECT a.series_id, a.recipe_sha256, $2::integer FROM applicable a "
                 "WHERE NOT EXISTS (SELECT 1 FROM derivations d WHERE d.series_id = a.series_id "
                 "    AND d.recipe_sha256 = a.recipe_sha256 AND d.model_sha256 IS NULL) "
                 "ON CONFLICT (series_id, recipe_sha256, (coalesce(model_sha256, ''))) "
                 "DO NOTHING RETURNING id",
             study_id, max_attempts)) {
      created.push_back(row[0].as<std::int64_t>());
    }
    std::sort(created.begin(), created.end());
    return created;
  });
}

absl::StatusOr<std::vector<std::int64_t>> Repository::CompleteQuietStudies(
    std::chrono::milliseconds quiet) {
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<std::int64_t> completed;
    for (const auto& row :
         w.exec_params("UPDATE studies SET completed_at = now() WHERE completed_at IS NULL "
                       "AND last_received_at < now() - $1 * interval '1 millisecond' RETURNING id",
                       static_cast<std::int64_t>(quiet.count()))) {
      completed.push_back(row[0].as<std::int64_t>());
    }
    std::sort(completed.begin(), completed.end());
    return completed;
  });
}

absl::StatusOr<std::optional<Job>> Repository::ClaimJob(const std::string& worker_id,
                                                        std::chrono::milliseconds lease) {
  if (worker_id.empty()) return absl::InvalidArgumentError("a worker needs an id");
  if (lease.count() <= 0) return absl::InvalidArgumentError("a lease must be positive");
  return impl_->Transact<pqxx::nontransaction>([&](pqxx::nontransaction& w) -> std::optional<Job> {
    pqxx::result r = w.exec_params(ClaimSql(), worker_id, static_cast<std::int64_t>(lease.count()));
    if (r.empty()) return std::nullopt;
    return JobFromRow(r[0]);
  });
}

namespace {

// Why a job that the worker expected to hold is not its own: NotFound or FailedPrecondition.
constexpr const char* kLeaseLostPayload = "tributary.v1/lease-lost";

absl::Status LeaseLost(pqxx::work& w, std::int64_t job_id, const std::string& worker_id) {
  pqxx::result r =
      w.exec_params("SELECT state, coalesce(lease_owner, '') FROM jobs WHERE id = $1", job_id);
  if (r.empty()) return absl::NotFoundError("no job " + std::to_string(job_id));
  std::string holder = r[0][1].as<std::string>();
  absl::Status lost = absl::FailedPreconditionError(
      "worker " + worker_id + " no longer holds the lease on job " + std::to_string(job_id) + " (" +
      r[0][0].as<std::string>() + (holder.empty() ? "" : ", held by " + holder) + ")");
  lost.SetPayload(kLeaseLostPayload, absl::Cord("1"));
  return lost;
}

}  // namespace

bool IsLeaseLost(const absl::Status& status) {
  return absl::IsFailedPrecondition(status) && status.GetPayload(kLeaseLostPayload).has_value();
}

absl::Status Repository::Heartbeat(std::int64_t job_id, const std::string& worker_id,
                                   std::chrono::milliseconds lease) {
  if (lease.count() <= 0) return absl::InvalidArgumentError("a lease must be positive");
  return Flatten(impl_->Transact([&](pqxx::work& w) -> absl::StatusOr<bool> {
           pqxx::result r = w.exec_params(
               "UPDATE jobs SET lease_expires_at = now() + $3 * interval '1 millisecond' "
               "WHERE id = $1 AND state = 'running' AND lease_owner = $2 RETURNING 1",
               job_id, worker_id, static_cast<std::int64_t>(lease.count()));
           if (r.empty()) return LeaseLost(w, job_id, worker_id);
           return true;
         }))
      .status();
}

absl::StatusOr<CompletedJob> Repository::CompleteJob(std::int64_t job_id,
                                                     const std::string& worker_id,
                                                     const Derivation& derivation) {
  std::vector<std::string> inputs = derivation.input_blob_sha256s;
  std::sort(inputs.begin(), inputs.end());
  inputs.erase(std::unique(inputs.begin(), inputs.end()), inputs.end());
  for (const std::string& digest : inputs) TRIB_RETURN_IF_ERROR(CheckDigest("an input", digest));
  std::vector<std::string> output_digests;
  std::vector<std::int64_t> output_sizes;
  for (const DerivationOutput& output : derivation.outputs) {
    TRIB_RETURN_IF_ERROR(CheckDigest("output " + output.role, output.blob_sha256));
    if (output.role.empty()) return absl::InvalidArgumentError("an output needs a role");
    output_digests.push_back(output.blob_sha256);
    output_sizes.push_back(output.size);
  }
  auto json = [](const std::string& text) { return text.empty() ? std::string("{}") : text; };

  return Flatten(impl_->Transact([&](pqxx::work& w) -> absl::StatusOr<CompletedJob> {
    pqxx::result job = w.exec_params(
        "SELECT series_id, recipe_sha256, coalesce(model_sha256, ''), state, "
        "coalesce(lease_owner, '') FROM jobs WHERE id = $1 FOR UPDATE",
        job_id);
    if (job.empty()) return absl::NotFoundError("no job " + std::to_string(job_id));
    auto series_id = job[0][0].as<std::int64_t>();
    auto recipe = job[0][1].as<std::string>();
    auto model = job[0][2].as<std::string>();
    auto existing = [&] {
      return w.exec_params(
          "SELECT id, worker, coalesce(job_id, 0) FROM derivations WHERE series_id = $1 "
          "AND recipe_sha256 = $2 AND coalesce(model_sha256, '') = $3",
          series_id, recipe, model);
    };
    if (job[0][3].as<std::string>() != "running" || job[0][4].as<std::string>() != worker_id) {
      // This worker's own completion committed already (its answer was lost): the same answer.
      if (job[0][3].as<std::string>() == "done") {
        pqxx::result done = existing();
        if (!done.empty() && done[0][1].as<std::string>() == worker_id &&
            done[0][2].as<std::int64_t>() == job_id) {
          return CompletedJob{done[0][0].as<std::int64_t>(), false};
        }
      }
      return LeaseLost(w, job_id, worker_id);
    }
    std::string input_array = ArrayLiteral(inputs);
    if (w.exec_params("SELECT count(*) FROM blobs WHERE sha256 = ANY($1::text[])",
                      input_array)[0][0]
            .as<std::size_t>() != inputs.size()) {
      return absl::InvalidArgumentError("an input blob of the derivation is unknown");
    }

    CompletedJob completed;
    pqxx::result inserted = w.exec_params(
        "INSERT INTO derivations (job_id, series_id, recipe_sha256, model_sha256, qc_metrics, "
        "software_versions, timings, worker, subject) "
        "VALUES ($1, $2, $3, NULLIF($4, ''), $5::jsonb, $6::jsonb, $7::jsonb, $8, $9::jsonb) "
        "ON CONFLICT (series_id, recipe_sha256, (coalesce(model_sha256, ''))) DO NOTHING "
        "RETURNING id",
        job_id, series_id, recipe, model, json(derivation.qc_metrics_json),
        json(derivation.software_versions_json), json(derivation.timings_json), worker_id,
        json(derivation.subject_json));
    if (inserted.empty()) {
      completed.derivation_id = existing()[0][0].as<std::int64_t>();
    } else {
      completed.derivation_id = inserted[0][0].as<std::int64_t>();
      completed.inserted = true;
      w.exec_params(
          "INSERT INTO derivation_inputs (derivation_id, blob_sha256) "
          "SELECT $1::bigint, unnest($2::text[])",
          completed.derivation_id, input_array);
      w.exec_params(
          "INSERT INTO blobs (sha256, size) SELECT * FROM unnest($1::text[], $2::bigint[]) "
          "ON CONFLICT DO NOTHING",
          ArrayLiteral(output_digests), ArrayLiteral(output_sizes));
      for (const DerivationOutput& output : derivation.outputs) {
        w.exec_params(
            "INSERT INTO derivation_outputs (derivation_id, role, name, blob_sha256) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            completed.derivation_id, output.role, output.name, output.blob_sha256);
      }
    }
    w.exec_params(
        "UPDATE jobs SET state = 'done', finished_at = now(), lease_owner = NULL, "
        "lease_expires_at = NULL, last_error = '' WHERE id = $1",
        job_id);
    return completed;
  }));
}

absl::StatusOr<JobFailure> Repository::FailJob(std::int64_t job_id, const std::string& worker_id,
                                               const std::string& error, const RetryPolicy& policy,
                                               bool permanent) {
  if (policy.base.count() < 0 || policy.cap < policy.base || policy.jitter < 0 ||
      policy.jitter > 1) {
    return absl::InvalidArgumentError("retry policy needs 0 <= base <= cap, 0 <= jitter <= 1");
  }
  double shorten = policy.jitter * JitterFraction();
  return Flatten(impl_->Transact([&](pqxx::work& w) -> absl::StatusOr<JobFailure> {
    pqxx::result r = w.exec_params(
        "WITH attempt AS (SELECT id, $4 OR attempts >= max_attempts AS last, "
        "    least($5::float8, $6::float8 * power(2::float8, greatest(attempts - 1, 0))) "
        "        * (1 - $7::float8) AS delay_ms "
        "    FROM jobs WHERE id = $1 AND state = 'running' AND lease_owner = $2 FOR UPDATE) "
        "UPDATE jobs j SET "
        "  state = CASE WHEN a.last THEN 'failed' ELSE 'queued' END, "
        "  next_attempt_at = CASE WHEN a.last THEN j.next_attempt_at "
        "      ELSE now() + a.delay_ms * interval '1 millisecond' END, "
        "  finished_at = CASE WHEN a.last THEN now() END, "
        "  last_error = $3, lease_owner = NULL, lease_expires_at = NULL "
        "FROM attempt a WHERE j.id = a.id "
        "RETURNING j.state, j.attempts, CASE WHEN a.last THEN 0 ELSE round(a.delay_ms) END",
        job_id, worker_id, error, permanent, static_cast<double>(policy.cap.count()),
        static_cast<double>(policy.base.count()), shorten);
    if (r.empty()) return LeaseLost(w, job_id, worker_id);
    JobFailure failure;
    failure.state = StateFromName(r[0][0].as<std::string>());
    failure.attempts = r[0][1].as<int>();
    failure.retry_in = std::chrono::milliseconds(r[0][2].as<std::int64_t>());
    return failure;
  }));
}

absl::StatusOr<std::int64_t> Repository::RetryJobs(const std::vector<std::int64_t>& job_ids) {
  return impl_->Transact([&](pqxx::work& w) {
    return static_cast<std::int64_t>(
        w.exec_params("UPDATE jobs SET state = 'queued', attempts = 0, next_attempt_at = now(), "
                      "finished_at = NULL WHERE state = 'failed' "
                      "AND (cardinality($1::bigint[]) = 0 OR id = ANY($1::bigint[])) RETURNING 1",
                      ArrayLiteral(job_ids))
            .size());
  });
}

absl::StatusOr<Job> Repository::GetJob(std::int64_t job_id) {
  auto found = impl_->Transact([&](pqxx::work& w) -> std::optional<Job> {
    pqxx::result r = w.exec_params("SELECT " + JobColumns() +
                                       " FROM jobs j JOIN series se ON se.id = j.series_id "
                                       "WHERE j.id = $1",
                                   job_id);
    if (r.empty()) return std::nullopt;
    return JobFromRow(r[0]);
  });
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError("no job " + std::to_string(job_id));
  return std::move(**found);
}

absl::StatusOr<std::vector<Job>> Repository::ListJobs(std::optional<JobState> state, int limit) {
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<Job> jobs;
    for (const auto& row :
         w.exec_params("SELECT " + JobColumns() +
                           " FROM jobs j JOIN series se ON se.id = j.series_id "
                           "WHERE ($1 = '' OR j.state = $1) ORDER BY j.id LIMIT $2",
                       std::string(state ? StateName(*state) : ""), limit)) {
      jobs.push_back(JobFromRow(row));
    }
    return jobs;
  });
}

absl::StatusOr<bool> Repository::QueueIdle() {
  return impl_->Transact<pqxx::nontransaction>([](pqxx::nontransaction& w) {
    return w
        .exec("SELECT NOT EXISTS (SELECT 1 FROM jobs WHERE state IN ('queued', 'running'))")[0][0]
        .as<bool>();
  });
}

absl::StatusOr<JobCounts> Repository::CountJobs() {
  return impl_->Transact<pqxx::nontransaction>([](pqxx::nontransaction& w) {
    JobCounts counts;
    for (const auto& row : w.exec("SELECT state, count(*) FROM jobs GROUP BY state")) {
      std::string state = row[0].as<std::string>();
      std::int64_t n = row[1].as<std::int64_t>();
      if (state == "queued") counts.queued = n;
      if (state == "running") counts.running = n;
      if (state == "done") counts.done = n;
      if (state == "failed") counts.failed = n;
    }
    return counts;
  });
}

absl::StatusOr<JobCounts> Repository::QueueDepth() {
  return impl_->Transact<pqxx::nontransaction>([](pqxx::nontransaction& w) {
    JobCounts counts;
    for (const auto& row :
         w.exec("SELECT state, count(*) FROM jobs WHERE state IN ('queued', 'running', 'failed') "
                "GROUP BY state")) {
      std::string state = row[0].as<std::string>();
      std::int64_t n = row[1].as<std::int64_t>();
      if (state == "queued") counts.queued = n;
      if (state == "running") counts.running = n;
      if (state == "failed") counts.failed = n;
    }
    return counts;
  });
}

PoolStats Repository::GetPoolStats() const {
  std::lock_guard lock(impl_->mutex);
  PoolStats stats;
  stats.waits = impl_->waits;
  stats.wait_seconds_total = impl_->wait_seconds;
  stats.open = impl_->open;
  stats.idle = static_cast<int>(impl_->idle.size());
  stats.max = impl_->max_connections;
  return stats;
}

absl::StatusOr<std::vector<Derivation>> Repository::ListDerivations(std::int64_t series_id) {
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<Derivation> derivations;
    for (const auto& row : w.exec_params(
             "SELECT id, coalesce(job_id, 0), series_id, recipe_sha256, "
             "coalesce(model_sha256, ''), qc_metrics::text, software_versions::text, "
             "timings::text, worker, " +
                 Timestamp("created_at") + " FROM derivations WHERE series_id = $1 ORDER BY id",
             series_id)) {
      Derivation d;
      d.id = row[0].as<std::int64_t>();
      d.job_id = row[1].as<std::int64_t>();
      d.series_id = row[2].as<std::int64_t>();
      d.recipe_sha256 = row[3].as<std::string>();
      d.model_sha256 = row[4].as<std::string>();
      d.qc_metrics_json = row[5].as<std::string>();
      d.software_versions_json = row[6].as<std::string>();
      d.timings_json = row[7].as<std::string>();
      d.worker = row[8].as<std::string>();
      d.created_at = row[9].as<std::string>();
      for (const auto& input :
           w.exec_params("SELECT blob_sha256 FROM derivation_inputs WHERE derivation_id = $1 "
                         "ORDER BY blob_sha256",
                         d.id)) {
        d.input_blob_sha256s.push_back(input[0].as<std::string>());
      }
      for (const auto& output :
           w.exec_params("SELECT o.role, o.name, o.blob_sha256, b.size FROM derivation_outputs o "
                         "JOIN blobs b ON b.sha256 = o.blob_sha256 WHERE o.derivation_id = $1 "
                         "ORDER BY o.role, o.name, o.blob_sha256",
                         d.id)) {
        d.outputs.push_back({output[0].as<std::string>(), output[1].as<std::string>(),
                             output[2].as<std::string>(), output[3].as<std::int64_t>()});
      }
      derivations.push_back(std::move(d));
    }
    return derivations;
  });
}

namespace {

constexpr const char* kTokenSelect =
    "SELECT t.id, t.role, coalesce(c.name, ''), t.name, "
    "to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "coalesce(to_char(t.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), "
    "coalesce(to_char(t.revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), "
    "coalesce(t.created_by, 0) FROM tokens t LEFT JOIN centres c ON c.id = t.centre_id ";

TokenInfo TokenFromRow(const pqxx::row& row) {
  TokenInfo t;
  t.id = row[0].as<std::int64_t>();
  t.role = RoleFromName(row[1].as<std::string>());
  t.centre = row[2].as<std::string>();
  t.name = row[3].as<std::string>();
  t.created_at = row[4].as<std::string>();
  t.expires_at = row[5].as<std::string>();
  t.revoked_at = row[6].as<std::string>();
  t.created_by = row[7].as<std::int64_t>();
  return t;
}

}  // namespace

absl::StatusOr<TokenInfo> Repository::CreateToken(const NewToken& token) {
  if ((token.role == Role::kUploader) == token.centre.empty()) {
    return absl::InvalidArgumentError(token.role == Role::kUploader
                                          ? "an uploader token needs its centre"
                                          : "only uploader tokens belong to a centre");
  }
  if (token.expires_in_seconds < 0)
    return absl::InvalidArgumentError("expires_in_seconds must not be negative");
  auto created = impl_->Transact([&](pqxx::work& w) -> std::optional<TokenInfo> {
    std::optional<std::int64_t> centre_id;
    if (!token.centre.empty()) {
      pqxx::result c = w.exec_params("SELECT id FROM centres WHERE name = $1", token.centre);
      if (c.empty()) return std::nullopt;
      centre_id = c[0][0].as<std::int64_t>();
    }
    std::optional<std::int64_t> created_by;
    if (token.created_by != 0) created_by = token.created_by;
    std::int64_t id =
        w.exec_params(
             "INSERT INTO tokens (token_sha256, role, centre_id, name, expires_at, created_by) "
             "VALUES ($1, $2, $3, $4, CASE WHEN $5::bigint > 0 THEN now() + $5::bigint * "
             "interval '1 second' END, $6) RETURNING id",
             token.token_sha256, RoleName(token.role), centre_id, token.name,
             token.expires_in_seconds, created_by)[0][0]
            .as<std::int64_t>();
    return TokenFromRow(w.exec_params(std::string(kTokenSelect) + "WHERE t.id = $1", id)[0]);
  });
  if (!created.ok()) return created.status();
  if (!*created) return absl::NotFoundError("no centre '" + token.centre + "'");
  return **created;
}

absl::StatusOr<std::vector<TokenInfo>> Repository::ListTokens() {
  return impl_->Transact([](pqxx::work& w) {
    std::vector<TokenInfo> tokens;
    for (const auto& row : w.exec(std::string(kTokenSelect) + "ORDER BY t.id"))
      tokens.push_back(TokenFromRow(row));
    return tokens;
  });
}

absl::StatusOr<TokenInfo> Repository::RevokeToken(std::int64_t id) {
  auto revoked = impl_->Transact([&](pqxx::work& w) -> std::optional<TokenInfo> {
    w.exec_params("UPDATE tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", id);
    pqxx::result r = w.exec_params(std::string(kTokenSelect) + "WHERE t.id = $1", id);
    if (r.empty()) return std::nullopt;
    return TokenFromRow(r[0]);
  });
  if (!revoked.ok()) return revoked.status();
  if (!*revoked) return absl::NotFoundError("no token " + std::to_string(id));
  return **revoked;
}

absl::Status Repository::AppendAudit(const std::vector<AuditEntry>& entries) {
  if (entries.empty()) return absl::OkStatus();
  return impl_
      ->Transact<pqxx::nontransaction>([&](pqxx::nontransaction& w) {
        std::string sql =
            "INSERT INTO audit_log (at, token_id, role, centre_id, rpc, object, outcome, peer) "
            "VALUES ";
        for (std::size_t i = 0; i < entries.size(); ++i) {
          const AuditEntry& e = entries[i];
          if (i > 0) sql += ", ";
          sql += "(to_timestamp(" + std::to_string(e.at_unix_micros) + " / 1e6), " +
                 (e.token_id != 0 ? std::to_string(e.token_id) : "NULL") + ", " + w.quote(e.role) +
                 ", " + (e.centre_id != 0 ? std::to_string(e.centre_id) : "NULL") + ", " +
                 w.quote(e.rpc) + ", " + w.quote(e.object) + ", " + w.quote(e.outcome) + ", " +
                 w.quote(e.peer) + ")";
        }
        w.exec(sql);
        return true;
      })
      .status();
}

absl::StatusOr<std::vector<AuditEntry>> Repository::ListAudit(const AuditFilter& filter) {
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<AuditEntry> entries;
    for (const auto& row : w.exec_params(
             "SELECT a.id, to_char(a.at AT TIME ZONE 'UTC', "
             "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), coalesce(a.token_id, 0), a.role, "
             "coalesce(a.centre_id, 0), coalesce(c.name, ''), a.rpc, a.object, a.outcome, a.peer "
             "FROM audit_log a LEFT JOIN centres c ON c.id = a.centre_id "
             "WHERE ($1 = '' OR a.at >= $1::timestamptz) AND ($2 = 0 OR a.token_id = $2) "
             "AND ($3 = '' OR a.rpc = $3 OR a.rpc LIKE '%/' || $3) "
             "ORDER BY a.at DESC, a.id DESC LIMIT $4",
             filter.since, filter.token_id, filter.rpc, filter.limit)) {
      AuditEntry e;
      e.id = row[0].as<std::int64_t>();
      e.at = row[1].as<std::string>();
      e.token_id = row[2].as<std::int64_t>();
      e.role = row[3].as<std::string>();
      e.centre_id = row[4].as<std::int64_t>();
      e.centre = row[5].as<std::string>();
      e.rpc = row[6].as<std::string>();
      e.object = row[7].as<std::string>();
      e.outcome = row[8].as<std::string>();
      e.peer = row[9].as<std::string>();
      entries.push_back(std::move(e));
    }
    return entries;
  });
}

}  // namespace tributary::provenance
