#include "services/harmonization_worker.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/hash.h"
#include "dicom/series_reader.h"
#include "harmonize/harmonizer.h"
#include "normalize/nyul_model.h"
#include "normalize/recipe.h"

namespace tributary::services {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Errors that the same inputs would give again: the job fails at once rather than backing off.
bool IsPermanent(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kDataLoss:
      return true;
    default:
      return false;
  }
}

nlohmann::json ToJson(const common::MetadataValue& value) {
  return std::visit([](const auto& v) { return nlohmann::json(v); }, value);
}

nlohmann::json ToJson(const common::Metadata& metadata) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : metadata) out[key] = ToJson(value);
  return out;
}

// provenance names the QC picture's role qc_png (docs/SERVER.md); the rest keep harmonize's names.
std::string OutputRole(const std::string& role) { return role == "qc" ? "qc_png" : role; }

absl::StatusOr<std::string> ReadWholeFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InternalError("cannot read output " + path.filename().string());
  std::stringstream content;
  content << in.rdbuf();
  if (!in.good() && !in.eof())
    return absl::InternalError("cannot read output " + path.filename().string());
  return content.str();
}

// Renews a job's lease every lease / 3 on a thread of its own while the job runs; notes when the
// lease is lost (taken over, or the job is no longer running).
class LeaseKeeper {
 public:
  LeaseKeeper(provenance::Repository& repository, std::int64_t job_id, std::string worker_id,
              std::chrono::milliseconds lease)
      : thread_([this, &repository, job_id, worker_id = std::move(worker_id),
                 lease](std::stop_token stop) {
          std::mutex mutex;
          std::condition_variable_any wake;
          while (!stop.stop_requested()) {
            {
              std::unique_lock lock(mutex);
              wake.wait_for(lock, stop, lease / 3, [] { return false; });
            }
            if (stop.stop_requested()) return;
            absl::Status renewed = repository.Heartbeat(job_id, worker_id, lease);
            if (provenance::IsLeaseLost(renewed) || absl::IsNotFound(renewed)) {
              spdlog::warn("job {}: lease lost ({}); abandoning it", job_id,
                           std::string(renewed.message()));
              lost_ = true;
              return;
            }
            if (!renewed.ok())
              spdlog::warn("job {}: heartbeat failed: {}", job_id, renewed.ToString());
          }
        }) {}

  bool lost() const { return lost_; }

 private:
  std::atomic<bool> lost_{false};
  std::jthread thread_;  // last: stopped and joined before lost_ goes away
};

}  // namespace

HarmonizationWorker::HarmonizationWorker(provenance::Repository& repository,
                                         const storage::BlobStore& blobs,
                                         HarmonizationWorkerOptions options, Metrics& metrics)
    : repository_(repository), blobs_(blobs), options_(std::move(options)), metrics_(metrics) {}

std::string HarmonizationWorker::ProcessWorkerId() {
  static const std::string id = [] {
    char host[256] = {};
    if (::gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "unknown");
    auto start = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
    return std::string(host) + ":" + std::to_string(::getpid()) + ":" + std::to_string(start);
  }();
  return id;
}

void HarmonizationWorker::Run(std::stop_token stop) {
  std::mutex mutex;
  std::condition_variable_any wake;
  auto pause = [&](std::chrono::milliseconds how_long) {
    std::unique_lock lock(mutex);
    wake.wait_for(lock, stop, how_long, [] { return false; });
  };
  while (!stop.stop_requested()) {
    absl::StatusOr<bool> ran = RunOne(stop);
    if (!ran.ok()) {
      spdlog::warn("worker {}: {}", options_.worker_id, ran.status().ToString());
      pause(options_.poll);
    } else if (!*ran) {
      pause(options_.poll);
    }
  }
}

absl::StatusOr<bool> HarmonizationWorker::RunOne(std::stop_token stop) {
  TRIB_ASSIGN_OR_RETURN(std::optional<provenance::Job> job,
                        repository_.ClaimJob(options_.worker_id, options_.lease));
  if (!job) return false;
  spdlog::info("job {}: series {} ({}), recipe {}, attempt {} of {}", job->id, job->series_id,
               job->modality, job->recipe_sha256.substr(0, 12), job->attempts, job->max_attempts);
  Clock::time_point start = Clock::now();

  fs::path scratch =
      options_.scratch_dir / ("job-" + std::to_string(job->id) + "-" + std::to_string(::getpid()) +
                              "-" + std::to_string(std::hash<std::string>{}(options_.worker_id)));
  std::error_code error;
  fs::remove_all(scratch, error);
  fs::create_directories(scratch, error);
  ::chmod(scratch.c_str(), 0700);

  absl::Status status;
  bool lost = false;
  {
    LeaseKeeper keeper(repository_, job->id, options_.worker_id, options_.lease);
    status = error ? absl::InternalError("cannot create a scratch folder: " + error.message())
                   : Process(*job, scratch, stop);
    lost = keeper.lost();
  }
  fs::remove_all(scratch, error);

  auto finished = [&](JobOutcome outcome) {
    metrics_.JobFinished(outcome, status.code(), Clock::now() - start);
  };
  if (status.ok()) {
    spdlog::info("job {}: done in {:.1f} s", job->id, SecondsSince(start));
    finished(JobOutcome::kDone);
    return true;
  }
  if (absl::IsCancelled(status) || lost) {
    spdlog::info("job {}: abandoned ({}); its lease will expire", job->id,
                 lost ? "lease lost" : std::string(status.message()));
    finished(JobOutcome::kAbandoned);
    return true;
  }
  bool permanent = IsPermanent(status);
  std::string message =
      std::string(absl::StatusCodeToString(status.code())) + ": " + std::string(status.message());
  absl::StatusOr<provenance::JobFailure> failure =
      repository_.FailJob(job->id, options_.worker_id, message, options_.retry, permanent);
  if (!failure.ok()) {
    spdlog::warn("job {}: failed ({}), and recording it failed too: {}", job->id, message,
                 failure.status().ToString());
    finished(JobOutcome::kAbandoned);
    return true;
  }
  finished(failure->state == provenance::JobState::kFailed ? JobOutcome::kFailed
                                                           : JobOutcome::kRetried);
  if (failure->state == provenance::JobState::kFailed) {
    spdlog::warn("job {}: failed{}: {}", job->id, permanent ? " (permanent)" : "", message);
  } else {
    spdlog::warn("job {}: attempt {} failed, retry in {} s: {}", job->id, failure->attempts,
                 std::chrono::duration_cast<std::chrono::seconds>(failure->retry_in).count(),
                 message);
  }
  return true;
}

absl::Status HarmonizationWorker::Process(const provenance::Job& job, const fs::path& scratch,
                                          std::stop_token stop) {
  auto cancelled = [&] { return stop.stop_requested(); };
  nlohmann::json timings = nlohmann::json::object();

  Clock::time_point step = Clock::now();
  TRIB_ASSIGN_OR_RETURN(provenance::Recipe stored_recipe, repository_.GetRecipe(job.recipe_sha256));
  absl::StatusOr<normalize::Recipe> recipe = normalize::ParseRecipe(stored_recipe.json);
  if (!recipe.ok()) {
    return absl::InvalidArgumentError("stored recipe " + stored_recipe.name +
                                      " does not parse: " + std::string(recipe.status().message()));
  }
  std::optional<normalize::NyulModel> model;
  if (!job.model_sha256.empty()) {
    TRIB_ASSIGN_OR_RETURN(provenance::Model stored_model, repository_.GetModel(job.model_sha256));
    absl::StatusOr<normalize::NyulModel> parsed = normalize::ParseNyulModel(stored_model.json);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError("stored model does not parse: " +
                                        std::string(parsed.status().message()));
    }
    model = std::move(*parsed);
  }
  TRIB_ASSIGN_OR_RETURN(harmonize::Harmonizer harmonizer,
                        harmonize::Harmonizer::Create(std::move(*recipe), std::move(model)));

  // The de-identified instances, each checked against its digest.
  TRIB_ASSIGN_OR_RETURN(auto instance_blobs, repository_.SeriesInstanceBlobs(job.series_id));
  if (instance_blobs.empty())
    return absl::FailedPreconditionError("series " + std::to_string(job.series_id) +
                                         " has no instances");
  dicom::SeriesReader reader;
  std::vector<std::string> inputs;
  for (const auto& [digest, size] : instance_blobs) {
    if (cancelled()) return absl::CancelledError("shutting down");
    // Read checks the bytes against their name (the digest).
    TRIB_ASSIGN_OR_RETURN(std::string bytes, blobs_.Read(digest));
    if (static_cast<std::int64_t>(bytes.size()) != size)
      return absl::DataLossError("instance blob " + digest + " does not have its recorded size");
    absl::Status added = reader.AddBytes(std::move(bytes), digest);
    if (!added.ok())
      return absl::InvalidArgumentError("instance " + digest + ": " + std::string(added.message()));
    inputs.push_back(digest);
  }
  timings["read_instances"] = SecondsSince(step);

  step = Clock::now();
  dicom::SeriesVolumes series = reader.BuildSeries(job.series_uid);
  timings["build_series"] = SecondsSince(step);
  if (!series.status.ok()) {
    return absl::Status(series.status.code() == absl::StatusCode::kOk ? absl::StatusCode::kInternal
                                                                      : series.status.code(),
                        "series does not rebuild: " + std::string(series.status.message()));
  }
  if (series.volumes.empty()) return absl::FailedPreconditionError("series rebuilt no volume");
  if (cancelled()) return absl::CancelledError("shutting down");

  const std::string subject = ToJson(series.subject).dump();  // before the series is moved
  step = Clock::now();
  harmonize::SeriesHarmonization result = harmonizer.Harmonize(std::move(series), scratch, inputs);
  timings["harmonize"] = SecondsSince(step);
  if (!result.status.ok()) return result.status;
  if (result.derivations.empty()) return absl::InternalError("harmonization produced nothing");
  if (cancelled()) return absl::CancelledError("shutting down");

  // Every output into the blob store (fsynced and renamed there), checked against the digest the
  // harmonizer took when it read the file back.
  step = Clock::now();
  provenance::Derivation derivation;
  derivation.input_blob_sha256s = inputs;
  nlohmann::json qc = nlohmann::json::object();
  nlohmann::json volumes = nlohmann::json::array();
  nlohmann::json steps = nlohmann::json::object();
  for (const harmonize::Derivation& d : result.derivations) {
    for (const harmonize::OutputFile& file : d.outputs) {
      TRIB_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(file.path));
      if (bytes.size() != file.size || ToHex(Sha256(bytes)) != file.sha256)
        return absl::InternalError("output " + file.path.filename().string() +
                                   " changed after it was written");
      TRIB_ASSIGN_OR_RETURN(storage::BlobStore::Stored stored, blobs_.Put(bytes));
      if (stored.sha256 != file.sha256)
        return absl::InternalError("blob store digest differs for " +
                                   file.path.filename().string());
      derivation.outputs.push_back({OutputRole(file.role), file.path.filename().string(),
                                    stored.sha256, static_cast<std::int64_t>(bytes.size())});
    }
    volumes.push_back({{"stem", d.stem}, {"metrics", ToJson(d.qc)}});
    nlohmann::json seconds = nlohmann::json::object();
    for (const auto& [name, value] : d.seconds) seconds[name] = value;
    steps[d.stem] = seconds;
  }
  qc["volumes"] = volumes;
  timings["store_outputs"] = SecondsSince(step);
  timings["steps"] = steps;
  nlohmann::json software = nlohmann::json::object();
  for (const auto& [name, version] : result.derivations.front().software) software[name] = version;
  derivation.qc_metrics_json = qc.dump();
  derivation.software_versions_json = software.dump();
  derivation.timings_json = timings.dump();
  derivation.subject_json = subject;
  if (cancelled()) return absl::CancelledError("shutting down");

  // A lost connection may leave the commit's outcome unknown: repeating it is safe.
  absl::StatusOr<provenance::CompletedJob> completed;
  for (int attempt = 0; attempt < 5; ++attempt) {
    completed = repository_.CompleteJob(job.id, options_.worker_id, derivation);
    if (!absl::IsUnavailable(completed.status()) && !absl::IsAborted(completed.status())) break;
    std::this_thread::sleep_for(std::chrono::seconds(1 << attempt));
  }
  // Only a lost lease is abandoned; a constraint the database refused fails the attempt.
  if (provenance::IsLeaseLost(completed.status()))
    return absl::CancelledError("lease lost before completion");
  if (!completed.ok()) return completed.status();
  spdlog::info("job {}: derivation {}{}, {} outputs", job.id, completed->derivation_id,
               completed->inserted ? "" : " (recorded before)", derivation.outputs.size());
  return absl::OkStatus();
}

}  // namespace tributary::services
