// The cohort dataset's top-level documents. The manifest is checked by GNU sha256sum itself
// (`sha256sum --strict -c`) over files written here, with digests from FIPS 180-2's test vectors;
// participants.tsv and dataset_description.json against what BIDS 1.9 requires of them.
#include "harmonize/bids_documents.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace tributary::harmonize {
namespace {

namespace fs = std::filesystem;

// FIPS 180-2 (appendix B.1) and the digest of the empty message.
constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kTwoBlocks =
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr const char* kTwoBlocksText = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("trib_bids_" + std::to_string(::getpid()) + "_" + std::to_string(++counter_));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  void Write(const std::string& relative, const std::string& text) const {
    fs::path p = path_ / relative;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
  }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// The exit status of `sha256sum --strict -c manifest.sha256` in `dir`.
int Sha256sumCheck(const fs::path& dir) {
  std::string command =
      "cd '" + dir.string() + "' && sha256sum --strict --quiet -c manifest.sha256";
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(Manifest, IsWhatSha256sumChecks) {
  struct File {
    const char* path;
    const char* text;
    const char* sha256;
  };
  // Given out of order: the manifest sorts by path.
  const File kFiles[] = {
      {"sub-TRBA/ses-1/anat/sub-TRBA_ses-1_T1w.nii.gz", "abc", kAbc},
      {"README", "", kEmpty},
      {"qc/summary.tsv", kTwoBlocksText, kTwoBlocks},
      {"dataset_description.json", "abc", kAbc},
  };
  TempDir dir;
  std::vector<ManifestEntry> entries;
  for (const File& f : kFiles) {
    dir.Write(f.path, f.text);
    entries.push_back({f.path, f.sha256});
  }
  std::string manifest = Manifest(entries);
  EXPECT_EQ(manifest, std::string(kEmpty) + "  README\n" + kAbc + "  dataset_description.json\n" +
                          kTwoBlocks + "  qc/summary.tsv\n" + kAbc +
                          "  sub-TRBA/ses-1/anat/sub-TRBA_ses-1_T1w.nii.gz\n");
  dir.Write("manifest.sha256", manifest);
  EXPECT_EQ(Sha256sumCheck(dir.path()), 0) << manifest;

  // The same check fails once a file differs: sha256sum really read them.
  dir.Write("qc/summary.tsv", "abd");
  EXPECT_NE(Sha256sumCheck(dir.path()), 0);
}

std::vector<std::vector<std::string>> TsvRows(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (;;) {
      std::size_t tab = line.find('\t', start);
      fields.push_back(line.substr(start, tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    rows.push_back(fields);
  }
  return rows;
}

TEST(ParticipantsTsv, OneRowPerSubjectWithNaForUnknown) {
  struct Row {
    const char* participant_id;
    const char* centre;
    const char* sex;
    const char* age;  // "n/a" or the number
  };
  // A subject seen twice (two volumes) is one row; rows are by participant_id.
  std::vector<Participant> participants = {
      {"TRB00000000000000000002", "south", "", 0},
      {"TRB00000000000000000001", "north", "F", 42.5},
      {"TRB00000000000000000002", "south", "", 0},
      {"TRB00000000000000000003", "", "O", 7},
  };
  const Row kExpected[] = {
      {"sub-TRB00000000000000000001", "north", "F", "42.5"},
      {"sub-TRB00000000000000000002", "south", "n/a", "n/a"},
      {"sub-TRB00000000000000000003", "n/a", "O", "7"},
  };
  std::vector<std::vector<std::string>> rows = TsvRows(ParticipantsTsv(participants));
  ASSERT_EQ(rows.size(), 1 + std::size(kExpected));
  // BIDS: participant_id is the first column; every column is described in participants.json.
  ASSERT_FALSE(rows[0].empty());
  EXPECT_EQ(rows[0][0], "participant_id");
  nlohmann::json sidecar = nlohmann::json::parse(ParticipantsJson());
  for (const std::string& column : rows[0]) EXPECT_TRUE(sidecar.contains(column)) << column;
  std::map<std::string, std::size_t> column;
  for (std::size_t i = 0; i < rows[0].size(); ++i) column[rows[0][i]] = i;
  for (std::size_t i = 0; i < std::size(kExpected); ++i) {
    const std::vector<std::string>& row = rows[i + 1];
    ASSERT_EQ(row.size(), rows[0].size()) << i;
    EXPECT_EQ(row[column["participant_id"]], kExpected[i].participant_id);
    EXPECT_EQ(row[column["centre"]], kExpected[i].centre) << i;
    EXPECT_EQ(row[column["sex"]], kExpected[i].sex) << i;
    const std::string& age = row[column["age"]];
    if (std::string(kExpected[i].age) == "n/a") {
      EXPECT_EQ(age, "n/a") << i;
    } else {
      EXPECT_DOUBLE_EQ(std::stod(age), std::stod(kExpected[i].age)) << i;
    }
  }
}

TEST(DatasetDescription, IsJsonWithWhatBidsRequiresOfADerivative) {
  DatasetInfo info;
  info.cohort_id = 12;
  info.cohort_name = "T1 pilot";
  info.created_at = "2024-05-01T10:00:00.000Z";
  info.query_json = R"({"filters":[{"key":"modality","value":"MR"}],"exclude_duplicates":true})";
  info.software_version = "0.9.0";
  info.recipes = {{"mr-1mm", "1", std::string(64, 'a')}};
  info.models = {{std::string(64, 'b'), "nyul"}};
  info.centres = {"north", "south"};
  nlohmann::json d = nlohmann::json::parse(DatasetDescription(info), nullptr, false);
  ASSERT_TRUE(d.is_object());
  // REQUIRED: Name, BIDSVersion; GeneratedBy for derivatives, each with a Name.
  EXPECT_EQ(d.value("Name", ""), "T1 pilot");
  EXPECT_TRUE(std::regex_match(d.value("BIDSVersion", ""), std::regex("1\\.[0-9]+\\.[0-9]+")));
  EXPECT_EQ(d.value("DatasetType", ""), "derivative");
  ASSERT_TRUE(d["GeneratedBy"].is_array());
  ASSERT_EQ(d["GeneratedBy"].size(), 3u);
  for (const auto& g : d["GeneratedBy"]) EXPECT_TRUE(g["Name"].is_string()) << g;
  EXPECT_EQ(d["TributaryCohort"]["Query"], nlohmann::json::parse(info.query_json));

  // A query that is no JSON still leaves the description JSON.
  info.query_json = "";
  EXPECT_FALSE(nlohmann::json::parse(DatasetDescription(info), nullptr, false).is_discarded());
}

TEST(BidsIgnore, ListsTheLayoutsLinesAndTheNonBidsFiles) {
  Layout layout;
  layout.bidsignore = {"sub-*/ses-*/ct/", "qc/"};
  EXPECT_EQ(BidsIgnore(layout), "sub-*/ses-*/ct/\nqc/\nprovenance.json\nmanifest.sha256\n");
}

}  // namespace
}  // namespace tributary::harmonize
