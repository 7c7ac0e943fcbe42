// provenance::BuildProvDocument over a lineage built here (2 uploads, 3 instances, a derivation
// with 2 outputs, a cohort), read back by Debian's python3-prov (/usr/bin/python3): the W3C
// PROV-JSON reader decides what parses, how many records there are and which relations hold.
#include "provenance/prov_document.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace tributary::provenance {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Reads the document with python3-prov and prints, as JSON, the records it found, every
// identifier whose prefix the document does not declare, and each relation's formal attributes.
constexpr const char* kReader = R"PY(
import json, sys
import prov.model
path = sys.argv[1]
with open(path) as f:
    raw = json.load(f)
doc = prov.model.ProvDocument.deserialize(source=path, format="json")
records = doc.get_records()
declared = set(raw.get("prefix", {})) | {"_"}
undeclared = []
def check(text):
    if isinstance(text, str) and ":" in text and text.split(":", 1)[0] not in declared:
        undeclared.append(text)
for section, entries in raw.items():
    if section == "prefix":
        continue
    for identifier, attributes in entries.items():
        check(identifier)
        for name, value in attributes.items():
            if name.startswith("prov:") and name not in ("prov:label", "prov:type") \
                    and not name.endswith("Time") and name != "prov:time":
                check(value)
relations = []
for r in records:
    if r.is_relation():
        relations.append([r.get_type().localpart,
                          {str(k.localpart): str(v) for k, v in r.formal_attributes if v is not None}])
print(json.dumps({
    "records": len(records),
    "json_records": sum(len(v) for k, v in raw.items() if k != "prefix"),
    "undeclared": undeclared,
    "relations": relations,
}))
)PY";

std::string Hex(char c) { return std::string(64, c); }

const std::string kNorth = "north-hospital";
const std::string kOriginal[] = {Hex('1'), Hex('2'), Hex('3')};  // keyed digests
const std::string kInstance[] = {Hex('a'), Hex('b'), Hex('c')};  // de-identified blobs
const std::string kOutput[] = {Hex('d'), Hex('e')};              // the derivation's files
const std::string kDocumentBlob = Hex('f');                      // a cohort document

Lineage MakeLineage() {
  Lineage l;
  l.uploads = {{11, kNorth, 3, "2024-01-02T03:04:05.000Z", "2024-01-02T03:05:00.000Z"},
               {12, kNorth, 4, "2024-01-03T08:00:00.000Z", "2024-01-03T08:00:30.000Z"}};
  l.methods = {{1, "DICOM PS3.15 2024b", "RetainLongModifDatesOpt", "tributary 0.9.0"}};
  l.instances = {
      {kInstance[0], kOriginal[0], 11, kNorth, "2.25.1001", "2024-01-02T03:04:06.000Z", 1},
      {kInstance[1], kOriginal[1], 11, kNorth, "2.25.1002", "2024-01-02T03:04:07.000Z", 1},
      {kInstance[2], kOriginal[2], 12, kNorth, "2.25.1003", "2024-01-03T08:00:10.000Z", 1}};
  LineageDerivation d;
  d.id = 21;
  d.series_id = 5;
  d.series_uid = "2.25.900";
  d.recipe_sha256 = Hex('9');
  d.recipe_name = "mr-1mm";
  d.worker = "worker host:1";
  d.created_at = "2024-01-04T00:00:00.000Z";
  d.software_versions_json = R"({"tributary":"0.9.0","itk":"5.2"})";
  d.input_blob_sha256s = {kInstance[0], kInstance[1], kInstance[2]};
  d.outputs = {{"nifti", "vol.nii.gz", kOutput[0], 4096}, {"sidecar", "vol.json", kOutput[1], 300}};
  l.derivations = {d};
  return l;
}

CohortExport MakeCohort() {
  CohortExport c;
  c.id = 5;
  c.name = "T1 pilot";
  c.created_at = "2024-01-05T00:00:00.000Z";
  c.created_by_token_id = 8;
  c.files = {{"sub-TRBA/ses-1/anat/sub-TRBA_ses-1_T1w.nii.gz", kOutput[0], 4096},
             {"sub-TRBA/ses-1/anat/sub-TRBA_ses-1_T1w.json", kOutput[1], 300},
             {"dataset_description.json", kDocumentBlob, 500}};
  return c;
}

// What python3-prov made of `document`; a null json when it could not read it.
json ReadWithPythonProv(const std::string& document) {
  fs::path dir = fs::temp_directory_path() / ("trib_prov_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "provenance.json") << document;
  std::ofstream(dir / "reader.py") << kReader;
  std::string command = "/usr/bin/python3 '" + (dir / "reader.py").string() + "' '" +
                        (dir / "provenance.json").string() + "'";
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return json();
  std::array<char, 4096> buffer;
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe))
    out.append(buffer.data(), n);
  int status = ::pclose(pipe);
  fs::remove_all(dir);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return json();
  return json::parse(out, nullptr, false);
}

// The relations of `kind` (python3-prov's names) as "attribute=value ..." for the given
// attributes.
std::set<std::vector<std::string>> Relations(const json& read, const std::string& kind,
                                             const std::vector<std::string>& attributes) {
  std::set<std::vector<std::string>> out;
  for (const auto& r : read["relations"]) {
    if (r[0] != kind) continue;
    std::vector<std::string> values;
    for (const std::string& a : attributes) values.push_back(r[1].value(a, ""));
    out.insert(values);
  }
  return out;
}

TEST(BuildProvDocument, PythonProvReadsEveryRecordAndTheLineage) {
  Lineage lineage = MakeLineage();
  CohortExport cohort = MakeCohort();
  ProvDocument doc = BuildProvDocument(lineage, "0.9.0", &cohort);
  json read = ReadWithPythonProv(doc.json);
  ASSERT_TRUE(read.is_object()) << "python3-prov could not read:\n" << doc.json;

  EXPECT_EQ(read["records"], read["json_records"]) << "python3-prov dropped records";
  EXPECT_EQ(read["records"].get<std::size_t>(), doc.records);
  EXPECT_TRUE(read["undeclared"].empty()) << read["undeclared"];

  // Each instance derives from its upload's original, each derived file from every instance
  // read, and is generated by the harmonization.
  std::set<std::vector<std::string>> derived_from =
      Relations(read, "Derivation", {"generatedEntity", "usedEntity"});
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(derived_from.count({"instance:" + kInstance[i], "original:" + kOriginal[i]})) << i;
    for (const std::string& output : kOutput)
      EXPECT_TRUE(derived_from.count({"file:" + output, "instance:" + kInstance[i]})) << i;
  }
  EXPECT_EQ(derived_from.size(), 3u + 2u * 3u);
  std::set<std::vector<std::string>> generated =
      Relations(read, "Generation", {"entity", "activity"});
  for (const std::string& output : kOutput)
    EXPECT_TRUE(generated.count({"file:" + output, "activity:harmonization-21"})) << output;
  EXPECT_TRUE(generated.count({"original:" + kOriginal[2], "activity:upload-12"}));
  EXPECT_TRUE(generated.count({"trb:cohort-5", "activity:export-cohort-5"}));
  // The cohort's members are the derived files it holds (its own documents derive from nothing).
  EXPECT_EQ(Relations(read, "Membership", {"collection", "entity"}),
            (std::set<std::vector<std::string>>{{"trb:cohort-5", "file:" + kOutput[0]},
                                                {"trb:cohort-5", "file:" + kOutput[1]}}));
  std::set<std::vector<std::string>> used = Relations(read, "Usage", {"activity", "entity"});
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(used.count({"activity:harmonization-21", "instance:" + kInstance[i]})) << i;
  EXPECT_EQ(Relations(read, "Delegation", {"delegate", "responsible"})
                .count({"agent:token-4", "agent:centre-" + kNorth}),
            1u);
}

// Walks every key and string value of `j`, with the key path.
void Walk(const json& j, const std::string& path,
          const std::function<void(const std::string&, const std::string&)>& visit) {
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      visit(path + "/" + key, key);
      Walk(value, path + "/" + key, visit);
    }
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) Walk(j[i], path + "/" + std::to_string(i), visit);
  } else if (j.is_string()) {
    visit(path, j.get<std::string>());
  }
}

// Nothing but what the lineage holds, each where it belongs: the centre's name is its agent's
// label (and that agent's identifier), a UID the instance's attribute, the options the method's.
TEST(BuildProvDocument, LineageTextAppearsOnlyWhereItBelongs) {
  Lineage lineage = MakeLineage();
  CohortExport cohort = MakeCohort();
  ProvDocument doc = BuildProvDocument(lineage, "0.9.0", &cohort);
  json j = json::parse(doc.json);
  const std::string centre_agent = "agent:centre-" + kNorth;
  struct Where {
    std::string text;
    std::function<bool(const std::string& path, const std::string& value)> allowed;
  };
  const Where kWhere[] = {
      {kNorth,
       [&](const std::string& path, const std::string& value) {
         if (value == centre_agent) return true;  // the agent, or a reference to it
         return path == "/agent/" + centre_agent + "/prov:label" && value == kNorth;
       }},
      {"2.25.1001",
       [](const std::string& path, const std::string&) {
         return path == "/entity/instance:" + kInstance[0] + "/trb:sopInstanceUid";
       }},
      {"RetainLongModifDatesOpt",
       [](const std::string& path, const std::string&) {
         return path.rfind("/activity/activity:deidentification-", 0) == 0 && path.size() > 12 &&
                path.substr(path.size() - 12) == "/trb:options";
       }},
      {"T1 pilot", [](const std::string& path,
                      const std::string&) { return path == "/entity/trb:cohort-5/prov:label"; }},
  };
  for (const Where& w : kWhere) {
    int seen = 0;
    Walk(j, "", [&](const std::string& path, const std::string& value) {
      if (value.find(w.text) == std::string::npos) return;
      ++seen;
      EXPECT_TRUE(w.allowed(path, value)) << w.text << " at " << path << ": " << value;
    });
    EXPECT_GT(seen, 0) << w.text;
  }
  // A worker name is made an identifier: no space or colon left in its local part.
  EXPECT_TRUE(j["agent"].contains("agent:worker-worker-host-1")) << j["agent"];
}

}  // namespace
}  // namespace tributary::provenance
