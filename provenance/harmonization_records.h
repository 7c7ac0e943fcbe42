#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

// Plain records of harmonization exchanged with the repository: recipes, models, jobs and
// derivations. Timestamps are UTC ISO-8601 text with milliseconds ("" when unset); digests are
// SHA-256 lowercase hex.
namespace tributary::provenance {

// A recipe is content-addressed: sha256 is the SHA-256 of `json`, its canonical text.
struct Recipe {
  std::string sha256;
  std::string name;
  std::string version;
  std::string json;
  std::string created_at;  // set by the repository
};

// A trained model (e.g. Nyul landmarks) for one recipe; sha256 is the SHA-256 of `json`.
struct Model {
  std::string sha256;
  std::string method;
  std::string json;
  std::string recipe_sha256;
  std::vector<std::int64_t> training_series_ids;
  std::int64_t added_by_token_id = 0;  // 0: none
  std::string created_at;              // set by the repository
};

enum class JobState { kQueued, kRunning, kDone, kFailed };

struct Job {
  std::int64_t id = 0;
  std::int64_t series_id = 0;
  std::string series_uid;
  std::string modality;
  std::string recipe_sha256;
  std::string model_sha256;  // "" when the recipe needs no model
  JobState state = JobState::kQueued;
  int attempts = 0;
  int max_attempts = 0;
  std::string next_attempt_at;
  std::string lease_owner;
  std::string lease_expires_at;
  std::string last_error;
  std::string created_at;
  std::string started_at;
  std::string finished_at;
};

// Exponential back-off for failed attempts: attempt n (1-based) waits d = min(cap, base * 2^(n-1))
// shortened by a random fraction of up to `jitter` (0..1), i.e. somewhere in [d * (1 - jitter), d].
struct RetryPolicy {
  std::chrono::milliseconds base{std::chrono::seconds(30)};
  std::chrono::milliseconds cap{std::chrono::minutes(30)};
  double jitter = 0.5;
};

// What FailJob did: re-queued after `retry_in`, or failed for good.
struct JobFailure {
  JobState state = JobState::kQueued;  // kQueued or kFailed
  int attempts = 0;
  std::chrono::milliseconds retry_in{0};
};

// How many jobs are in each state.
struct JobCounts {
  std::int64_t queued = 0;
  std::int64_t running = 0;
  std::int64_t done = 0;
  std::int64_t failed = 0;
};

// One file a derivation wrote to the blob store.
struct DerivationOutput {
  std::string role;  // "nifti", "sidecar", "bval", "bvec", "qc_png", ...
  std::string name;  // file name within the series' folder of an export
  std::string blob_sha256;
  std::int64_t size = 0;
};

// One harmonization of a series. A worker fills in what it did; CompleteJob takes series, recipe
// and model from the job. JSON fields hold JSON objects as text ("" for {}).
struct Derivation {
  std::int64_t id = 0;                          // set by the repository
  std::int64_t job_id = 0;                      // set by the repository (0 once the job is pruned)
  std::int64_t series_id = 0;                   // set by the repository
  std::string recipe_sha256;                    // set by the repository
  std::string model_sha256;                     // set by the repository
  std::vector<std::string> input_blob_sha256s;  // the de-identified instances read
  std::vector<DerivationOutput> outputs;
  std::string qc_metrics_json;
  std::string software_versions_json;
  std::string timings_json;
  std::string subject_json;  // PatientSex, PatientAgeYears, StudyDate, BodyPartExamined (cohorts)
  std::string worker;      // set by the repository: the worker that completed the job
  std::string created_at;  // set by the repository
};

// What CompleteJob recorded: the derivation's id, and whether this call inserted it (false when
// the series had this derivation already).
struct CompletedJob {
  std::int64_t derivation_id = 0;
  bool inserted = false;
};

struct SeriesFilter {
  std::int64_t series_id = 0;  // 0: any
  std::int64_t study_id = 0;   // 0: any
  std::string centre;          // "": any
  std::string modality;        // "": any
  int limit = 1000;
};

struct SeriesRow {
  std::int64_t id = 0;
  std::int64_t study_id = 0;
  std::string study_uid;
  std::string centre;
  std::string series_uid;
  std::string modality;
  std::int64_t instance_count = 0;
};

}  // namespace tributary::provenance
