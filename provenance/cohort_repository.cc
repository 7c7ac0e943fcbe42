// Repository: research cohorts (queries over harmonized volumes, snapshots) and lineage.
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "provenance/repository_impl.h"

namespace tributary::provenance {
namespace {

std::string Number(double value) {
  nlohmann::json j = value;  // shortest text that reads back as the same double
  return j.dump();
}

// `expression` (a float8) within `range`.
std::string InRange(const std::string& expression, const Range& range) {
  std::string out;
  if (range.low) out += expression + " >= " + Number(*range.low);
  if (range.high)
    out += std::string(out.empty() ? "" : " AND ") + expression + " <= " + Number(*range.high);
  return out.empty() ? "true" : out;
}

constexpr const char* kVolumeSelect =
    "SELECT d.id, v.value->>'stem', se.id, se.series_uid, st.id, st.study_uid, c.id, c.name, "
    "p.pseudonym, se.modality, r.name, d.recipe_sha256, coalesce(d.model_sha256, ''), "
    "coalesce(d.subject->>'BodyPartExamined', ''), coalesce(d.subject->>'PatientSex', ''), "
    "coalesce(d.subject->>'StudyDate', ''), "
    "CASE WHEN jsonb_typeof(d.subject->'PatientAgeYears') = 'number' "
    "  THEN (d.subject->>'PatientAgeYears')::float8 ELSE 0 END, "
    "coalesce(v.value->'metrics', '{}'::jsonb)::text, ";

constexpr const char* kVolumeFrom =
    " FROM derivations d "
    "CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(d.qc_metrics->'volumes') = "
    "  'array' THEN d.qc_metrics->'volumes' ELSE '[]'::jsonb END) v "
    "JOIN series se ON se.id = d.series_id JOIN studies st ON st.id = se.study_id "
    "JOIN patients p ON p.id = st.patient_id JOIN centres c ON c.id = p.centre_id "
    "JOIN recipes r ON r.sha256 = d.recipe_sha256 ";

// Every axis of a JSON array metric (the first `axes`) within the range.
std::string AxesInRange(const std::string& metric, const Range& range, int axes) {
  return "(jsonb_typeof(v.value->'metrics'->'" + metric + "') = 'array' AND (SELECT bool_and(" +
         InRange("e.value::float8", range) +
         ") FROM jsonb_array_elements_text(v.value->'metrics'->'" + metric +
         "') WITH ORDINALITY AS e(value, n) WHERE e.n <= " + std::to_string(axes) + "))";
}

std::string Where(pqxx::transaction_base& w, const VolumeQuery& q) {
  std::vector<std::string> terms;
  auto any_of = [&](const std::string& expression, const std::vector<std::string>& values) {
    if (values.empty()) return;
    std::string term = expression + " IN (";
    for (std::size_t i = 0; i < values.size(); ++i) term += (i ? ", " : "") + w.quote(values[i]);
    terms.push_back(term + ")");
  };
  any_of("se.modality", q.modalities);
  any_of("c.name", q.centres);
  any_of("coalesce(d.subject->>'BodyPartExamined', '')", q.body_parts);
  any_of("coalesce(d.subject->>'PatientSex', '')", q.sexes);
  if (!q.recipes.empty()) {
    std::string term = "(";
    for (std::size_t i = 0; i < q.recipes.size(); ++i) {
      term += std::string(i ? " OR " : "") + "r.name = " + w.quote(q.recipes[i]) +
              " OR d.recipe_sha256 = " + w.quote(q.recipes[i]);
    }
    terms.push_back(term + ")");
  }
  if (q.age_years.low || q.age_years.high) {
    terms.push_back("(jsonb_typeof(d.subject->'PatientAgeYears') = 'number' AND " +
                    InRange("(d.subject->>'PatientAgeYears')::float8", q.age_years) + ")");
  }
  if (!q.study_date_from.empty())
    terms.push_back("d.subject->>'StudyDate' >= " + w.quote(q.study_date_from));
  if (!q.study_date_to.empty())
    terms.push_back("d.subject->>'StudyDate' <= " + w.quote(q.study_date_to));
  if (q.spacing_mm.low || q.spacing_mm.high)
    terms.push_back(AxesInRange("SpacingAfter", q.spacing_mm, 3));
  if (q.size_voxels.low || q.size_voxels.high)
    terms.push_back(AxesInRange("SizeAfter", q.size_voxels, 3));
  for (const auto& [metric, range] : q.qc) {
    std::string value = "v.value->'metrics'->" + w.quote(metric);
    terms.push_back("(jsonb_typeof(" + value + ") = 'number' AND " +
                    InRange("(" + value + ")::text::float8", range) + ")");
  }
  if (q.exclude_duplicates) {
    // A later copy of a study another centre sent first (keyed fingerprints of the originals).
    terms.push_back(
        "NOT EXISTS (SELECT 1 FROM series se1 JOIN instances i1 ON i1.series_id = se1.id "
        "JOIN instances i2 ON i2.original_fingerprint = i1.original_fingerprint "
        "  AND i2.centre_id <> i1.centre_id "
        "JOIN series se2 ON se2.id = i2.series_id "
        "WHERE se1.study_id = st.id AND i1.original_fingerprint IS NOT NULL "
        "AND se2.study_id < st.id)");
  }
  std::string out;
  for (const auto& t : terms) out += " AND " + t;
  return out;
}

std::vector<HarmonizedVolume> VolumesFromRows(pqxx::transaction_base& w, const pqxx::result& rows) {
  std::vector<HarmonizedVolume> volumes;
  std::vector<std::int64_t> derivations;
  for (const auto& row : rows) {
    HarmonizedVolume v;
    v.derivation_id = row[0].as<std::int64_t>();
    v.stem = row[1].as<std::string>();
    v.series_id = row[2].as<std::int64_t>();
    v.series_uid = row[3].as<std::string>();
    v.study_id = row[4].as<std::int64_t>();
    v.study_uid = row[5].as<std::string>();
    v.centre_id = row[6].as<std::int64_t>();
    v.centre = row[7].as<std::string>();
    v.patient_pseudonym = row[8].as<std::string>();
    v.modality = row[9].as<std::string>();
    v.recipe_name = row[10].as<std::string>();
    v.recipe_sha256 = row[11].as<std::string>();
    v.model_sha256 = row[12].as<std::string>();
    v.body_part = row[13].as<std::string>();
    v.patient_sex = row[14].as<std::string>();
    v.study_date = row[15].as<std::string>();
    v.patient_age_years = row[16].as<double>();
    v.qc_json = row[17].as<std::string>();
    v.created_at = row[18].as<std::string>();
    nlohmann::json metrics = nlohmann::json::parse(v.qc_json, nullptr, false);
    if (metrics.is_object()) {
      for (const auto& x : metrics.value("SpacingAfter", nlohmann::json::array()))
        if (x.is_number()) v.spacing.push_back(x.get<double>());
      for (const auto& x : metrics.value("SizeAfter", nlohmann::json::array()))
        if (x.is_number()) v.size.push_back(x.get<std::int64_t>());
    }
    if (derivations.empty() || derivations.back() != v.derivation_id)
      derivations.push_back(v.derivation_id);
    volumes.push_back(std::move(v));
  }
  if (volumes.empty()) return volumes;
  std::map<std::int64_t, std::vector<DerivationOutput>> outputs;
  for (const auto& row : w.exec_params(
           "SELECT o.derivation_id, o.role, o.name, o.blob_sha256, b.size FROM derivation_outputs "
           "o "
           "JOIN blobs b ON b.sha256 = o.blob_sha256 WHERE o.derivation_id = ANY($1::bigint[]) "
           "ORDER BY o.derivation_id, o.name",
           ArrayLiteral(derivations))) {
    outputs[row[0].as<std::int64_t>()].push_back(
        {row[1].as<std::string>(), row[2].as<std::string>(), row[3].as<std::string>(),
         row[4].as<std::int64_t>()});
  }
  // A volume's files are named after its stem (harmonize::Harmonizer).
  for (HarmonizedVolume& v : volumes) {
    for (const DerivationOutput& o : outputs[v.derivation_id]) {
      for (const char* ending : {".nii.gz", ".nii", ".json", ".bval", ".bvec", "_qc.png"}) {
        if (o.name == v.stem + ending) v.outputs.push_back(o);
      }
    }
  }
  return volumes;
}

CohortSummary CohortFromRow(const pqxx::row& row) {
  CohortSummary c;
  c.id = row[0].as<std::int64_t>();
  c.name = row[1].as<std::string>();
  c.query_json = row[2].as<std::string>();
  c.created_by_token_id = row[3].as<std::int64_t>();
  c.created_at = row[4].as<std::string>();
  c.volume_count = row[5].as<std::int64_t>();
  c.subject_count = row[6].as<std::int64_t>();
  c.centre_count = row[7].as<std::int64_t>();
  c.file_count = row[8].as<std::int64_t>();
  c.bytes = row[9].as<std::int64_t>();
  return c;
}

std::string CohortSelect() {
  return "SELECT k.id, k.name, k.query::text, coalesce(k.created_by_token_id, 0), " +
         Timestamp("k.created_at") +
         ", (SELECT count(*) FROM cohort_volumes cv WHERE cv.cohort_id = k.id), "
         "(SELECT count(DISTINCT p.id) FROM cohort_volumes cv JOIN derivations d ON d.id = "
         "  cv.derivation_id JOIN series se ON se.id = d.series_id JOIN studies st ON st.id = "
         "  se.study_id JOIN patients p ON p.id = st.patient_id WHERE cv.cohort_id = k.id), "
         "(SELECT count(DISTINCT p.centre_id) FROM cohort_volumes cv JOIN derivations d ON d.id = "
         "  cv.derivation_id JOIN series se ON se.id = d.series_id JOIN studies st ON st.id = "
         "  se.study_id JOIN patients p ON p.id = st.patient_id WHERE cv.cohort_id = k.id), "
         "(SELECT count(*) FROM cohort_files f WHERE f.cohort_id = k.id), "
         "(SELECT coalesce(sum(b.size), 0)::bigint FROM cohort_files f JOIN blobs b ON b.sha256 = "
         "  f.blob_sha256 WHERE f.cohort_id = k.id) FROM cohorts k ";
}

}  // namespace

absl::StatusOr<std::vector<HarmonizedVolume>> Repository::QueryVolumes(const VolumeQuery& query,
                                                                       const VolumeCursor& after,
                                                                       int limit) {
  return impl_->Transact([&](pqxx::work& w) {
    std::string sql = std::string(kVolumeSelect) + Timestamp("d.created_at") + kVolumeFrom +
                      "WHERE (d.id, v.value->>'stem') > (" + std::to_string(after.derivation_id) +
                      ", " + w.quote(after.stem) + ")" + Where(w, query) +
                      " ORDER BY d.id, v.value->>'stem' LIMIT " + std::to_string(limit);
    return VolumesFromRows(w, w.exec(sql));
  });
}

absl::StatusOr<std::vector<HarmonizedVolume>> Repository::DescribeVolumes(
    const std::vector<VolumeCursor>& volumes) {
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<std::int64_t> ids;
    std::vector<std::string> stems;
    for (const auto& v : volumes) {
      ids.push_back(v.derivation_id);
      stems.push_back(v.stem);
    }
    std::string sql = std::string(kVolumeSelect) + Timestamp("d.created_at") + kVolumeFrom +
                      "JOIN unnest($1::bigint[], $2::text[]) AS want(id, stem) ON want.id = d.id "
                      "AND want.stem = v.value->>'stem' ORDER BY d.id, v.value->>'stem'";
    return VolumesFromRows(w, w.exec_params(sql, ArrayLiteral(ids), ArrayLiteral(stems)));
  });
}

absl::StatusOr<std::int64_t> Repository::ReserveCohortId() {
  return impl_->Transact([](pqxx::work& w) {
    return w.exec1("SELECT nextval('cohorts_id_seq')")[0].as<std::int64_t>();
  });
}

absl::StatusOr<CohortSummary> Repository::CreateCohort(const NewCohort& cohort) {
  return impl_->Transact([&](pqxx::work& w) {
    std::int64_t id = w.exec_params1(
                           "INSERT INTO cohorts (id, name, query, created_by_token_id, created_at) "
                           "VALUES ($5, $1, "
                           "$2::jsonb, NULLIF($3, 0), $4::timestamptz) RETURNING id",
                           cohort.name, cohort.query_json, cohort.created_by_token_id,
                           cohort.created_at, cohort.id)[0]
                          .as<std::int64_t>();
    std::vector<std::int64_t> ids;
    std::vector<std::string> stems;
    for (const auto& v : cohort.volumes) {
      ids.push_back(v.derivation_id);
      stems.push_back(v.stem);
    }
    w.exec_params(
        "INSERT INTO cohort_volumes (cohort_id, derivation_id, stem) "
        "SELECT $1, id, stem FROM unnest($2::bigint[], $3::text[]) AS v(id, stem)",
        id, ArrayLiteral(ids), ArrayLiteral(stems));
    std::vector<std::string> paths, digests;
    std::vector<std::int64_t> sizes;
    for (const auto& f : cohort.files) {
      paths.push_back(f.path);
      digests.push_back(f.blob_sha256);
      sizes.push_back(f.size);
    }
    // The documents written for this cohort are new blobs; derived files are known already.
    w.exec_params(
        "INSERT INTO blobs (sha256, size) SELECT sha, size FROM unnest($1::text[], $2::bigint[]) "
        "AS b(sha, size) ON CONFLICT DO NOTHING",
        ArrayLiteral(digests), ArrayLiteral(sizes));
    w.exec_params(
        "INSERT INTO cohort_files (cohort_id, path, blob_sha256) "
        "SELECT $1, path, sha FROM unnest($2::text[], $3::text[]) AS f(path, sha)",
        id, ArrayLiteral(paths), ArrayLiteral(digests));
    return CohortFromRow(w.exec_params1(CohortSelect() + "WHERE k.id = $1", id));
  });
}

absl::StatusOr<std::vector<CohortSummary>> Repository::ListCohorts() {
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<CohortSummary> out;
    for (const auto& row : w.exec(CohortSelect() + "ORDER BY k.id"))
      out.push_back(CohortFromRow(row));
    return out;
  });
}

absl::StatusOr<CohortSummary> Repository::GetCohort(std::int64_t id) {
  auto found = impl_->Transact([&](pqxx::work& w) -> std::optional<CohortSummary> {
    pqxx::result rows = w.exec_params(CohortSelect() + "WHERE k.id = $1", id);
    if (rows.empty()) return std::nullopt;
    return CohortFromRow(rows[0]);
  });
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError("no cohort " + std::to_string(id));
  return **found;
}

absl::StatusOr<std::vector<VolumeCursor>> Repository::CohortVolumes(std::int64_t id) {
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<VolumeCursor> out;
    for (const auto& row : w.exec_params("SELECT derivation_id, stem FROM cohort_volumes WHERE "
                                         "cohort_id = $1 ORDER BY derivation_id, stem",
                                         id)) {
      out.push_back({row[0].as<std::int64_t>(), row[1].as<std::string>()});
    }
    return out;
  });
}

absl::StatusOr<std::vector<CohortFileRecord>> Repository::CohortFiles(std::int64_t id) {
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<CohortFileRecord> out;
    for (const auto& row : w.exec_params(
             "SELECT f.path, f.blob_sha256, b.size FROM cohort_files f JOIN blobs b ON b.sha256 = "
             "f.blob_sha256 WHERE f.cohort_id = $1 ORDER BY f.path",
             id)) {
      out.push_back(
          {row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::int64_t>()});
    }
    return out;
  });
}

namespace {

// Instances (by blob), their uploads and methods, into `lineage`.
void AddInstances(pqxx::transaction_base& w, const std::string& where_sql,
                  const std::string& parameter, Lineage& lineage) {
  std::set<std::int64_t> uploads, methods;
  for (const auto& row : w.exec_params(
           "SELECT i.blob_sha256, i.original_digest, i.upload_id, c.name, i.sop_instance_uid, " +
               Timestamp("i.deidentified_at") +
               ", i.deid_method_id FROM instances i JOIN centres c ON c.id = i.centre_id WHERE " +
               where_sql + " ORDER BY i.id",
           parameter)) {
    LineageInstance instance{row[0].as<std::string>(),  row[1].as<std::string>(),
                             row[2].as<std::int64_t>(), row[3].as<std::string>(),
                             row[4].as<std::string>(),  row[5].as<std::string>(),
                             row[6].as<std::int64_t>()};
    uploads.insert(instance.upload_id);
    methods.insert(instance.deid_method_id);
    lineage.instances.push_back(std::move(instance));
  }
  if (lineage.instances.empty()) return;
  for (const auto& row :
       w.exec_params("SELECT u.id, c.name, u.token_id, " + Timestamp("u.started_at") + ", " +
                         Timestamp("u.last_seen_at") +
                         " FROM uploads u JOIN centres c ON c.id = u.centre_id WHERE u.id = "
                         "ANY($1::bigint[]) "
                         "ORDER BY u.id",
                     ArrayLiteral(uploads))) {
    lineage.uploads.push_back({row[0].as<std::int64_t>(), row[1].as<std::string>(),
                               row[2].as<std::int64_t>(), row[3].as<std::string>(),
                               row[4].as<std::string>()});
  }
  for (const auto& row : w.exec_params(
           "SELECT id, profile_edition, options, software_version FROM deid_methods WHERE id = "
           "ANY($1::bigint[]) ORDER BY id",
           ArrayLiteral(methods))) {
    lineage.methods.push_back({row[0].as<std::int64_t>(), row[1].as<std::string>(),
                               row[2].as<std::string>(), row[3].as<std::string>()});
  }
}

}  // namespace

absl::StatusOr<Lineage> Repository::LineageOf(const std::vector<std::int64_t>& derivation_ids) {
  return impl_->Transact([&](pqxx::work& w) {
    Lineage lineage;
    std::map<std::int64_t, std::size_t> at;
    const std::string ids = ArrayLiteral(derivation_ids);
    for (const auto& row : w.exec_params(
             "SELECT d.id, d.series_id, se.series_uid, d.recipe_sha256, r.name, "
             "coalesce(d.model_sha256, ''), d.worker, " +
                 Timestamp("d.created_at") +
                 ", d.software_versions::text FROM derivations d JOIN series se ON se.id = "
                 "d.series_id JOIN recipes r ON r.sha256 = d.recipe_sha256 "
                 "WHERE d.id = ANY($1::bigint[]) ORDER BY d.id",
             ids)) {
      LineageDerivation d;
      d.id = row[0].as<std::int64_t>();
      d.series_id = row[1].as<std::int64_t>();
      d.series_uid = row[2].as<std::string>();
      d.recipe_sha256 = row[3].as<std::string>();
      d.recipe_name = row[4].as<std::string>();
      d.model_sha256 = row[5].as<std::string>();
      d.worker = row[6].as<std::string>();
      d.created_at = row[7].as<std::string>();
      d.software_versions_json = row[8].as<std::string>();
      at[d.id] = lineage.derivations.size();
      lineage.derivations.push_back(std::move(d));
    }
    for (const auto& row : w.exec_params(
             "SELECT derivation_id, blob_sha256 FROM derivation_inputs WHERE derivation_id = "
             "ANY($1::bigint[]) ORDER BY derivation_id, blob_sha256",
             ids)) {
      lineage.derivations[at[row[0].as<std::int64_t>()]].input_blob_sha256s.push_back(
          row[1].as<std::string>());
    }
    for (const auto& row :
         w.exec_params("SELECT o.derivation_id, o.role, o.name, o.blob_sha256, b.size FROM "
                       "derivation_outputs o JOIN blobs b ON b.sha256 = o.blob_sha256 "
                       "WHERE o.derivation_id = ANY($1::bigint[]) ORDER BY o.derivation_id, o.name",
                       ids)) {
      lineage.derivations[at[row[0].as<std::int64_t>()]].outputs.push_back(
          {row[1].as<std::string>(), row[2].as<std::string>(), row[3].as<std::string>(),
           row[4].as<std::int64_t>()});
    }
    AddInstances(w,
                 "i.blob_sha256 IN (SELECT blob_sha256 FROM derivation_inputs WHERE "
                 "derivation_id = ANY($1::bigint[]))",
                 ids, lineage);
    return lineage;
  });
}

absl::StatusOr<std::vector<std::int64_t>> Repository::DerivationsOfSeries(std::int64_t series_id) {
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<std::int64_t> out;
    for (const auto& row :
         w.exec_params("SELECT id FROM derivations WHERE series_id = $1 ORDER BY id", series_id))
      out.push_back(row[0].as<std::int64_t>());
    return out;
  });
}

absl::StatusOr<std::vector<std::int64_t>> Repository::DerivationsWriting(
    const std::string& blob_sha256) {
  return impl_->Transact([&](pqxx::work& w) {
    std::vector<std::int64_t> out;
    for (const auto& row :
         w.exec_params("SELECT DISTINCT derivation_id FROM derivation_outputs WHERE blob_sha256 = "
                       "$1 ORDER BY derivation_id",
                       blob_sha256))
      out.push_back(row[0].as<std::int64_t>());
    return out;
  });
}

absl::StatusOr<Lineage> Repository::LineageOfInstance(const std::string& blob_sha256,
                                                      const std::string& original_digest) {
  return impl_->Transact([&](pqxx::work& w) {
    Lineage lineage;
    AddInstances(w, "i.blob_sha256 = $1", blob_sha256, lineage);
    if (lineage.instances.empty() && !original_digest.empty())
      AddInstances(w, "i.original_digest = $1", original_digest, lineage);
    return lineage;
  });
}

}  // namespace tributary::provenance
