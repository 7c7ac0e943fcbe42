#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <stop_token>
#include <string>

#include "common/status.h"
#include "provenance/repository.h"
#include "services/metrics.h"
#include "storage/blob_store.h"

namespace tributary::services {

struct HarmonizationWorkerOptions {
  std::string worker_id;  // unique per worker: HarmonizationWorker::ProcessWorkerId() + "/" + n
  std::chrono::milliseconds lease{std::chrono::minutes(2)};  // renewed every lease / 3
  // When nothing is due: one claim query per idle worker and poll, a small cost for picking a
  // completed study up within half a second.
  std::chrono::milliseconds poll{std::chrono::milliseconds(500)};
  provenance::RetryPolicy retry;
  std::filesystem::path scratch_dir;  // each job writes its outputs in a private folder here
};

// One worker of the harmonization queue: claims a job, renews its lease while it works, rebuilds
// the series from its de-identified instances in the blob store, harmonizes it, stores every
// output in the blob store and records the derivation; only then is the job done. Failures go
// back to the queue with back-off, or fail the job for good when a retry cannot help (a recipe for
// another modality, a series that does not rebuild). Logs carry ids and digests only.
class HarmonizationWorker {
 public:
  HarmonizationWorker(provenance::Repository& repository, const storage::BlobStore& blobs,
                      HarmonizationWorkerOptions options, Metrics& metrics);

  // host:pid:start-time, unique per process.
  static std::string ProcessWorkerId();

  // Claims and runs jobs until `stop` is requested. A job under way when it is stops at its next
  // step without completing: its lease expires and another worker takes it over.
  void Run(std::stop_token stop);

  // Claims one due job and runs it; false when nothing was due.
  absl::StatusOr<bool> RunOne(std::stop_token stop);

 private:
  // Everything a job does up to and including CompleteJob; the status says why it did not.
  absl::Status Process(const provenance::Job& job, const std::filesystem::path& scratch,
                       std::stop_token stop);

  provenance::Repository& repository_;
  const storage::BlobStore& blobs_;
  HarmonizationWorkerOptions options_;
  Metrics& metrics_;
};

}  // namespace tributary::services
