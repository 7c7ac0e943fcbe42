// The harmonization job queue, recipes and derivations against a real PostgreSQL (a throwaway
// cluster, as in provenance_test.cc). Workers that must be separate processes are forked.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "common/hash.h"
#include "provenance/repository.h"
#include "services/postgres_cluster.h"

namespace tributary::provenance {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string Digest(const std::string& text) { return ToHex(Sha256(text)); }

Recipe MakeRecipe(const std::string& name) {
  Recipe recipe;
  recipe.name = name;
  recipe.version = "1";
  recipe.json = R"({"name":")" + name + R"(","spacing_mm":[1,1,1],"version":"1"})";
  recipe.sha256 = Digest(recipe.json);
  return recipe;
}

// What a worker would record for the job: its series' instances in, three files out.
Derivation DerivationFor(Repository& repository, const Job& job) {
  Derivation d;
  auto blobs = repository.SeriesInstanceBlobs(job.series_id).value();
  for (const auto& [sha256, size] : blobs) {
    d.input_blob_sha256s.push_back(sha256);
  }
  std::string key = job.series_uid + job.recipe_sha256 + job.model_sha256;
  d.outputs = {{"nifti", "volume.nii.gz", Digest("nifti " + key), 4096},
               {"sidecar", "volume.json", Digest("json " + key), 512},
               {"qc_png", "volume.png", Digest("png " + key), 2048}};
  d.qc_metrics_json = R"({"foreground_fraction":0.42})";
  d.software_versions_json = R"({"tributary":"test","itk":"5.2"})";
  d.timings_json = R"({"total_ms":1})";
  return d;
}

class JobQueue : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("trib_jobs_" + std::to_string(::getpid())));
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
    // Each test queues its own jobs; what earlier tests left must not be claimed.
    Sql("UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL "
        "WHERE state IN ('queued', 'running')");
  }

  void Sql(const std::string& statement) {
    pqxx::connection connection(cluster_->url());
    pqxx::nontransaction n(connection);
    n.exec(statement);
  }
  double SqlNumber(const std::string& query) {
    pqxx::connection connection(cluster_->url());
    pqxx::nontransaction n(connection);
    return n.exec(query)[0][0].as<double>();
  }

  Principal NewCentre(const std::string& name) {
    std::string unique = name + "-" + std::to_string(++counter_) + "-" + std::to_string(::getpid());
    std::string token_digest = Digest("token " + unique);
    EXPECT_TRUE(repository_->AddCentre(unique, token_digest).ok());
    return repository_->Authenticate(token_digest).value();
  }

  // A study of `count` series of one instance each; returns the study's id.
  std::int64_t NewStudy(const Principal& centre, int count, const std::string& modality) {
    std::int64_t upload = repository_->StartUpload(centre, "req").value();
    std::string study = "2.25.8" + std::to_string(::getpid()) + std::to_string(++counter_);
    for (int i = 0; i < count; ++i) {
      std::string n = study + "." + std::to_string(i);
      InstanceRecord r;
      r.centre_id = centre.centre_id;
      r.upload_id = upload;
      r.patient_pseudonym = "TRBPATIENT";
      r.study_uid = study;
      r.series_uid = n + ".1";
      r.sop_instance_uid = n + ".1.1";
      r.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
      r.transfer_syntax_uid = "1.2.840.10008.1.2.1";
      r.modality = modality;
      r.blob_sha256 = Digest("instance " + n);
      r.blob_size = 1000;
      r.original_digest = Digest("original " + n);
      r.profile_edition = "test";
      r.options = "";
      r.software_version = "tributary test";
      auto stored = repository_->RecordInstance(r);
      EXPECT_TRUE(stored.ok() && stored->result == RecordResult::kStored) << stored.status();
    }
    SeriesFilter filter;
    filter.centre = centre.centre_name;
    auto series = repository_->ListSeries(filter);
    EXPECT_TRUE(series.ok() && !series->empty());
    return series->back().study_id;
  }

  std::vector<std::int64_t> SeriesOf(std::int64_t study_id) {
    std::vector<std::int64_t> ids;
    SeriesFilter filter;
    filter.study_id = study_id;
    auto rows = repository_->ListSeries(filter).value();
    for (const SeriesRow& row : rows) {
      ids.push_back(row.id);
    }
    return ids;
  }

  Recipe PutRecipe(const std::string& name) {
    Recipe recipe = MakeRecipe(name + "-" + std::to_string(::getpid()));
    EXPECT_TRUE(repository_->PutRecipe(recipe).ok());
    return recipe;
  }

  static int counter_;
  static fs::path* dir_;
  static services::PostgresCluster* cluster_;
  std::unique_ptr<Repository> repository_;
};

int JobQueue::counter_ = 0;
fs::path* JobQueue::dir_ = nullptr;
services::PostgresCluster* JobQueue::cluster_ = nullptr;

// A worker process: waits for the start signal, then claims and completes jobs until the queue is
// idle. Exit status 0 when every job it claimed was completed by it and recorded a derivation.
[[noreturn]] void WorkerProcess(const std::string& url, const std::string& worker_id,
                                int start_fd) {
  char go;
  if (::read(start_fd, &go, 1) != 1) ::_exit(10);
  auto repository = Repository::Connect(url, 1);
  if (!repository.ok()) ::_exit(11);
  for (;;) {
    auto job = (*repository)->ClaimJob(worker_id, seconds(30));
    if (!job.ok()) ::_exit(12);
    if (!job->has_value()) {
      auto idle = (*repository)->QueueIdle();
      if (!idle.ok()) ::_exit(13);
      if (*idle) ::_exit(0);
      std::this_thread::sleep_for(milliseconds(5));  // the other worker holds the last jobs
      continue;
    }
    if ((*job)->attempts != 1) ::_exit(14);
    std::this_thread::sleep_for(milliseconds(1));  // the work
    auto done =
        (*repository)->CompleteJob((*job)->id, worker_id, DerivationFor(**repository, **job));
    if (!done.ok() || !done->inserted) ::_exit(15);
  }
}

TEST_F(JobQueue, TwoWorkerProcessesRunEachOf200JobsExactlyOnce) {
  Principal centre = NewCentre("two-workers");
  std::vector<std::int64_t> series = SeriesOf(NewStudy(centre, 200, "CT"));
  ASSERT_EQ(series.size(), 200u);
  Recipe recipe = PutRecipe("ct-1mm");
  auto jobs = repository_->EnqueueJobs(series, recipe.sha256, "");
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 200u);

  int start[2];
  ASSERT_EQ(::pipe(start), 0);
  std::vector<pid_t> children;
  for (const char* name : {"worker-a", "worker-b"}) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) WorkerProcess(cluster_->url(), name, start[0]);
    children.push_back(pid);
  }
  ASSERT_EQ(::write(start[1], "gg", 2), 2);  // both start together
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "worker status " << status;
  }
  ::close(start[0]);
  ::close(start[1]);

  EXPECT_TRUE(repository_->QueueIdle().value());
  std::map<std::string, int> by_worker;
  std::set<std::int64_t> job_ids(jobs->begin(), jobs->end());
  for (std::int64_t id : series) {
    auto derivations = repository_->ListDerivations(id);
    ASSERT_TRUE(derivations.ok()) << derivations.status();
    ASSERT_EQ(derivations->size(), 1u) << "series " << id;
    const Derivation& d = derivations->front();
    EXPECT_EQ(job_ids.erase(d.job_id), 1u) << "job " << d.job_id << " recorded twice or unknown";
    EXPECT_EQ(d.recipe_sha256, recipe.sha256);
    EXPECT_EQ(d.input_blob_sha256s.size(), 1u);
    EXPECT_EQ(d.outputs.size(), 3u);
    ++by_worker[d.worker];
  }
  EXPECT_TRUE(job_ids.empty());
  EXPECT_EQ(by_worker.size(), 2u) << "one worker did everything";
  for (std::int64_t id : *jobs) {
    Job job = repository_->GetJob(id).value();
    EXPECT_EQ(job.state, JobState::kDone);
    EXPECT_EQ(job.attempts, 1);
    EXPECT_EQ(job.lease_owner, "");
    EXPECT_EQ(job.lease_expires_at, "");
    EXPECT_NE(job.finished_at, "");
  }
}

TEST_F(JobQueue, AKilledWorkersJobIsTakenOverWhenItsLeaseExpires) {
  Principal centre = NewCentre("killed");
  std::vector<std::int64_t> series = SeriesOf(NewStudy(centre, 1, "CT"));
  Recipe recipe = PutRecipe("ct-killed");
  std::int64_t job_id = repository_->EnqueueJobs(series, recipe.sha256, "").value().at(0);

  int claimed[2];
  ASSERT_EQ(::pipe(claimed), 0);
  pid_t victim = ::fork();
  ASSERT_GE(victim, 0);
  if (victim == 0) {
    auto repository = Repository::Connect(cluster_->url(), 1);
    if (!repository.ok()) ::_exit(11);
    auto job = (*repository)->ClaimJob("victim", seconds(1));
    if (!job.ok() || !job->has_value()) ::_exit(12);
    std::int64_t id = (*job)->id;
    if (::write(claimed[1], &id, sizeof id) != sizeof id) ::_exit(13);
    for (;;) ::pause();  // mid-job
  }
  std::int64_t victim_job = 0;
  ASSERT_EQ(::read(claimed[0], &victim_job, sizeof victim_job),
            static_cast<ssize_t>(sizeof victim_job));
  auto killed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(victim, &status, 0), victim);
  ASSERT_TRUE(WIFSIGNALED(status));
  ::close(claimed[0]);
  ::close(claimed[1]);
  EXPECT_EQ(victim_job, job_id);

  // The lease still holds: nobody may take the job yet.
  auto early = repository_->ClaimJob("rescuer", seconds(1));
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_FALSE(early->has_value());
  EXPECT_EQ(repository_->GetJob(job_id).value().lease_owner, "victim");

  std::optional<Job> taken;
  while (!taken && std::chrono::steady_clock::now() - killed_at < seconds(5)) {
    std::this_thread::sleep_for(milliseconds(50));
    taken = repository_->ClaimJob("rescuer", seconds(1)).value();
  }
  ASSERT_TRUE(taken.has_value()) << "the expired lease was not taken over";
  EXPECT_EQ(taken->id, job_id);
  EXPECT_EQ(taken->attempts, 2);
  EXPECT_EQ(taken->lease_owner, "rescuer");
  auto done = repository_->CompleteJob(job_id, "rescuer", DerivationFor(*repository_, *taken));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_TRUE(done->inserted);
  auto derivations = repository_->ListDerivations(series[0]).value();
  ASSERT_EQ(derivations.size(), 1u);
  EXPECT_EQ(derivations[0].worker, "rescuer");
  EXPECT_EQ(repository_->GetJob(job_id).value().state, JobState::kDone);
}

TEST_F(JobQueue, APoisonJobFailsAfterMaxAttemptsWithGrowingBackOffAndCanBeRetried) {
  Principal centre = NewCentre("poison");
  std::vector<std::int64_t> series = SeriesOf(NewStudy(centre, 1, "CT"));
  Recipe recipe = PutRecipe("ct-poison");
  std::int64_t job_id = repository_->EnqueueJobs(series, recipe.sha256, "", 5).value().at(0);
  RetryPolicy policy{.base = seconds(10), .cap = seconds(60), .jitter = 0.5};

  const std::vector<milliseconds> full_delays = {seconds(10), seconds(20), seconds(40),
                                                 seconds(60)};
  for (int attempt = 1; attempt <= 5; ++attempt) {
    auto job = repository_->ClaimJob("poisoned", seconds(30));
    ASSERT_TRUE(job.ok()) << job.status();
    ASSERT_TRUE(job->has_value()) << "attempt " << attempt;
    EXPECT_EQ((*job)->id, job_id);
    EXPECT_EQ((*job)->attempts, attempt);
    std::string error = "decoder exploded on attempt " + std::to_string(attempt);
    auto failure = repository_->FailJob(job_id, "poisoned", error, policy);
    ASSERT_TRUE(failure.ok()) << failure.status();
    EXPECT_EQ(failure->attempts, attempt);
    if (attempt == 5) {
      EXPECT_EQ(failure->state, JobState::kFailed);
      break;
    }
    ASSERT_EQ(failure->state, JobState::kQueued);
    milliseconds full = full_delays[attempt - 1];
    EXPECT_GE(failure->retry_in, full / 2) << "attempt " << attempt;
    EXPECT_LE(failure->retry_in, full) << "attempt " << attempt;
    double scheduled_ms = SqlNumber(
        "SELECT extract(epoch FROM next_attempt_at - now()) * 1000 FROM jobs WHERE id = " +
        std::to_string(job_id));
    EXPECT_LE(scheduled_ms, failure->retry_in.count() + 1.0);
    EXPECT_GE(scheduled_ms, failure->retry_in.count() - 2000.0);
    EXPECT_EQ(repository_->GetJob(job_id).value().last_error, error);
    // Not due yet: nobody gets it. Then the back-off is skipped rather than waited for.
    EXPECT_FALSE(repository_->ClaimJob("poisoned", seconds(30)).value().has_value());
    Sql("UPDATE jobs SET next_attempt_at = now() WHERE id = " + std::to_string(job_id));
  }

  Job failed = repository_->GetJob(job_id).value();
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.attempts, 5);
  EXPECT_EQ(failed.last_error, "decoder exploded on attempt 5");
  EXPECT_EQ(failed.lease_owner, "");
  EXPECT_NE(failed.finished_at, "");
  EXPECT_FALSE(repository_->ClaimJob("poisoned", seconds(30)).value().has_value());
  EXPECT_TRUE(repository_->QueueIdle().value());
  auto listed = repository_->ListJobs(JobState::kFailed).value();
  EXPECT_TRUE(
      std::any_of(listed.begin(), listed.end(), [&](const Job& j) { return j.id == job_id; }));

  EXPECT_EQ(repository_->RetryJobs({job_id}).value(), 1);
  EXPECT_EQ(repository_->RetryJobs({job_id}).value(), 0) << "only failed jobs are retried";
  EXPECT_FALSE(repository_->QueueIdle().value());
  auto again = repository_->ClaimJob("poisoned", seconds(30)).value();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->id, job_id);
  EXPECT_EQ(again->attempts, 1);

  // A permanent failure does not wait for max_attempts; RetryJobs({}) retries every failed job.
  auto permanent = repository_->FailJob(job_id, "poisoned", "not an image", policy, true);
  ASSERT_TRUE(permanent.ok()) << permanent.status();
  EXPECT_EQ(permanent->state, JobState::kFailed);
  EXPECT_GE(repository_->RetryJobs({}).value(), 1);
  EXPECT_EQ(repository_->GetJob(job_id).value().state, JobState::kQueued);
}

TEST_F(JobQueue, EnqueueingAndCompletingAreIdempotent) {
  Principal centre = NewCentre("idempotent");
  std::vector<std::int64_t> series = SeriesOf(NewStudy(centre, 1, "MR"));
  Recipe recipe = PutRecipe("mr-zscore");
  auto first = repository_->EnqueueJobs({series[0], series[0]}, recipe.sha256, "");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_TRUE(repository_->EnqueueJobs(series, recipe.sha256, "").value().empty());
  EXPECT_EQ(repository_->EnqueueJobs({-1}, recipe.sha256, "").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(repository_->EnqueueJobs(series, Digest("no such recipe"), "").status().code(),
            absl::StatusCode::kNotFound);
  std::int64_t job_id = first->front();

  Job job = repository_->ClaimJob("w1", seconds(30)).value().value();
  EXPECT_EQ(job.id, job_id);
  Derivation broken = DerivationFor(*repository_, job);
  broken.qc_metrics_json = "{not json";
  EXPECT_EQ(repository_->CompleteJob(job_id, "w1", broken).status().code(),
            absl::StatusCode::kInvalidArgument);
  Derivation unknown_input = DerivationFor(*repository_, job);
  unknown_input.input_blob_sha256s.push_back(Digest("never stored"));
  EXPECT_EQ(repository_->CompleteJob(job_id, "w1", unknown_input).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(repository_->ListDerivations(series[0]).value().empty());

  auto done = repository_->CompleteJob(job_id, "w1", DerivationFor(*repository_, job));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_TRUE(done->inserted);
  // The same worker repeating a completion whose answer it lost gets the same answer.
  auto repeated = repository_->CompleteJob(job_id, "w1", DerivationFor(*repository_, job));
  ASSERT_TRUE(repeated.ok()) << repeated.status();
  EXPECT_FALSE(repeated->inserted);
  EXPECT_EQ(repeated->derivation_id, done->derivation_id);
  EXPECT_TRUE(repository_->EnqueueJobs(series, recipe.sha256, "").value().empty())
      << "a derived series was queued again";

  // Another job for the same (series, recipe, model) (the first one pruned) records nothing new.
  Sql("DELETE FROM jobs WHERE id = " + std::to_string(job_id));
  EXPECT_TRUE(repository_->EnqueueJobs(series, recipe.sha256, "").value().empty())
      << "a derived series was queued again after its job was pruned";
  Sql("INSERT INTO jobs (series_id, recipe_sha256) VALUES (" + std::to_string(series[0]) + ", '" +
      recipe.sha256 + "')");
  Job second = repository_->ClaimJob("w2", seconds(30)).value().value();
  EXPECT_NE(second.id, job_id);
  auto again = repository_->CompleteJob(second.id, "w2", DerivationFor(*repository_, second));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->inserted);
  EXPECT_EQ(again->derivation_id, done->derivation_id);
  EXPECT_EQ(repository_->GetJob(second.id).value().state, JobState::kDone);
  auto derivations = repository_->ListDerivations(series[0]).value();
  ASSERT_EQ(derivations.size(), 1u);
  EXPECT_EQ(derivations[0].worker, "w1");
  EXPECT_EQ(derivations[0].job_id, 0) << "the pruned job is still referenced";
  EXPECT_EQ(derivations[0].outputs.size(), 3u);
  EXPECT_NE(derivations[0].qc_metrics_json.find("foreground_fraction"), std::string::npos);

  // A model makes a different derivation: a job of its own.
  Model model;
  model.method = "nyul";
  model.json = R"({"landmarks":[0,10,20,30,40,50,60,70,80,90,100]})";
  model.sha256 = Digest(model.json);
  model.recipe_sha256 = recipe.sha256;
  model.training_series_ids = series;
  model.added_by_token_id = centre.token_id;
  ASSERT_TRUE(repository_->PutModel(model).ok());
  ASSERT_TRUE(repository_->PutModel(model).ok());
  Model stored = repository_->GetModel(model.sha256).value();
  EXPECT_EQ(stored.training_series_ids, series);
  EXPECT_EQ(stored.recipe_sha256, recipe.sha256);
  EXPECT_EQ(stored.added_by_token_id, centre.token_id);
  Recipe other = PutRecipe("mr-other");
  EXPECT_EQ(repository_->EnqueueJobs(series, other.sha256, model.sha256).status().code(),
            absl::StatusCode::kInvalidArgument)
      << "a model of another recipe";
  auto with_model = repository_->EnqueueJobs(series, recipe.sha256, model.sha256).value();
  ASSERT_EQ(with_model.size(), 1u);
  EXPECT_EQ(repository_->GetJob(with_model[0]).value().model_sha256, model.sha256);
  EXPECT_TRUE(repository_->EnqueueJobs(series, recipe.sha256, model.sha256).value().empty());
}

TEST_F(JobQueue, AStaleWorkerCannotHeartbeatOrCompleteATakenOverJob) {
  Principal centre = NewCentre("stale");
  std::vector<std::int64_t> series = SeriesOf(NewStudy(centre, 1, "CT"));
  Recipe recipe = PutRecipe("ct-stale");
  std::int64_t job_id = repository_->EnqueueJobs(series, recipe.sha256, "").value().at(0);
  RetryPolicy policy;

  Job stale = repository_->ClaimJob("stale", seconds(1)).value().value();
  EXPECT_TRUE(repository_->Heartbeat(job_id, "stale", seconds(1)).ok());
  EXPECT_EQ(repository_->Heartbeat(job_id, "fresh", seconds(1)).code(),
            absl::StatusCode::kFailedPrecondition);
  // The stale worker stops heartbeating (a long GC pause, a network partition).
  Sql("UPDATE jobs SET lease_expires_at = now() - interval '1 millisecond' WHERE id = " +
      std::to_string(job_id));
  Job fresh = repository_->ClaimJob("fresh", seconds(30)).value().value();
  EXPECT_EQ(fresh.id, job_id);
  EXPECT_EQ(fresh.attempts, 2);

  EXPECT_EQ(repository_->Heartbeat(job_id, "stale", seconds(1)).code(),
            absl::StatusCode::kFailedPrecondition);
  absl::Status late =
      repository_->CompleteJob(job_id, "stale", DerivationFor(*repository_, stale)).status();
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(IsLeaseLost(late)) << late;
  EXPECT_TRUE(IsLeaseLost(repository_->Heartbeat(job_id, "stale", seconds(1))));
  // A refused constraint is FailedPrecondition too, but no lost lease: the worker must not
  // abandon the job for it (issue 10 F).
  EXPECT_FALSE(IsLeaseLost(absl::FailedPreconditionError("constraint violated")));
  EXPECT_EQ(repository_->FailJob(job_id, "stale", "too late", policy).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(repository_->ListDerivations(series[0]).value().empty());
  Job now_held = repository_->GetJob(job_id).value();
  EXPECT_EQ(now_held.lease_owner, "fresh");
  EXPECT_EQ(now_held.last_error, "");

  EXPECT_TRUE(repository_->Heartbeat(job_id, "fresh", seconds(30)).ok());
  ASSERT_TRUE(repository_->CompleteJob(job_id, "fresh", DerivationFor(*repository_, fresh)).ok());
  EXPECT_EQ(
      repository_->CompleteJob(job_id, "stale", DerivationFor(*repository_, stale)).status().code(),
      absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(repository_->Heartbeat(job_id, "fresh", seconds(1)).code(),
            absl::StatusCode::kFailedPrecondition)
      << "a done job has no lease";
  EXPECT_EQ(repository_->Heartbeat(-1, "fresh", seconds(1)).code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(repository_->ListDerivations(series[0]).value().size(), 1u);
}

TEST_F(JobQueue, AJobWhoseWorkersKeepDyingFailsWhenItsLastLeaseExpires) {
  Principal centre = NewCentre("dying");
  std::vector<std::int64_t> series = SeriesOf(NewStudy(centre, 1, "CT"));
  Recipe recipe = PutRecipe("ct-dying");
  std::int64_t job_id = repository_->EnqueueJobs(series, recipe.sha256, "", 2).value().at(0);
  for (int attempt = 1; attempt <= 2; ++attempt) {
    ASSERT_TRUE(repository_->ClaimJob("doomed", seconds(30)).value().has_value());
    Sql("UPDATE jobs SET lease_expires_at = now() - interval '1 millisecond' WHERE id = " +
        std::to_string(job_id));
  }
  EXPECT_FALSE(repository_->ClaimJob("doomed", seconds(30)).value().has_value());
  Job job = repository_->GetJob(job_id).value();
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_EQ(job.attempts, 2);
  EXPECT_NE(job.last_error.find("lease expired"), std::string::npos) << job.last_error;
}

TEST_F(JobQueue, RecipesAreContentAddressedAndAssignedPerCentreElseByModality) {
  Recipe recipe = MakeRecipe("tampered");
  recipe.json += " ";
  EXPECT_EQ(repository_->PutRecipe(recipe).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(repository_->GetRecipe(Digest("nothing")).status().code(), absl::StatusCode::kNotFound);
  Recipe ct_default = PutRecipe("ct-default");
  Recipe ct_own = PutRecipe("ct-own");
  Recipe mr_default = PutRecipe("mr-default");
  ASSERT_TRUE(repository_->PutRecipe(ct_own).ok()) << "putting the same recipe twice";
  Recipe got = repository_->GetRecipe(ct_own.sha256).value();
  EXPECT_EQ(got.json, ct_own.json);
  EXPECT_EQ(got.name, ct_own.name);
  EXPECT_NE(got.created_at, "");
  EXPECT_GE(repository_->ListRecipes().value().size(), 3u);

  Principal own = NewCentre("own");
  Principal plain = NewCentre("plain");
  ASSERT_TRUE(repository_->AssignRecipe("", "CT", ct_default.sha256).ok());
  ASSERT_TRUE(repository_->AssignRecipe("", "MR", mr_default.sha256).ok());
  ASSERT_TRUE(repository_->AssignRecipe(own.centre_name, "CT", ct_own.sha256).ok());
  ASSERT_TRUE(repository_->AssignRecipe(own.centre_name, "CT", ct_own.sha256).ok());
  EXPECT_EQ(repository_->AssignRecipe("nowhere", "CT", ct_own.sha256).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(repository_->AssignRecipe("", "CT", Digest("nothing")).code(),
            absl::StatusCode::kNotFound);
  auto names = [](const std::vector<Recipe>& recipes) {
    std::vector<std::string> out;
    for (const Recipe& r : recipes) out.push_back(r.sha256);
    return out;
  };
  EXPECT_EQ(names(repository_->RecipesFor(own.centre_name, "CT").value()),
            std::vector<std::string>{ct_own.sha256});
  EXPECT_EQ(names(repository_->RecipesFor(plain.centre_name, "CT").value()),
            std::vector<std::string>{ct_default.sha256});
  EXPECT_EQ(names(repository_->RecipesFor(own.centre_name, "MR").value()),
            std::vector<std::string>{mr_default.sha256});
  EXPECT_TRUE(repository_->RecipesFor(own.centre_name, "PT").value().empty());

  // A completed study: one job per series and applicable recipe.
  std::int64_t study = NewStudy(own, 2, "CT");
  ASSERT_TRUE(
      repository_->CompleteStudy(own, repository_->GetStudy(own, study)->first.study_uid, 0).ok());
  auto queued = repository_->EnqueueForCompletedStudy(study);
  ASSERT_TRUE(queued.ok()) << queued.status();
  ASSERT_EQ(queued->size(), 2u);
  for (std::int64_t id : *queued) {
    EXPECT_EQ(repository_->GetJob(id).value().recipe_sha256, ct_own.sha256);
  }
  EXPECT_TRUE(repository_->EnqueueForCompletedStudy(study).value().empty());

  // A study that is not complete gets no jobs until the quiet period completes it.
  std::int64_t quiet = NewStudy(plain, 1, "CT");
  EXPECT_TRUE(repository_->EnqueueForCompletedStudy(quiet).value().empty());
  auto none = repository_->CompleteQuietStudies(std::chrono::hours(1)).value();
  EXPECT_EQ(std::count(none.begin(), none.end(), quiet), 0);
  Sql("UPDATE studies SET last_received_at = now() - interval '2 hours' WHERE id = " +
      std::to_string(quiet));
  auto completed = repository_->CompleteQuietStudies(std::chrono::hours(1)).value();
  EXPECT_EQ(std::count(completed.begin(), completed.end(), quiet), 1);
  EXPECT_TRUE(repository_->CompleteQuietStudies(std::chrono::hours(1)).value().empty());
  auto swept = repository_->EnqueueForCompletedStudy(0).value();
  ASSERT_EQ(swept.size(), 1u);
  EXPECT_EQ(repository_->GetJob(swept[0]).value().recipe_sha256, ct_default.sha256);

  ASSERT_TRUE(repository_->UnassignRecipe(own.centre_name, "CT", ct_own.sha256).ok());
  EXPECT_EQ(names(repository_->RecipesFor(own.centre_name, "CT").value()),
            std::vector<std::string>{ct_default.sha256});
}

}  // namespace
}  // namespace tributary::provenance
