#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harmonize/bids_layout.h"

namespace tributary::harmonize {

// The top-level documents of a cohort's BIDS derivative dataset, as text.

struct RecipeUsed {
  std::string name, version, sha256;
};
struct ModelUsed {
  std::string sha256, method;
};

struct DatasetInfo {
  std::int64_t cohort_id = 0;
  std::string cohort_name;
  std::string created_at;
  std::string query_json;  // the cohort's filters, as given
  std::string software_version;
  std::vector<RecipeUsed> recipes;
  std::vector<ModelUsed> models;
  std::vector<std::string> centres;
  std::size_t subject_count = 0, volume_count = 0;
};

struct Participant {
  std::string subject;  // without "sub-"
  std::string centre;
  std::string sex;       // M, F, O or empty
  double age_years = 0;  // 0: unknown
};

// One row of qc/summary.tsv.
struct QcRow {
  std::string image_path, centre, modality, recipe;
  std::string metrics_json;  // the volume's QC values
};

std::string DatasetDescription(const DatasetInfo& info);
std::string Readme(const DatasetInfo& info, const Layout& layout);
std::string ParticipantsTsv(const std::vector<Participant>& participants);
std::string ParticipantsJson();
std::string BidsIgnore(const Layout& layout);
std::string QcSummaryTsv(const std::vector<QcRow>& rows);

// `sha256sum` format: "<hex>  <path>\n", sorted by path; `sha256sum -c` in the dataset's root
// checks every file.
struct ManifestEntry {
  std::string path, sha256;
};
std::string Manifest(std::vector<ManifestEntry> entries);

}  // namespace tributary::harmonize
