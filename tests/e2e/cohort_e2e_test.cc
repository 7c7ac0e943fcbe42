// Issue 11: two centres upload the same MR anatomy (a real GE 3D T1 and a synthetic second site
// with another scanner response), the workers harmonize both, a researcher freezes a cohort and
// exports it with the CLI. What comes out is judged by independent tools: the official BIDS
// validator, sha256sum, Debian's python3-prov, nibabel and Pillow. An export killed part-way and
// run again sends only what was missing and ends identical.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/hash.h"
#include "tests/e2e/server_process.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::Quote;
using testing::ReadFile;
using testing::ServerProcess;
using testing::Shell;
using testing::WriteFile;

const fs::path kShared = TRIBUTARY_SHARED_DIR;
const fs::path kSource = TRIBUTARY_SOURCE_DIR;
const fs::path kT1 = kShared / "data" / "dicom" / "dcm_qa_deident" / "In";
const fs::path kValidator =
    kSource / "tests" / "tools" / "node_modules" / ".bin" / "bids-validator";

// Every regular file under `root` with its SHA-256, by relative path.
std::map<std::string, std::string> Tree(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    files[fs::relative(e.path(), root).string()] = ToHex(Sha256(ReadFile(e.path())));
  }
  return files;
}

class CohortE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::is_directory(kT1)) GTEST_SKIP() << kT1 << " is absent (../shared/data)";
    ASSERT_TRUE(fs::exists(kValidator)) << "the BIDS validator is not installed: deploy/install.sh "
                                           "runs npm ci --prefix tests/tools";
    dir_ = fs::temp_directory_path() /
           ("trib_cohort_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    server_ = std::make_unique<ServerProcess>(
        dir_ / "data", std::vector<std::string>{"--harmonization-workers", "2"});
    ASSERT_TRUE(server_->Start()) << ReadFile(server_->log());
    operator_file_ = server_->data_dir() / "operator.token";
  }
  void TearDown() override {
    server_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  fs::path TokenFile(const std::string& name, const std::string& token) {
    fs::path path = dir_ / (name + ".token");
    WriteFile(path, token + "\n");
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
    return path;
  }
  nlohmann::json Json(const std::string& args, int expected_exit = 0) {
    CommandResult r = Shell(server_->Cli(args + " --json"), false);
    if (r.exit_code != expected_exit) {
      ADD_FAILURE() << args << ": exit " << r.exit_code << "\n"
                    << Shell(server_->Cli(args)).out;  // again, with what it said on stderr
    }
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  // Two centres' studies stored and harmonized; returns the researcher's token file.
  fs::path UploadAndHarmonize() {
    fs::path north = TokenFile("north", server_->AddCentre("north"));
    fs::path south = TokenFile("south", server_->AddCentre("south"));
    CommandResult site =
        Shell("/usr/bin/python3 " + Quote(kSource / "tests/e2e/make_second_site.py") + " " +
              Quote(kT1) + " " + Quote(dir_ / "south-site") + " south");
    EXPECT_EQ(site.exit_code, 0) << site.out;
    EXPECT_EQ(Json("upload " + Quote(kT1) + " --complete --token-file " +
                   Quote(north))["summary"]["STORED"],
              196);
    EXPECT_EQ(Json("upload " + Quote(dir_ / "south-site") + " --complete --token-file " +
                   Quote(south))["summary"]["STORED"],
              196);
    CommandResult wait = Shell(server_->Cli("jobs wait --token-file " + Quote(operator_file_)));
    EXPECT_EQ(wait.exit_code, 0) << wait.out;
    nlohmann::json token = Json("tokens create --role researcher --name analyst --token-file " +
                                Quote(operator_file_));
    return TokenFile("researcher", token.value("secret", ""));
  }

  fs::path dir_;
  fs::path operator_file_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(CohortE2E, TwoCentresHarmonizedCohortExportsAsValidBids) {
  fs::path researcher = UploadAndHarmonize();
  const std::string as_researcher = " --token-file " + Quote(researcher);

  nlohmann::json volumes = Json("cohorts query --filter modality=MR" + as_researcher);
  ASSERT_EQ(volumes.size(), 2u) << volumes;
  std::set<std::string> centres;
  for (const auto& v : volumes) {
    centres.insert(v["centre"].get<std::string>());
    EXPECT_EQ(v["recipe"], "mr-default");
    EXPECT_EQ(v["spacing"].size(), 3u);
  }
  EXPECT_EQ(centres, (std::set<std::string>{"north", "south"}));
  // Filters select: one centre; a spacing no volume has; a bad filter is named.
  EXPECT_EQ(Json("cohorts query --filter centre=south" + as_researcher).size(), 1u);
  EXPECT_EQ(Json("cohorts query --filter spacing=..0.5" + as_researcher).size(), 0u);
  CommandResult bad = Shell(server_->Cli("cohorts query --filter colour=red" + as_researcher));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("filter colour=red: unknown key"), std::string::npos) << bad.out;

  nlohmann::json cohort =
      Json("cohorts create --name \"two sites\" --filter modality=MR" + as_researcher);
  ASSERT_TRUE(cohort.is_object()) << cohort;
  const std::string id = std::to_string(cohort["id"].get<int>());
  EXPECT_EQ(cohort["volumes"], 2);
  EXPECT_EQ(cohort["subjects"], 2);
  EXPECT_EQ(cohort["centres"], 2);

  fs::path out = dir_ / "export";
  nlohmann::json exported = Json("cohorts export " + id + " --out " + Quote(out) + as_researcher);
  EXPECT_EQ(exported["files_sent"], cohort["files"]) << exported;
  EXPECT_EQ(exported["files_skipped"], 0);

  // The official BIDS validator: zero errors (warnings are advice).
  CommandResult validator = Shell(Quote(kValidator) + " " + Quote(out));
  EXPECT_EQ(validator.exit_code, 0) << validator.out;
  EXPECT_EQ(validator.out.find("[ERR]"), std::string::npos) << validator.out;
  EXPECT_NE(validator.out.find("2 - Subjects"), std::string::npos) << validator.out;

  // The manifest covers every other file and sha256sum agrees with each.
  CommandResult check = Shell("cd " + Quote(out) + " && sha256sum -c --strict manifest.sha256");
  EXPECT_EQ(check.exit_code, 0) << check.out;
  std::map<std::string, std::string> tree = Tree(out);
  std::size_t manifest_lines = 0;
  for (char c : ReadFile(out / "manifest.sha256")) manifest_lines += c == '\n';
  EXPECT_EQ(manifest_lines, tree.size() - 1);
  EXPECT_EQ(tree.size(), static_cast<std::size_t>(cohort["files"].get<int>()));

  // BIDS names, participants and the pictures.
  std::size_t t1 = 0;
  for (const auto& [path, digest] : tree) {
    if (path.find("/ses-1/anat/") != std::string::npos && path.ends_with("_T1w.nii.gz")) ++t1;
  }
  EXPECT_EQ(t1, 2u);
  std::string participants = ReadFile(out / "participants.tsv");
  EXPECT_NE(participants.find("\tnorth\t"), std::string::npos) << participants;
  EXPECT_NE(participants.find("\tsouth\t"), std::string::npos) << participants;
  nlohmann::json description = nlohmann::json::parse(ReadFile(out / "dataset_description.json"));
  EXPECT_EQ(description["DatasetType"], "derivative");
  EXPECT_EQ(description["Name"], "two sites");
  ASSERT_GE(description["GeneratedBy"].size(), 2u);
  EXPECT_EQ(description["GeneratedBy"][1]["Name"], "tributary recipe mr-default");

  // Independent readers: nibabel loads every NIfTI whole, Pillow every PNG, python3-prov the
  // lineage with as many records as the document holds.
  CommandResult readers = Shell(
      "/usr/bin/python3 " + Quote(kSource / "tests/e2e/read_cohort_export.py") + " " + Quote(out),
      false);
  ASSERT_EQ(readers.exit_code, 0) << readers.out;
  std::istringstream figures(readers.out);
  std::size_t images = 0, pictures = 0, written = 0, read = 0;
  figures >> images >> pictures >> written >> read;
  EXPECT_EQ(images, 2u) << readers.out;
  EXPECT_EQ(pictures, 3u) << "two volumes' QC pictures and the MR distribution: " << readers.out;
  EXPECT_GT(written, 400u) << "392 instances, their uploads, two harmonizations: " << readers.out;
  EXPECT_EQ(read, written) << readers.out;
  for (const char* kind : {"activity", "agent", "entity", "used", "wasAssociatedWith",
                           "wasAttributedTo", "wasDerivedFrom", "wasGeneratedBy"}) {
    EXPECT_NE(readers.out.find(kind), std::string::npos) << kind << ": " << readers.out;
  }
  EXPECT_TRUE(fs::exists(out / "qc" / "mr_intensity_by_centre.png"));

  // Lineage on request, for people and machines.
  CommandResult lineage =
      Shell(server_->Cli("provenance show cohort:" + id + as_researcher), false);
  EXPECT_EQ(lineage.exit_code, 0) << lineage.out;
  EXPECT_NE(lineage.out.find("centre north"), std::string::npos) << lineage.out;
  EXPECT_NE(lineage.out.find("recipe mr-default"), std::string::npos) << lineage.out;
  EXPECT_NE(lineage.out.find("Basic Profile"), std::string::npos) << lineage.out;
  std::string nifti_digest;
  for (const auto& [path, digest] : tree)
    if (path.ends_with("_T1w.nii.gz")) nifti_digest = digest;
  nlohmann::json prov =
      nlohmann::json::parse(Shell(server_->Cli("provenance show sha256:" + nifti_digest +
                                               " --format prov-json" + as_researcher),
                                  false)
                                .out,
                            nullptr, false);
  ASSERT_TRUE(prov.is_object());
  EXPECT_TRUE(prov["entity"].contains("file:" + nifti_digest)) << prov.dump().substr(0, 2000);
}

TEST_F(CohortE2E, ExportResumesAfterAKillAndCohortsNeverChange) {
  fs::path researcher = UploadAndHarmonize();
  const std::string as_researcher = " --token-file " + Quote(researcher);
  nlohmann::json cohort = Json("cohorts create --name frozen" + as_researcher);
  const std::string id = std::to_string(cohort["id"].get<int>());
  fs::path whole = dir_ / "whole";
  Json("cohorts export " + id + " --out " + Quote(whole) + as_researcher);
  const std::map<std::string, std::string> expected = Tree(whole);

  // Killed while a file is arriving (a .partial exists only then).
  fs::path out = dir_ / "interrupted";
  pid_t child = ::fork();
  if (child == 0) {
    // exec: the shell becomes the CLI (which execs tributary-client), so `child` is its pid.
    std::string command =
        "exec " + server_->Cli("cohorts export " + id + " --out " + Quote(out) + as_researcher) +
        " > /dev/null 2>&1";
    ::execl("/bin/sh", "sh", "-c", command.c_str(), nullptr);
    ::_exit(127);
  }
  bool killed = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!killed && std::chrono::steady_clock::now() < deadline) {
    std::size_t whole_files = 0;
    bool arriving = false;
    std::error_code error;
    for (auto it = fs::recursive_directory_iterator(out, error);
         !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
      if (!it->is_regular_file(error)) continue;
      if (it->path().extension() == ".partial") {
        arriving = true;
      } else {
        ++whole_files;
      }
    }
    if (arriving && whole_files > 0) {
      // As a crash or a power cut would.
      ::kill(child, SIGKILL);
      killed = true;
      break;
    }
    int status = 0;
    if (::waitpid(child, &status, WNOHANG) == child) {
      child = -1;
      break;
    }
  }
  if (child > 0) ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(killed) << "the export ended before it could be interrupted";
  std::map<std::string, std::string> partial;
  for (const auto& [path, digest] : Tree(out)) {
    if (!path.ends_with(".partial")) partial[path] = digest;
  }
  ASSERT_LT(partial.size(), expected.size());
  // Every file already under its final name is whole.
  for (const auto& [path, digest] : partial) EXPECT_EQ(digest, expected.at(path)) << path;

  // A file damaged on disk meanwhile is sent again too.
  ASSERT_FALSE(partial.empty());
  const std::string damaged = partial.begin()->first;
  WriteFile(out / damaged, "not what was exported\n");

  nlohmann::json resumed = Json("cohorts export " + id + " --out " + Quote(out) + as_researcher);
  EXPECT_EQ(resumed["files_skipped"].get<std::size_t>(), partial.size() - 1) << resumed;
  EXPECT_EQ(resumed["files_sent"].get<std::size_t>(), expected.size() - partial.size() + 1)
      << resumed;
  std::map<std::string, std::string> final_tree;
  for (const auto& [path, digest] : Tree(out)) {
    if (!path.ends_with(".partial")) final_tree[path] = digest;
  }
  EXPECT_EQ(final_tree, expected);

  // The snapshot stays as it was: a new study and harmonization later change queries, not it.
  fs::path north = dir_ / "north.token";
  CommandResult more =
      Shell("/usr/bin/python3 " + Quote(kSource / "tests/e2e/make_second_site.py") + " " +
            Quote(kT1) + " " + Quote(dir_ / "later") + " later 1.2 10");
  ASSERT_EQ(more.exit_code, 0) << more.out;
  Json("upload " + Quote(dir_ / "later") + " --complete --token-file " + Quote(north));
  ASSERT_EQ(Shell(server_->Cli("jobs wait --token-file " + Quote(operator_file_))).exit_code, 0);
  EXPECT_EQ(Json("cohorts query" + as_researcher).size(), 3u);
  nlohmann::json shown = Json("cohorts show " + id + as_researcher);
  EXPECT_EQ(shown["volumes"], 2);
  EXPECT_EQ(shown["file_list"].size(), expected.size());
  fs::path again = dir_ / "again";
  Json("cohorts export " + id + " --out " + Quote(again) + as_researcher);
  EXPECT_EQ(Tree(again), expected);

  // A stored blob whose bytes changed (the same size, one byte flipped) is refused by the client,
  // naming the file, and nothing of it is left; with the blob repaired, the export completes.
  nlohmann::json victim;
  for (const auto& f : shown["file_list"]) {
    if (f["size"].get<std::int64_t>() > (2 << 20)) victim = f;
  }
  ASSERT_TRUE(victim.is_object()) << "no file over 2 MiB in the cohort";
  const std::string sha = victim["sha256"].get<std::string>();
  const fs::path blob =
      server_->data_dir() / "blobs" / "sha256" / sha.substr(0, 2) / sha.substr(2, 2) / sha;
  ASSERT_TRUE(fs::is_regular_file(blob)) << blob;
  const std::uint64_t flip_at = victim["size"].get<std::uint64_t>() / 2 + 12345;
  auto flip = [&] {
    std::fstream f(blob, std::ios::binary | std::ios::in | std::ios::out);
    f.seekg(static_cast<std::streamoff>(flip_at));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(flip_at));
    f.put(static_cast<char>(c ^ 0x5a));
    ASSERT_TRUE(f.good()) << blob;
  };
  flip();
  fs::path damaged_out = dir_ / "damaged";
  CommandResult refused =
      Shell(server_->Cli("cohorts export " + id + " --out " + Quote(damaged_out) + as_researcher));
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  const std::string victim_path = victim["path"].get<std::string>();
  EXPECT_NE(refused.out.find(victim_path + ": the bytes received do not match its SHA-256"),
            std::string::npos)
      << refused.out;
  EXPECT_FALSE(fs::exists(damaged_out / victim_path)) << victim_path;
  for (const auto& [path, digest] : Tree(damaged_out)) {
    EXPECT_FALSE(path.ends_with(".partial")) << path;
    EXPECT_EQ(digest, expected.at(path)) << path;
  }
  flip();
  Json("cohorts export " + id + " --out " + Quote(damaged_out) + as_researcher);
  EXPECT_EQ(Tree(damaged_out), expected);

  // Not even the database's owner can change it.
  std::string psql;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql"))
    psql = (e.path() / "bin" / "psql").string();
  CommandResult update =
      Shell(psql + " -X -w -At 'host=" + (server_->data_dir() / "postgres" / "run").string() +
            " dbname=tributary user=tributary' -c \"DELETE FROM cohort_files\"");
  EXPECT_NE(update.exit_code, 0) << update.out;
  EXPECT_NE(update.out.find("immutable"), std::string::npos) << update.out;

  // Roles: an uploader may not export or query; a researcher may not upload or administer.
  CommandResult by_uploader = Shell(server_->Cli(
      "cohorts export " + id + " --out " + Quote(dir_ / "x") + " --token-file " + Quote(north)));
  EXPECT_EQ(by_uploader.exit_code, 4) << by_uploader.out;
  CommandResult upload = Shell(server_->Cli("upload " + Quote(kT1) + as_researcher));
  EXPECT_NE(upload.exit_code, 0) << upload.out;
  EXPECT_NE(upload.out.find("not allowed for the researcher role"), std::string::npos)
      << upload.out;
  CommandResult centres = Shell(server_->Cli("centres list" + as_researcher));
  EXPECT_EQ(centres.exit_code, 4) << centres.out;
}

}  // namespace
}  // namespace tributary
