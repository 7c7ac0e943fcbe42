#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "provenance/cohort_records.h"
#include "provenance/cross_centre_duplicate.h"
#include "provenance/harmonization_records.h"
#include "provenance/records.h"
#include "provenance/security_records.h"

namespace tributary::provenance {

// A snapshot of the connection pool, for monitoring.
struct PoolStats {
  std::int64_t waits = 0;         // transactions that found every connection busy and waited
  double wait_seconds_total = 0;  // the time they waited, summed
  int open = 0;                   // connections open (or being opened), idle ones included
  int idle = 0;
  int max = 0;
};

// The PostgreSQL side of Tributary behind plain types: a small connection pool, the schema
// migrations, and one method per transaction. Thread-safe. Errors: Unavailable when the database
// cannot be reached or a commit's outcome is unknown (callers retry), Aborted on serialization
// conflicts, NotFound/AlreadyExists/InvalidArgument as documented, Internal otherwise.
// A lease lost (taken over by another worker, or the job no longer running): FailedPrecondition
// marked as such, unlike the FailedPrecondition of a constraint the database refused.
bool IsLeaseLost(const absl::Status& status);

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
  // Unauthenticated for unknown, revoked and expired tokens.
  absl::StatusOr<Principal> Authenticate(const std::string& token_sha256);
  absl::StatusOr<std::vector<CentreSummary>> ListCentres();
  // NotFound for an unknown centre name.
  absl::StatusOr<CentreSummary> SetCentrePolicy(const std::string& name,
                                                const CentrePolicy& policy);
  // The policy an upload stream of the centre applies, read when the stream starts.
  absl::StatusOr<CentrePolicy> GetCentrePolicy(std::int64_t centre_id);
  // InvalidArgument: an uploader without a centre or another role with one; NotFound: no such
  // centre.
  absl::StatusOr<TokenInfo> CreateToken(const NewToken& token);
  absl::StatusOr<std::vector<TokenInfo>> ListTokens();
  // Revoking a revoked token changes nothing; NotFound for unknown ids.
  absl::StatusOr<TokenInfo> RevokeToken(std::int64_t id);

  // The audit log: one multi-row INSERT per batch; UPDATE and DELETE are refused by the database.
  absl::Status AppendAudit(const std::vector<AuditEntry>& entries);
  // Newest first.
  absl::StatusOr<std::vector<AuditEntry>> ListAudit(const AuditFilter& filter);

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
  // Several RecordInstance in one transaction (one commit), results in order. Any error fails
  // them all and nothing is recorded (RecordBatcher then records them one by one).
  absl::StatusOr<std::vector<StoredInstance>> RecordInstances(
      const std::vector<const InstanceRecord*>& records);
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
  // Studies holding an original instance that another centre also sent, each with the other
  // centres' studies (operators; no centre restriction). Instances recorded before fingerprints
  // existed (migration 0003) are not matched.
  absl::StatusOr<std::vector<CrossCentreDuplicate>> CrossCentreDuplicates(int limit = 1000);

  // Every blob digest the database refers to (for consistency checks).
  absl::StatusOr<std::vector<std::pair<std::string, std::int64_t>>> ListBlobs();

  // Series (for operators and workers: no centre restriction) and the blobs of a series'
  // instances (digest, size) in the order they were stored.
  absl::StatusOr<std::vector<SeriesRow>> ListSeries(const SeriesFilter& filter);
  absl::StatusOr<std::vector<std::pair<std::string, std::int64_t>>> SeriesInstanceBlobs(
      std::int64_t series_id);

  // Recipes and models are content-addressed: InvalidArgument unless sha256 is the SHA-256 of
  // json; putting the same content again changes nothing. NotFound for unknown digests.
  absl::Status PutRecipe(const Recipe& recipe);
  absl::StatusOr<Recipe> GetRecipe(const std::string& sha256);
  absl::StatusOr<std::vector<Recipe>> ListRecipes();
  absl::Status PutModel(const Model& model);  // its recipe and training series must exist
  absl::StatusOr<Model> GetModel(const std::string& sha256);
  absl::StatusOr<std::vector<Model>> ListModels();

  // An operator's assignment of a recipe to a centre's series of a modality; centre "" is the
  // default for the modality, applied to centres with no assignment of their own for it.
  absl::Status AssignRecipe(const std::string& centre, const std::string& modality,
                            const std::string& recipe_sha256);
  absl::Status UnassignRecipe(const std::string& centre, const std::string& modality,
                              const std::string& recipe_sha256);
  // The centre's recipes for the modality, else the modality's defaults.
  absl::StatusOr<std::vector<Recipe>> RecipesFor(const std::string& centre,
                                                 const std::string& modality);

  // The job queue. One job per (series, recipe, model): enqueueing is idempotent, and nothing is
  // queued for a series that has the derivation already. Returns the ids of the jobs created.
  absl::StatusOr<std::vector<std::int64_t>> EnqueueJobs(const std::vector<std::int64_t>& series_ids,
                                                        const std::string& recipe_sha256,
                                                        const std::string& model_sha256,
                                                        int max_attempts = 5);
  // One job per series of the completed study and applicable recipe (RecipesFor its centre and
  // the series' modality). study_id 0: every completed study (a sweep after a crash).
  absl::StatusOr<std::vector<std::int64_t>> EnqueueForCompletedStudy(std::int64_t study_id,
                                                                     int max_attempts = 5);
  // The quiet-period fallback: marks complete the studies that received nothing for `quiet`
  // (last_received_at is up to 5 s stale) and returns their ids, each to exactly one caller.
  absl::StatusOr<std::vector<std::int64_t>> CompleteQuietStudies(std::chrono::milliseconds quiet);

  // Claims a due queued job, or takes over a running one whose lease expired, for `lease`;
  // attempts + 1. A running job whose lease expired on its last attempt is failed instead.
  // nullopt when nothing is due. worker_id must be unique per worker process.
  absl::StatusOr<std::optional<Job>> ClaimJob(const std::string& worker_id,
                                              std::chrono::milliseconds lease);
  // Extends the lease; FailedPrecondition when the worker no longer holds it, NotFound.
  absl::Status Heartbeat(std::int64_t job_id, const std::string& worker_id,
                         std::chrono::milliseconds lease);
  // One transaction: records the derivation (unless the series has it already) and marks the job
  // done, if the worker still holds the lease (else FailedPrecondition). Repeating a completion
  // that committed (e.g. after Unavailable) returns the same derivation.
  absl::StatusOr<CompletedJob> CompleteJob(std::int64_t job_id, const std::string& worker_id,
                                           const Derivation& derivation);
  // Records a failed attempt: queued again after the policy's back-off, or failed with `error`
  // after max_attempts (at once when permanent). FailedPrecondition when the lease was lost.
  absl::StatusOr<JobFailure> FailJob(std::int64_t job_id, const std::string& worker_id,
                                     const std::string& error, const RetryPolicy& policy,
                                     bool permanent = false);
  // Queues failed jobs again with fresh attempts; no ids: every failed job. Returns how many.
  absl::StatusOr<std::int64_t> RetryJobs(const std::vector<std::int64_t>& job_ids);
  absl::StatusOr<Job> GetJob(std::int64_t job_id);
  absl::StatusOr<std::vector<Job>> ListJobs(std::optional<JobState> state, int limit = 1000);
  // True when no job is queued (due or not) or running.
  absl::StatusOr<bool> QueueIdle();
  absl::StatusOr<JobCounts> CountJobs();
  // Queued, running and failed jobs, through the state index (`done` is left 0: it only grows, and
  // this runs at every metrics scrape).
  absl::StatusOr<JobCounts> QueueDepth();

  absl::StatusOr<std::vector<Derivation>> ListDerivations(std::int64_t series_id);

  // No database round trip.
  PoolStats GetPoolStats() const;

  // Research cohorts (cohort_repository.cc). Harmonized volumes matching `query`, ordered by
  // (derivation, stem), the first `limit` after `after`; each with its output files.
  absl::StatusOr<std::vector<HarmonizedVolume>> QueryVolumes(const VolumeQuery& query,
                                                             const VolumeCursor& after, int limit);
  // A new cohort's id, before its documents (which name it) are written.
  absl::StatusOr<std::int64_t> ReserveCohortId();
  // One transaction: the cohort, its volumes and files (blobs stored before). Returns its summary.
  absl::StatusOr<CohortSummary> CreateCohort(const NewCohort& cohort);
  absl::StatusOr<std::vector<CohortSummary>> ListCohorts();
  // NotFound for an unknown id.
  absl::StatusOr<CohortSummary> GetCohort(std::int64_t id);
  absl::StatusOr<std::vector<VolumeCursor>> CohortVolumes(std::int64_t id);
  // The cohort's volumes as QueryVolumes describes them (whatever later happened to the series).
  absl::StatusOr<std::vector<HarmonizedVolume>> DescribeVolumes(
      const std::vector<VolumeCursor>& volumes);
  absl::StatusOr<std::vector<CohortFileRecord>> CohortFiles(std::int64_t id);
  // What the derivations read and where that came from: instances, uploads, methods.
  absl::StatusOr<Lineage> LineageOf(const std::vector<std::int64_t>& derivation_ids);
  // The derivations of a series, and those that wrote a blob.
  absl::StatusOr<std::vector<std::int64_t>> DerivationsOfSeries(std::int64_t series_id);
  absl::StatusOr<std::vector<std::int64_t>> DerivationsWriting(const std::string& blob_sha256);
  // The lineage of stored instances (no derivation): by blob digest or keyed original digest.
  absl::StatusOr<Lineage> LineageOfInstance(const std::string& blob_sha256,
                                            const std::string& original_digest);

 private:
  struct Impl;
  explicit Repository(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tributary::provenance
