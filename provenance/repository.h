#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "provenance/records.h"

namespace tributary::provenance {

// The PostgreSQL side of Tributary behind plain types: a small connection pool, the schema
// migrations, and one method per transaction. Thread-safe. Errors: Unavailable when the database
// cannot be reached or a commit's outcome is unknown (callers retry), Aborted on serialization
// conflicts, NotFound/AlreadyExists/InvalidArgument as documented, Internal otherwise.
class Repository {
 public:
  static absl::StatusOr<std::unique_ptr<Repository>> Connect(const std::string& url,
                                                             int max_connections = 8);
  ~Repository();

  // Applies pending migrations (provenance/migrations/*.sql) under an advisory lock, so several
  // servers may start at once. Returns the schema version.
  absl::StatusOr<int> Migrate();

  // Centres and tokens. Tokens are stored as SHA-256 hex of the token text.
  absl::StatusOr<CentreSummary> AddCentre(const std::string& name, const std::string& token_sha256);
  absl::Status AddOperatorToken(const std::string& token_sha256);
  absl::StatusOr<bool> HasOperatorToken();
  absl::StatusOr<Principal> Authenticate(const std::string& token_sha256);
  absl::StatusOr<std::vector<CentreSummary>> ListCentres();

  // Uploads and instances.
  absl::StatusOr<std::int64_t> StartUpload(const Principal& principal,
                                           const std::string& request_id);
  // Keyed digests of original files already stored for the centre, with their studies' UIDs.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> FindStored(
      std::int64_t centre_id, const std::vector<std::string>& digests);
  // The stored instance for (centre, keyed digest), if any: the fast path for re-sent files.
  absl::StatusOr<std::optional<StoredInstance>> FindInstance(std::int64_t centre_id,
                                                             const std::string& original_digest);
  // One transaction: patient, study, series, blob, method, instance and receipt.
  absl::StatusOr<StoredInstance> RecordInstance(const InstanceRecord& record);
  absl::Status RecordReceipt(std::int64_t upload_id, const std::string& original_digest,
                             const std::string& outcome, const std::string& reason_code,
                             const std::string& detail);
  absl::StatusOr<StudyCompletion> CompleteStudy(const Principal& principal,
                                                const std::string& study_uid,
                                                std::int64_t expected_instance_count);

  absl::StatusOr<std::vector<StudySummary>> ListStudies(const Principal& principal,
                                                        const std::string& centre, int limit);
  absl::StatusOr<std::pair<StudySummary, std::vector<SeriesSummary>>> GetStudy(
      const Principal& principal, std::int64_t id);

  // Every blob digest the database refers to (for consistency checks).
  absl::StatusOr<std::vector<std::pair<std::string, std::int64_t>>> ListBlobs();

 private:
  struct Impl;
  explicit Repository(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tributary::provenance
