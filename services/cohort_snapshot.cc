#include "services/cohort_snapshot.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <map>
#include <set>

#include "common/hash.h"
#include "common/version.h"
#include "harmonize/bids_documents.h"
#include "harmonize/bids_layout.h"
#include "harmonize/centre_distributions.h"
#include "provenance/prov_document.h"

namespace tributary::services {
namespace {

std::string NowUtc() {
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[40];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", text, static_cast<int>(millis));
  return out;
}

}  // namespace

absl::StatusOr<std::vector<provenance::HarmonizedVolume>> CohortSnapshot::AllVolumes(
    const provenance::VolumeQuery& query) const {
  std::vector<provenance::HarmonizedVolume> all;
  provenance::VolumeCursor after;
  for (;;) {
    TRIB_ASSIGN_OR_RETURN(auto page, repository_.QueryVolumes(query, after, 1000));
    if (page.empty()) return all;
    after = {page.back().derivation_id, page.back().stem};
    for (auto& v : page) all.push_back(std::move(v));
  }
}

absl::StatusOr<provenance::CohortSummary> CohortSnapshot::Create(
    const std::string& name, const provenance::VolumeQuery& query, const std::string& query_json,
    std::int64_t created_by_token_id) const {
  TRIB_ASSIGN_OR_RETURN(std::vector<provenance::HarmonizedVolume> volumes, AllVolumes(query));
  if (volumes.empty())
    return absl::FailedPreconditionError("no harmonized volume matches the filters");

  // The tree: each volume's files under BIDS names (the sidecar tells the MR contrast).
  std::vector<harmonize::LayoutVolume> layout_volumes;
  for (const auto& v : volumes) {
    harmonize::LayoutVolume lv;
    lv.subject = v.patient_pseudonym;
    lv.centre = v.centre;
    lv.study_id = v.study_id;
    lv.study_date = v.study_date;
    lv.derivation_id = v.derivation_id;
    lv.stem = v.stem;
    lv.modality = v.modality;
    for (const auto& o : v.outputs) {
      lv.files.push_back({o.name, o.blob_sha256, o.size});
      if (o.name == v.stem + ".json") {
        TRIB_ASSIGN_OR_RETURN(lv.sidecar_json, blobs_.Read(o.blob_sha256));
      }
    }
    layout_volumes.push_back(std::move(lv));
  }
  TRIB_ASSIGN_OR_RETURN(harmonize::Layout layout, harmonize::PlanLayout(layout_volumes));

  TRIB_ASSIGN_OR_RETURN(std::int64_t cohort_id, repository_.ReserveCohortId());
  harmonize::DatasetInfo info;
  info.cohort_id = cohort_id;
  info.cohort_name = name;
  info.created_at = NowUtc();
  info.query_json = query_json;
  info.software_version = kVersion;
  info.volume_count = volumes.size();
  std::set<std::string> centres, subjects, recipes, models;
  std::vector<harmonize::Participant> participants;
  std::vector<harmonize::QcRow> qc_rows;
  // A subject's age is the one at its first session in the cohort.
  std::map<std::string, std::pair<std::string, double>> first_age;
  for (std::size_t i = 0; i < volumes.size(); ++i) {
    const auto& v = volumes[i];
    centres.insert(v.centre);
    subjects.insert(v.patient_pseudonym);
    recipes.insert(v.recipe_sha256);
    if (!v.model_sha256.empty()) models.insert(v.model_sha256);
    auto& age = first_age[v.patient_pseudonym];
    std::string key = v.study_date + "/" + std::to_string(v.study_id);
    if (age.first.empty() || key < age.first) age = {key, v.patient_age_years};
    participants.push_back({v.patient_pseudonym, v.centre, v.patient_sex, 0});
    qc_rows.push_back(
        {layout.volumes[i].image_path, v.centre, v.modality, v.recipe_name, v.qc_json});
  }
  for (auto& p : participants) p.age_years = first_age[p.subject].second;
  info.centres.assign(centres.begin(), centres.end());
  info.subject_count = subjects.size();
  for (const std::string& sha : recipes) {
    TRIB_ASSIGN_OR_RETURN(provenance::Recipe r, repository_.GetRecipe(sha));
    info.recipes.push_back({r.name, r.version, r.sha256});
  }
  for (const std::string& sha : models) {
    TRIB_ASSIGN_OR_RETURN(provenance::Model m, repository_.GetModel(sha));
    info.models.push_back({m.sha256, m.method});
  }

  // The documents, each a blob; the manifest last, over every other file.
  std::vector<provenance::CohortFileRecord> files;
  for (const auto& f : layout.files) files.push_back({f.path, f.sha256, f.size});
  auto put = [&](const std::string& path, const std::string& text) -> absl::Status {
    TRIB_ASSIGN_OR_RETURN(storage::BlobStore::Stored stored, blobs_.Put(text));
    files.push_back({path, stored.sha256, static_cast<std::int64_t>(text.size())});
    return absl::OkStatus();
  };
  TRIB_RETURN_IF_ERROR(put("dataset_description.json", harmonize::DatasetDescription(info)));
  TRIB_RETURN_IF_ERROR(put("README", harmonize::Readme(info, layout)));
  TRIB_RETURN_IF_ERROR(put("participants.tsv", harmonize::ParticipantsTsv(participants)));
  TRIB_RETURN_IF_ERROR(put("participants.json", harmonize::ParticipantsJson()));
  TRIB_RETURN_IF_ERROR(put(".bidsignore", harmonize::BidsIgnore(layout)));
  TRIB_RETURN_IF_ERROR(put("qc/summary.tsv", harmonize::QcSummaryTsv(qc_rows)));
  TRIB_ASSIGN_OR_RETURN(auto pictures, harmonize::CentreDistributionPictures(qc_rows));
  for (const auto& picture : pictures) {
    std::string modality = picture.modality;
    std::transform(modality.begin(), modality.end(), modality.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    TRIB_RETURN_IF_ERROR(put("qc/" + modality + "_intensity_by_centre.png", picture.png));
  }

  std::vector<std::int64_t> derivation_ids;
  for (const auto& v : volumes) derivation_ids.push_back(v.derivation_id);
  std::sort(derivation_ids.begin(), derivation_ids.end());
  derivation_ids.erase(std::unique(derivation_ids.begin(), derivation_ids.end()),
                       derivation_ids.end());
  TRIB_ASSIGN_OR_RETURN(provenance::Lineage lineage, repository_.LineageOf(derivation_ids));
  provenance::CohortExport cohort;
  cohort.id = cohort_id;
  cohort.name = name;
  cohort.created_at = info.created_at;
  cohort.created_by_token_id = created_by_token_id;
  cohort.files = files;
  provenance::ProvDocument prov = provenance::BuildProvDocument(lineage, kVersion, &cohort);
  TRIB_RETURN_IF_ERROR(put("provenance.json", prov.json));

  std::vector<harmonize::ManifestEntry> manifest;
  for (const auto& f : files) manifest.push_back({f.path, f.blob_sha256});
  TRIB_RETURN_IF_ERROR(put("manifest.sha256", harmonize::Manifest(manifest)));

  provenance::NewCohort record;
  record.id = cohort_id;
  record.name = name;
  record.created_at = info.created_at;
  record.query_json = query_json;
  record.created_by_token_id = created_by_token_id;
  for (const auto& v : volumes) record.volumes.push_back({v.derivation_id, v.stem});
  record.files = std::move(files);
  return repository_.CreateCohort(record);
}

}  // namespace tributary::services
