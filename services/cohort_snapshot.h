#pragma once

#include <string>

#include "common/status.h"
#include "provenance/repository.h"
#include "storage/blob_store.h"

namespace tributary::services {

// Freezes a query's result into a cohort: every matching harmonized volume placed in a BIDS
// derivative tree (harmonize::PlanLayout), the dataset's documents written (dataset description,
// README, participants, .bidsignore, QC summary, PROV-JSON, manifest) into the blob store, and
// the whole file list recorded in one transaction. What is exported later is exactly this list.
class CohortSnapshot {
 public:
  CohortSnapshot(provenance::Repository& repository, const storage::BlobStore& blobs)
      : repository_(repository), blobs_(blobs) {}

  // FailedPrecondition when nothing matches.
  absl::StatusOr<provenance::CohortSummary> Create(const std::string& name,
                                                   const provenance::VolumeQuery& query,
                                                   const std::string& query_json,
                                                   std::int64_t created_by_token_id) const;

  // Every volume matching `query`, all pages.
  absl::StatusOr<std::vector<provenance::HarmonizedVolume>> AllVolumes(
      const provenance::VolumeQuery& query) const;

 private:
  provenance::Repository& repository_;
  const storage::BlobStore& blobs_;
};

}  // namespace tributary::services
