#include "harmonize/bids_documents.h"

#include <algorithm>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace tributary::harmonize {
namespace {

// BIDS 1.9.0: what the official validator 1.15 checks against.
constexpr const char* kBidsVersion = "1.9.0";

std::string Tsv(std::string value) {
  if (value.empty()) return "n/a";
  std::replace_if(
      value.begin(), value.end(), [](char c) { return c == '\t' || c == '\n'; }, ' ');
  return value;
}

std::string Decimal(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

}  // namespace

std::string DatasetDescription(const DatasetInfo& info) {
  nlohmann::json generated = nlohmann::json::array();
  generated.push_back({{"Name", "tributary"},
                       {"Version", info.software_version},
                       {"Description",
                        "de-identification (DICOM PS3.15 Annex E), volume "
                        "reconstruction and harmonization; cohort " +
                            std::to_string(info.cohort_id)}});
  for (const RecipeUsed& r : info.recipes) {
    generated.push_back({{"Name", "tributary recipe " + r.name},
                         {"Version", r.version},
                         {"Description", "recipe SHA-256 " + r.sha256}});
  }
  for (const ModelUsed& m : info.models) {
    generated.push_back({{"Name", "tributary model " + m.method},
                         {"Version", m.sha256.substr(0, 12)},
                         {"Description", "model SHA-256 " + m.sha256}});
  }
  // A query that is not JSON is kept as text: a discarded value would not dump as JSON.
  nlohmann::json query = nlohmann::json::parse(info.query_json, nullptr, false);
  if (query.is_discarded()) query = info.query_json;
  nlohmann::json description = {
      {"Name", info.cohort_name},
      {"BIDSVersion", kBidsVersion},
      {"DatasetType", "derivative"},
      {"GeneratedBy", generated},
      {"HowToAcknowledge", "Cite the contributing centres listed in participants.tsv."},
      {"TributaryCohort",
       {{"Id", info.cohort_id}, {"CreatedAt", info.created_at}, {"Query", query}}}};
  return description.dump(2) + "\n";
}

std::string Readme(const DatasetInfo& info, const Layout& layout) {
  std::ostringstream out;
  out << "# " << info.cohort_name << "\n\n"
      << "Cohort " << info.cohort_id << " exported by Tributary " << info.software_version
      << ", frozen at " << info.created_at << ": " << info.volume_count << " harmonized volumes of "
      << info.subject_count << " subjects from " << info.centres.size() << " centre(s) (";
  for (std::size_t i = 0; i < info.centres.size(); ++i) out << (i ? ", " : "") << info.centres[i];
  out << ").\n\n"
      << "Every instance was de-identified on arrival (DICOM PS3.15 Annex E): subjects are the "
         "centres' patient pseudonyms and dates are shifted per patient. Volumes were rebuilt "
         "from the stored instances and harmonized with the recipes named in "
         "dataset_description.json (GeneratedBy).\n\n"
      << "- `participants.tsv`: pseudonym, centre and the retained characteristics.\n"
      << "- `sub-*/ses-*/`: the harmonized NIfTI volumes with their JSON sidecars (and .bval/.bvec "
         "for diffusion); sessions are a subject's studies in date order.\n"
      << "- `qc/`: a QC picture of every volume, `summary.tsv` with its QC values, and per "
         "modality `<modality>_intensity_by_centre.png`: each centre's intensity distribution "
         "before and after harmonization.\n"
      << "- `provenance.json`: W3C PROV-JSON lineage from the uploaded files to every file here.\n"
      << "- `manifest.sha256`: the SHA-256 of every other file (`sha256sum -c manifest.sha256`).\n";
  std::size_t ignored = 0;
  for (const PlacedVolume& v : layout.volumes) ignored += v.bids_ignored ? 1 : 0;
  if (ignored > 0) {
    out << "\n"
        << ignored
        << " volume(s) lie in folders the BIDS standard does not cover yet (CT and PET after "
           "their BIDS extension proposals, MR of undetermined contrast under `mr-other/`); "
           "`.bidsignore` lists them.\n";
  }
  return out.str();
}

std::string ParticipantsTsv(const std::vector<Participant>& participants) {
  std::map<std::string, Participant> by_subject;
  for (const Participant& p : participants) by_subject.emplace(p.subject, p);
  std::string out = "participant_id\tcentre\tsex\tage\n";
  for (const auto& [subject, p] : by_subject) {
    out += "sub-" + subject + "\t" + Tsv(p.centre) + "\t" + Tsv(p.sex) + "\t" +
           (p.age_years > 0 ? Decimal(p.age_years, 1) : "n/a") + "\n";
  }
  return out;
}

std::string ParticipantsJson() {
  nlohmann::json j = {
      {"participant_id",
       {{"Description",
         "The centre's patient pseudonym (keyed, not reversible "
         "without the service's key)"}}},
      {"centre", {{"Description", "The centre that uploaded the subject's studies"}}},
      {"sex",
       {{"Description", "PatientSex as retained by de-identification"},
        {"Levels", {{"M", "male"}, {"F", "female"}, {"O", "other"}}}}},
      {"age",
       {{"Description", "PatientAge at the subject's first study in the cohort"},
        {"Units", "year"}}}};
  return j.dump(2) + "\n";
}

std::string BidsIgnore(const Layout& layout) {
  std::string out;
  for (const std::string& line : layout.bidsignore) out += line + "\n";
  out += "provenance.json\nmanifest.sha256\n";
  return out;
}

std::string QcSummaryTsv(const std::vector<QcRow>& rows) {
  // Columns: the scalar QC values any row has, in name order.
  std::set<std::string> keys;
  std::vector<nlohmann::json> metrics;
  for (const QcRow& row : rows) {
    nlohmann::json m = nlohmann::json::parse(row.metrics_json, nullptr, false);
    if (!m.is_object()) m = nlohmann::json::object();
    for (const auto& [key, value] : m.items()) {
      // The distributions are drawn (qc/<modality>_intensity_by_centre.png), not tabulated.
      if (key.rfind("Histogram", 0) == 0) continue;
      if (value.is_number() || value.is_array()) keys.insert(key);
    }
    metrics.push_back(std::move(m));
  }
  std::string out = "image\tcentre\tmodality\trecipe";
  for (const std::string& key : keys) out += "\t" + key;
  out += "\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out += rows[i].image_path + "\t" + Tsv(rows[i].centre) + "\t" + Tsv(rows[i].modality) + "\t" +
           Tsv(rows[i].recipe);
    for (const std::string& key : keys) {
      auto it = metrics[i].find(key);
      if (it == metrics[i].end()) {
        out += "\tn/a";
      } else if (it->is_array()) {
        std::string joined;
        for (const auto& x : *it) joined += (joined.empty() ? "" : "x") + x.dump();
        out += "\t" + joined;
      } else {
        out += "\t" + it->dump();
      }
    }
    out += "\n";
  }
  return out;
}

std::string Manifest(std::vector<ManifestEntry> entries) {
  std::sort(entries.begin(), entries.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.path < b.path; });
  std::string out;
  for (const ManifestEntry& e : entries) out += e.sha256 + "  " + e.path + "\n";
  return out;
}

}  // namespace tributary::harmonize
