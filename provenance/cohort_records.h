#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "provenance/harmonization_records.h"

// Plain records of research cohorts: queries over harmonized volumes, snapshots, lineage.
namespace tributary::provenance {

// A closed range; an end left out is open.
struct Range {
  std::optional<double> low, high;
};

// What QueryVolumes selects: every non-empty field must match (lists: any of their values).
struct VolumeQuery {
  std::vector<std::string> modalities;
  std::vector<std::string> centres;
  std::vector<std::string> recipes;  // names or SHA-256
  std::vector<std::string> body_parts;
  std::vector<std::string> sexes;  // M, F, O
  Range age_years;
  std::string study_date_from, study_date_to;  // YYYY-MM-DD, shifted; "" for open
  Range spacing_mm;                            // every axis
  Range size_voxels;                           // each of the first three axes
  std::map<std::string, Range> qc;             // QC metric name -> range
  // Of the copies of a study that several centres sent, keep only the first stored one.
  bool exclude_duplicates = false;
};

// One volume (stem) of one derivation.
struct HarmonizedVolume {
  std::int64_t derivation_id = 0;
  std::string stem;
  std::int64_t series_id = 0;
  std::string series_uid;
  std::int64_t study_id = 0;
  std::string study_uid;
  std::int64_t centre_id = 0;
  std::string centre;
  std::string patient_pseudonym;
  std::string modality;
  std::string recipe_name, recipe_sha256, model_sha256;
  std::string body_part, patient_sex, study_date;
  double patient_age_years = 0;
  std::vector<double> spacing;
  std::vector<std::int64_t> size;
  std::string qc_json;  // the volume's metrics
  std::string created_at;
  // The derivation's files whose names belong to this volume (stem.*, stem_qc.png).
  std::vector<DerivationOutput> outputs;
};

// Where a page ends: the next page starts after it.
struct VolumeCursor {
  std::int64_t derivation_id = 0;
  std::string stem;
};

struct CohortFileRecord {
  std::string path;
  std::string blob_sha256;
  std::int64_t size = 0;
};

struct NewCohort {
  std::int64_t id = 0;  // from Repository::ReserveCohortId
  std::string name;
  std::string created_at;  // UTC ISO 8601, as the exported documents say
  std::string query_json;
  std::int64_t created_by_token_id = 0;
  std::vector<VolumeCursor> volumes;
  std::vector<CohortFileRecord> files;  // every blob already stored
};

struct CohortSummary {
  std::int64_t id = 0;
  std::string name;
  std::string query_json;
  std::int64_t created_by_token_id = 0;
  std::string created_at;
  std::int64_t volume_count = 0, subject_count = 0, centre_count = 0, file_count = 0, bytes = 0;
};

// The lineage of a set of derivations, for PROV: what they read, where that came from.
struct LineageInstance {
  std::string blob_sha256;
  std::string original_digest;  // keyed
  std::int64_t upload_id = 0;
  std::string centre;
  std::string sop_instance_uid;  // de-identified
  std::string stored_at;
  std::int64_t deid_method_id = 0;
};
struct LineageUpload {
  std::int64_t id = 0;
  std::string centre;
  std::int64_t token_id = 0;
  std::string started_at, last_seen_at;
};
struct LineageMethod {
  std::int64_t id = 0;
  std::string profile_edition, options, software_version;
};
struct LineageDerivation {
  std::int64_t id = 0;
  std::int64_t series_id = 0;
  std::string series_uid;
  std::string recipe_sha256, recipe_name, model_sha256;
  std::string worker, created_at, software_versions_json;
  std::vector<std::string> input_blob_sha256s;
  std::vector<DerivationOutput> outputs;
};
struct Lineage {
  std::vector<LineageDerivation> derivations;
  std::vector<LineageInstance> instances;
  std::vector<LineageUpload> uploads;
  std::vector<LineageMethod> methods;
};

}  // namespace tributary::provenance
