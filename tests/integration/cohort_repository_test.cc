// Research cohorts against a real PostgreSQL (FreshDatabase: a throwaway cluster per test, schema
// migrated): Repository::QueryVolumes over derivations recorded through the repository's own API
// (centres, uploads, instances, jobs, CompleteJob), pagination, cross-centre duplicates, cohort
// snapshots, and the database refusing to change them.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "common/hash.h"
#include "tests/integration/fresh_database.h"

namespace tributary::provenance {
namespace {

std::string Digest(const std::string& text) { return ToHex(Sha256(text)); }

struct VolumeSpec {
  std::string stem;
  std::string metrics;  // the volume's QC metrics, JSON
};

// One study of one series of one instance, harmonized once.
struct StudySpec {
  std::string key;  // names the derivation in expectations
  int centre;       // index into the fixture's centres
  std::string pseudonym;
  std::string modality;
  std::string fingerprint;  // the original's keyed fingerprint ("" none)
  std::string recipe;       // "mr" or "ct"
  std::string subject_json;
  std::vector<VolumeSpec> volumes;
};

std::string Metrics(const std::string& spacing, const std::string& size, double sd) {
  return R"({"SpacingAfter":)" + spacing + R"(,"SizeAfter":)" + size + R"(,"ForegroundSD":)" +
         std::to_string(sd) + "}";
}

// Stored in this order: north's MR study comes before south's copy of it (same fingerprint),
// though south's centre was created first.
const StudySpec kStudies[] = {
    {"north-t1",
     1,
     "TRBNORTH1",
     "MR",
     "fp-shared",
     "mr",
     R"({"PatientSex":"F","PatientAgeYears":42,"StudyDate":"2020-03-01","BodyPartExamined":"BRAIN"})",
     {{"t1", Metrics("[1,1,1]", "[176,256,256]", 1.0)}}},
    {"north-ct",
     1,
     "TRBNORTH2",
     "CT",
     "fp-ct",
     "ct",
     R"({"PatientSex":"M","PatientAgeYears":67,"StudyDate":"2021-07-15","BodyPartExamined":"CHEST"})",
     {{"ct", Metrics("[0.5,0.5,2.0]", "[512,512,120]", 0.5)}}},
    {"south-copy",
     0,
     "TRBSOUTH1",
     "MR",
     "fp-shared",
     "mr",
     R"({"PatientSex":"F","PatientAgeYears":42,"StudyDate":"2020-02-20","BodyPartExamined":"BRAIN"})",
     {{"t1", Metrics("[1.2,1.2,1.2]", "[160,192,192]", 1.1)}}},
    {"south-echoes",
     0,
     "TRBSOUTH2",
     "MR",
     "fp-echoes",
     "mr",
     R"({"PatientSex":"O","PatientAgeYears":30,"StudyDate":"2019-01-01","BodyPartExamined":"BRAIN"})",
     {{"echo2", Metrics("[2,2,2]", "[128,128,60]", 1.3)},
      {"echo1", Metrics("[2,2,2]", "[128,128,60]", 0.9)}}},
    // Recorded as before migration 0007: no subject attributes.
    {"north-legacy",
     1,
     "TRBNORTH3",
     "MR",
     "",
     "mr",
     "",
     {{"t1", Metrics("[1,1,1]", "[176,256,256]", 2.0)}}},
};

using Key = std::pair<std::string, std::string>;  // (study key, stem)

class Cohorts : public FreshDatabase {
 protected:
  Cohorts() : FreshDatabase("trib_cohorts_") {}

  void SetUp() override {
    FreshDatabase::SetUp();
    ASSERT_FALSE(HasFatalFailure());
    for (const char* name : {"south", "north"}) {
      std::string token = Digest(std::string("token ") + name);
      ASSERT_TRUE(repository_->AddCentre(name, token).ok());
      centres_.push_back(repository_->Authenticate(token).value());
    }
    recipes_["mr"] = PutRecipe("mr-1mm");
    recipes_["ct"] = PutRecipe("ct-1mm");
    for (const StudySpec& s : kStudies) Harmonize(s);
    ASSERT_EQ(derivations_.size(), std::size(kStudies));
  }

  Recipe PutRecipe(const std::string& name) {
    Recipe r;
    r.name = name;
    r.version = "1";
    r.json = R"({"name":")" + name + R"(","version":"1"})";
    r.sha256 = Digest(r.json);
    EXPECT_TRUE(repository_->PutRecipe(r).ok());
    return r;
  }

  void Harmonize(const StudySpec& s) {
    const Principal& centre = centres_[s.centre];
    std::int64_t upload = repository_->StartUpload(centre, "req-" + s.key).value();
    InstanceRecord r;
    r.centre_id = centre.centre_id;
    r.upload_id = upload;
    r.patient_pseudonym = s.pseudonym;
    r.study_uid = "2.25.1" + std::to_string(derivations_.size());
    r.series_uid = r.study_uid + ".1";
    r.sop_instance_uid = r.series_uid + ".1";
    r.sop_class_uid = "1.2.840.10008.5.1.4.1.1.4";
    r.transfer_syntax_uid = "1.2.840.10008.1.2.1";
    r.modality = s.modality;
    r.blob_sha256 = Digest("instance " + s.key);
    r.blob_size = 1000;
    r.original_digest = Digest("original " + s.key);
    if (!s.fingerprint.empty()) r.original_fingerprint = Digest(s.fingerprint);
    r.profile_edition = "test";
    r.software_version = "tributary test";
    auto stored = repository_->RecordInstance(r);
    ASSERT_TRUE(stored.ok() && stored->result == RecordResult::kStored) << stored.status();

    SeriesFilter filter;
    filter.centre = centre.centre_name;
    std::int64_t series_id = 0;
    auto series = repository_->ListSeries(filter);
    ASSERT_TRUE(series.ok()) << series.status();
    for (const SeriesRow& row : *series)
      if (row.series_uid == r.series_uid) series_id = row.id;
    ASSERT_NE(series_id, 0);
    const Recipe& recipe = recipes_[s.recipe];
    ASSERT_EQ(repository_->EnqueueJobs({series_id}, recipe.sha256, "").value().size(), 1u);
    auto job = repository_->ClaimJob("worker-1", std::chrono::seconds(60));
    ASSERT_TRUE(job.ok() && job->has_value()) << job.status();
    ASSERT_EQ((*job)->series_id, series_id);

    Derivation d;
    d.input_blob_sha256s = {r.blob_sha256};
    std::string volumes;
    for (const VolumeSpec& v : s.volumes) {
      for (const char* ending : {".nii.gz", ".json", "_qc.png"}) {
        std::string name = v.stem + ending;
        d.outputs.push_back({ending == std::string(".nii.gz") ? "nifti" : "other", name,
                             Digest(s.key + "/" + name),
                             1000 + 10 * std::int64_t(d.outputs.size())});
      }
      volumes += (volumes.empty() ? "" : ",") + std::string(R"({"stem":")") + v.stem +
                 R"(","metrics":)" + v.metrics + "}";
    }
    d.qc_metrics_json = R"({"volumes":[)" + volumes + "]}";
    d.subject_json = s.subject_json;
    d.software_versions_json = R"({"tributary":"test"})";
    auto done = repository_->CompleteJob((*job)->id, "worker-1", d);
    ASSERT_TRUE(done.ok() && done->inserted) << done.status();
    derivations_[s.key] = done->derivation_id;
    keys_[done->derivation_id] = s.key;
    outputs_[s.key] = d.outputs;
  }

  // Every page of the query, `page` volumes at a time.
  std::vector<HarmonizedVolume> All(const VolumeQuery& q, int page = 1000) {
    std::vector<HarmonizedVolume> out;
    VolumeCursor after;
    for (;;) {
      auto volumes = repository_->QueryVolumes(q, after, page);
      EXPECT_TRUE(volumes.ok()) << volumes.status();
      if (!volumes.ok() || volumes->empty()) return out;
      EXPECT_LE(volumes->size(), std::size_t(page));
      after = {volumes->back().derivation_id, volumes->back().stem};
      out.insert(out.end(), volumes->begin(), volumes->end());
    }
  }

  std::vector<Key> Keys(const std::vector<HarmonizedVolume>& volumes) {
    std::vector<Key> out;
    for (const auto& v : volumes) out.push_back({keys_[v.derivation_id], v.stem});
    return out;
  }

  // `keys` in the order QueryVolumes returns them: derivation, then stem.
  std::vector<Key> InOrder(std::vector<Key> keys) {
    std::sort(keys.begin(), keys.end(), [&](const Key& a, const Key& b) {
      return std::make_pair(derivations_[a.first], a.second) <
             std::make_pair(derivations_[b.first], b.second);
    });
    return keys;
  }

  std::vector<Principal> centres_;
  std::map<std::string, Recipe> recipes_;
  std::map<std::string, std::int64_t> derivations_;
  std::map<std::int64_t, std::string> keys_;
  std::map<std::string, std::vector<DerivationOutput>> outputs_;
};

const std::vector<Key> kEvery = {{"north-t1", "t1"},        {"north-ct", "ct"},
                                 {"south-copy", "t1"},      {"south-echoes", "echo1"},
                                 {"south-echoes", "echo2"}, {"north-legacy", "t1"}};

TEST_F(Cohorts, EachFilterSelectsItsVolumes) {
  struct Case {
    const char* what;
    std::function<void(VolumeQuery&)> filter;
    std::vector<Key> expected;
  };
  const std::string mr_sha = recipes_["mr"].sha256;
  const Case kCases[] = {
      {"no filter", [](VolumeQuery&) {}, kEvery},
      {"modality=CT", [](VolumeQuery& q) { q.modalities = {"CT"}; }, {{"north-ct", "ct"}}},
      {"modality=MR|CT",
       [](VolumeQuery& q) {
         q.modalities = {"MR", "CT"};
       },
       kEvery},
      {"modality=PT", [](VolumeQuery& q) { q.modalities = {"PT"}; }, {}},
      {"centre=south",
       [](VolumeQuery& q) { q.centres = {"south"}; },
       {{"south-copy", "t1"}, {"south-echoes", "echo1"}, {"south-echoes", "echo2"}}},
      {"recipe=ct-1mm (name)",
       [](VolumeQuery& q) { q.recipes = {"ct-1mm"}; },
       {{"north-ct", "ct"}}},
      {"recipe=<mr sha256>",
       [&](VolumeQuery& q) { q.recipes = {mr_sha}; },
       {{"north-t1", "t1"},
        {"south-copy", "t1"},
        {"south-echoes", "echo1"},
        {"south-echoes", "echo2"},
        {"north-legacy", "t1"}}},
      {"body_part=CHEST", [](VolumeQuery& q) { q.body_parts = {"CHEST"}; }, {{"north-ct", "ct"}}},
      {"sex=F",
       [](VolumeQuery& q) { q.sexes = {"F"}; },
       {{"north-t1", "t1"}, {"south-copy", "t1"}}},
      {"sex=O|M",
       [](VolumeQuery& q) {
         q.sexes = {"O", "M"};
       },
       {{"north-ct", "ct"}, {"south-echoes", "echo1"}, {"south-echoes", "echo2"}}},
      {"age=40..50",
       [](VolumeQuery& q) {
         q.age_years = {40, 50};
       },
       {{"north-t1", "t1"}, {"south-copy", "t1"}}},
      {"age=..35",
       [](VolumeQuery& q) { q.age_years.high = 35; },
       {{"south-echoes", "echo1"}, {"south-echoes", "echo2"}}},
      {"age=67",
       [](VolumeQuery& q) {
         q.age_years = {67, 67};
       },
       {{"north-ct", "ct"}}},
      {"study_date=2020-01-01..2020-12-31",
       [](VolumeQuery& q) {
         q.study_date_from = "2020-01-01";
         q.study_date_to = "2020-12-31";
       },
       {{"north-t1", "t1"}, {"south-copy", "t1"}}},
      {"study_date=..2019-12-31",
       [](VolumeQuery& q) { q.study_date_to = "2019-12-31"; },
       {{"south-echoes", "echo1"}, {"south-echoes", "echo2"}}},
      {"study_date=2021-07-15",
       [](VolumeQuery& q) { q.study_date_from = q.study_date_to = "2021-07-15"; },
       {{"north-ct", "ct"}}},
      {"spacing=..1.2 (every axis)",
       [](VolumeQuery& q) { q.spacing_mm.high = 1.2; },
       {{"north-t1", "t1"}, {"south-copy", "t1"}, {"north-legacy", "t1"}}},
      {"spacing=1",
       [](VolumeQuery& q) {
         q.spacing_mm = {1, 1};
       },
       {{"north-t1", "t1"}, {"north-legacy", "t1"}}},
      {"spacing=0.5..1 (CT's z is 2 mm)",
       [](VolumeQuery& q) {
         q.spacing_mm = {0.5, 1};
       },
       {{"north-t1", "t1"}, {"north-legacy", "t1"}}},
      {"size=150.. (each axis)",
       [](VolumeQuery& q) { q.size_voxels.low = 150; },
       {{"north-t1", "t1"}, {"south-copy", "t1"}, {"north-legacy", "t1"}}},
      {"size=128..512",
       [](VolumeQuery& q) {
         q.size_voxels = {128, 512};
       },
       {{"north-t1", "t1"}, {"south-copy", "t1"}, {"north-legacy", "t1"}}},
      {"qc.ForegroundSD=0.95..1.15",
       [](VolumeQuery& q) {
         q.qc["ForegroundSD"] = {0.95, 1.15};
       },
       {{"north-t1", "t1"}, {"south-copy", "t1"}}},
      {"qc.ForegroundSD=..1 (per volume)",
       [](VolumeQuery& q) { q.qc["ForegroundSD"].high = 1.0; },
       {{"north-t1", "t1"}, {"north-ct", "ct"}, {"south-echoes", "echo1"}}},
      {"qc.Missing=0..", [](VolumeQuery& q) { q.qc["Missing"].low = 0; }, {}},
      {"modality=MR centre=north",
       [](VolumeQuery& q) {
         q.modalities = {"MR"};
         q.centres = {"north"};
       },
       {{"north-t1", "t1"}, {"north-legacy", "t1"}}},
      {"exclude duplicates: south's later copy goes",
       [](VolumeQuery& q) { q.exclude_duplicates = true; },
       {{"north-t1", "t1"},
        {"north-ct", "ct"},
        {"south-echoes", "echo1"},
        {"south-echoes", "echo2"},
        {"north-legacy", "t1"}}},
      {"exclude duplicates, centre=south",
       [](VolumeQuery& q) {
         q.exclude_duplicates = true;
         q.centres = {"south"};
       },
       {{"south-echoes", "echo1"}, {"south-echoes", "echo2"}}},
  };
  for (const Case& c : kCases) {
    VolumeQuery q;
    c.filter(q);
    EXPECT_EQ(Keys(All(q)), InOrder(c.expected)) << c.what;
  }
}

TEST_F(Cohorts, VolumesCarryWhatWasRecorded) {
  VolumeQuery q;
  q.modalities = {"CT"};
  std::vector<HarmonizedVolume> volumes = All(q);
  ASSERT_EQ(volumes.size(), 1u);
  const HarmonizedVolume& v = volumes[0];
  EXPECT_EQ(v.centre, "north");
  EXPECT_EQ(v.patient_pseudonym, "TRBNORTH2");
  EXPECT_EQ(v.recipe_name, "ct-1mm");
  EXPECT_EQ(v.recipe_sha256, recipes_["ct"].sha256);
  EXPECT_EQ(v.patient_sex, "M");
  EXPECT_EQ(v.study_date, "2021-07-15");
  EXPECT_EQ(v.body_part, "CHEST");
  EXPECT_DOUBLE_EQ(v.patient_age_years, 67);
  EXPECT_EQ(v.spacing, (std::vector<double>{0.5, 0.5, 2.0}));
  EXPECT_EQ(v.size, (std::vector<std::int64_t>{512, 512, 120}));
  std::set<std::string> names;
  for (const DerivationOutput& o : v.outputs) names.insert(o.name);
  EXPECT_EQ(names, (std::set<std::string>{"ct.nii.gz", "ct.json", "ct_qc.png"}));

  // The two volumes of one derivation each get their own files only.
  q.modalities.clear();
  q.sexes = {"O"};
  for (const HarmonizedVolume& echo : All(q)) {
    for (const DerivationOutput& o : echo.outputs)
      EXPECT_EQ(o.name.rfind(echo.stem, 0), 0u) << echo.stem << " has " << o.name;
    EXPECT_EQ(echo.outputs.size(), 3u) << echo.stem;
  }
}

TEST_F(Cohorts, PagesReturnEveryVolumeOnceInOrder) {
  for (int page : {1, 2, 3, 5, 6, 1000}) {
    EXPECT_EQ(Keys(All(VolumeQuery{}, page)), InOrder(kEvery)) << "page size " << page;
  }
  VolumeQuery mr;
  mr.modalities = {"MR"};
  mr.exclude_duplicates = true;
  EXPECT_EQ(Keys(All(mr, 1)), InOrder({{"north-t1", "t1"},
                                       {"south-echoes", "echo1"},
                                       {"south-echoes", "echo2"},
                                       {"north-legacy", "t1"}}));
  // A cursor inside a derivation continues with its next stem.
  auto rest = repository_->QueryVolumes({}, {derivations_["south-echoes"], "echo1"}, 1000);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(Keys(*rest), InOrder({{"south-echoes", "echo2"}, {"north-legacy", "t1"}}));
}

class CohortSnapshots : public Cohorts {
 protected:
  // A cohort of north's T1 and both south echoes, with their derived files and one document.
  CohortSummary Create() {
    NewCohort c;
    c.id = repository_->ReserveCohortId().value();
    c.name = "T1 pilot";
    c.created_at = "2024-05-01T10:00:00.000Z";
    c.query_json = R"({"filters":[{"key":"modality","value":"MR"}]})";
    c.volumes = {{derivations_["north-t1"], "t1"},
                 {derivations_["south-echoes"], "echo1"},
                 {derivations_["south-echoes"], "echo2"}};
    expected_bytes_ = 0;
    for (const char* key : {"north-t1", "south-echoes"}) {
      for (const DerivationOutput& o : outputs_[key]) {
        c.files.push_back({std::string("sub-") + key + "/" + o.name, o.blob_sha256, o.size});
        expected_bytes_ += o.size;
      }
    }
    c.files.push_back({"dataset_description.json", Digest("description"), 321});
    expected_bytes_ += 321;
    files_ = c.files;
    auto created = repository_->CreateCohort(c);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.value_or(CohortSummary{});
  }

  void Sql(const std::string& statement) {
    pqxx::connection connection(cluster_->url());
    pqxx::nontransaction n(connection);
    n.exec(statement);
  }

  std::vector<CohortFileRecord> files_;
  std::int64_t expected_bytes_ = 0;
};

TEST_F(CohortSnapshots, SummaryCountsWhatWasFrozen) {
  CohortSummary created = Create();
  ASSERT_NE(created.id, 0);
  auto got = repository_->GetCohort(created.id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "T1 pilot");
  EXPECT_EQ(got->created_at, "2024-05-01T10:00:00.000Z");
  EXPECT_EQ(got->volume_count, 3);
  EXPECT_EQ(got->subject_count, 2);  // TRBNORTH1, TRBSOUTH2
  EXPECT_EQ(got->centre_count, 2);
  EXPECT_EQ(got->file_count, std::int64_t(files_.size()));
  EXPECT_EQ(got->bytes, expected_bytes_);
  EXPECT_EQ(got->created_by_token_id, 0);

  auto files = repository_->CohortFiles(created.id);
  ASSERT_TRUE(files.ok()) << files.status();
  std::vector<CohortFileRecord> want = files_;
  std::sort(want.begin(), want.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  ASSERT_EQ(files->size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ((*files)[i].path, want[i].path);
    EXPECT_EQ((*files)[i].blob_sha256, want[i].blob_sha256) << want[i].path;
    EXPECT_EQ((*files)[i].size, want[i].size) << want[i].path;
  }
  auto volumes = repository_->CohortVolumes(created.id);
  ASSERT_TRUE(volumes.ok());
  std::vector<Key> keys;
  for (const VolumeCursor& v : *volumes) keys.push_back({keys_[v.derivation_id], v.stem});
  EXPECT_EQ(keys,
            InOrder({{"north-t1", "t1"}, {"south-echoes", "echo1"}, {"south-echoes", "echo2"}}));
  EXPECT_EQ(repository_->GetCohort(created.id + 1).status().code(), absl::StatusCode::kNotFound);
  auto listed = repository_->ListCohorts();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].volume_count, 3);
}

TEST_F(CohortSnapshots, TheDatabaseRefusesToChangeACohort) {
  CohortSummary created = Create();
  ASSERT_NE(created.id, 0);
  const std::string id = std::to_string(created.id);
  const std::string kStatements[] = {
      "UPDATE cohorts SET name = 'renamed' WHERE id = " + id,
      "DELETE FROM cohorts WHERE id = " + id,
      "UPDATE cohort_volumes SET stem = 'other' WHERE cohort_id = " + id,
      "DELETE FROM cohort_volumes WHERE cohort_id = " + id,
      "UPDATE cohort_files SET path = 'elsewhere/' || path WHERE cohort_id = " + id,
      "DELETE FROM cohort_files WHERE cohort_id = " + id,
      "TRUNCATE cohort_files",
      "TRUNCATE cohorts, cohort_volumes, cohort_files",
      "TRUNCATE cohorts CASCADE",
  };
  for (const std::string& statement : kStatements) {
    std::string error;
    try {
      Sql(statement);
    } catch (const pqxx::sql_error& e) {
      error = e.what();
    }
    EXPECT_NE(error.find("immutable"), std::string::npos) << statement << ": '" << error << "'";
  }
  auto after = repository_->GetCohort(created.id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->name, "T1 pilot");
  EXPECT_EQ(after->volume_count, 3);
  EXPECT_EQ(after->file_count, std::int64_t(files_.size()));
  EXPECT_EQ(after->bytes, expected_bytes_);
}

}  // namespace
}  // namespace tributary::provenance
