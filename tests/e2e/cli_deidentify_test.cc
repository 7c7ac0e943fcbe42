// End-to-end: the real `tributary` binary on files written here with DCMTK, outputs read back by
// independent readers (dcmdump, and pydicom from Debian's /usr/bin/python3 when installed).
#include <dcmtk/dcmdata/dcdeftag.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "common/hash.h"
#include "tests/e2e/server_process.h"
#include "tests/unit/synthetic_dicom.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;

using testing::CommandResult;
using testing::Quote;
using testing::Shell;
const auto& Read = testing::ReadFile;
const auto& Write = testing::WriteFile;

class CliDeidentify : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("trib_e2e_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "in");
    key_ = dir_ / "deid.key";
    CommandResult keygen = Shell(std::string(TRIBUTARY_CLI) + " keygen --out " + Quote(key_));
    ASSERT_EQ(keygen.exit_code, 0) << keygen.out;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Two patients, three instances, named with PHI as real exports often are.
  void WriteStudies() {
    for (int i = 0; i < 3; ++i) {
      testing::CtSliceSpec spec;
      spec.patient_id = i < 2 ? "MRN-0001" : "MRN-0002";
      spec.patient_name = i < 2 ? "SMITH^ALICE" : "JONES^BOB";
      spec.study_uid = i < 2 ? "1.2.826.0.1.3680043.2.1125.7.1" : "1.2.826.0.1.3680043.2.1125.7.2";
      spec.sop_uid = "1.2.826.0.1.3680043.2.1125.7.10" + std::to_string(i);
      spec.slice_position = i;
      auto file = testing::MakeCtSlice(spec);
      file->getDataset()->putAndInsertString(DCM_InstitutionName, "Saint Elsewhere Hospital");
      Write(dir_ / "in" / spec.patient_name / ("slice" + std::to_string(i) + ".dcm"),
            testing::Encode(*file, i == 1 ? EXS_LittleEndianImplicit : EXS_LittleEndianExplicit));
    }
  }

  std::string Cli(const std::string& args) const {
    return std::string(TRIBUTARY_CLI) + " deidentify " + args + " --key-file " + Quote(key_) +
           " --out " + Quote(dir_ / "out");
  }

  std::vector<fs::path> Outputs() const {
    std::vector<fs::path> files;
    if (!fs::exists(dir_ / "out")) return files;
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "out")) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
    return files;
  }

  fs::path dir_;
  fs::path key_;
};

// The offline rule is the server's: pseudonyms and every UID derive from the centre.
TEST_F(CliDeidentify, CentreKeysPseudonymsAndUids) {
  WriteStudies();
  auto run = [&](const std::string& centre, const std::string& out) {
    CommandResult r =
        Shell(std::string(TRIBUTARY_CLI) + " deidentify " + Quote(dir_ / "in") + " --centre " +
              centre + " --key-file " + Quote(key_) + " --out " + Quote(dir_ / out));
    EXPECT_EQ(r.exit_code, 0) << r.out;
    std::set<std::string> parts;  // pseudonym, study, series and SOP UID of every output
    for (const auto& e : fs::recursive_directory_iterator(dir_ / out)) {
      fs::path relative = fs::relative(e.path(), dir_ / out);
      if (e.is_regular_file()) parts.insert(relative.stem().string());
      if (e.is_directory()) parts.insert(relative.filename().string());
    }
    return parts;
  };
  std::set<std::string> north = run("north", "north");
  std::set<std::string> again = run("north", "north-again");
  std::set<std::string> south = run("south", "south");
  EXPECT_GE(north.size(), 2u + 2u + 1u + 3u) << "2 patients, 2 studies, series, 3 instances";
  EXPECT_EQ(north.size(), south.size());
  EXPECT_EQ(north, again);
  for (const std::string& part : south) EXPECT_EQ(north.count(part), 0u) << part;
}

TEST_F(CliDeidentify, KeygenWritesOwnerOnlyKeyAndRefusesToOverwrite) {
  struct stat info {};
  ASSERT_EQ(::stat(key_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(Read(key_).size(), 65u);
  std::string before = Read(key_);
  CommandResult again = Shell(std::string(TRIBUTARY_CLI) + " keygen --out " + Quote(key_));
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.out.find("refusing to overwrite"), std::string::npos) << again.out;
  EXPECT_EQ(Read(key_), before);
}

TEST_F(CliDeidentify, WritesEveryInstanceReportsEveryFileAndLeavesInputsAlone) {
  WriteStudies();
  Write(dir_ / "in" / "notes.txt", "scanned on Tuesday\n");
  std::map<fs::path, std::string> digests;
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "in")) {
    if (e.is_regular_file()) digests[e.path()] = ToHex(Sha256(Read(e.path())));
  }

  CommandResult run = Shell(Cli(Quote(dir_ / "in") + " --json"));
  ASSERT_EQ(run.exit_code, 0) << run.out;
  auto report = nlohmann::json::parse(run.out);
  EXPECT_EQ(report["summary"]["written"], 3);
  EXPECT_EQ(report["summary"]["skipped"], 1);
  EXPECT_EQ(report["summary"]["refused"], 0);
  std::set<std::string> outcomes;
  for (const auto& f : report["files"]) outcomes.insert(f["outcome"].get<std::string>());
  EXPECT_EQ(outcomes, (std::set<std::string>{"written", "skipped"}));

  for (const auto& [path, digest] : digests) EXPECT_EQ(ToHex(Sha256(Read(path))), digest) << path;

  std::vector<fs::path> outputs = Outputs();
  ASSERT_EQ(outputs.size(), 3u);
  std::set<std::string> patients;
  for (const fs::path& out : outputs) {
    std::string bytes = Read(out);
    for (const char* phi :
         {"SMITH", "ALICE", "JONES", "MRN-000", "Elsewhere", "1.2.826.0.1.3680043.2.1125.7"}) {
      EXPECT_EQ(bytes.find(phi), std::string::npos) << phi << " in " << out;
      EXPECT_EQ(out.string().find(phi), std::string::npos) << phi << " in the output path " << out;
    }
    CommandResult dump = Shell("dcmdump -q " + Quote(out));
    EXPECT_EQ(dump.exit_code, 0) << dump.out;
    EXPECT_NE(dump.out.find("(0012,0062) CS [YES]"), std::string::npos) << dump.out;
    patients.insert(out.parent_path().parent_path().parent_path().filename().string());
  }
  EXPECT_EQ(patients.size(), 2u) << "two patients, two pseudonym folders";
}

TEST_F(CliDeidentify, OutputsReadBackWithPydicom) {
  if (!fs::exists("/usr/bin/python3") ||
      Shell("/usr/bin/python3 -c 'import pydicom'").exit_code != 0) {
    GTEST_SKIP() << "Debian's python3-pydicom is not installed";
  }
  WriteStudies();
  CommandResult run = Shell(Cli(Quote(dir_ / "in") + " --quiet"));
  ASSERT_EQ(run.exit_code, 0) << run.out;
  for (const fs::path& out : Outputs()) {
    CommandResult py = Shell(
        "/usr/bin/python3 -c \"import pydicom,sys; d=pydicom.dcmread(sys.argv[1]); "
        "print(d.PatientIdentityRemoved, d.PatientID == str(d.PatientName), "
        "d.SOPInstanceUID == d.file_meta.MediaStorageSOPInstanceUID, "
        "d.SOPInstanceUID.startswith('2.25.'), d.StudyDate != '20240315', "
        "d.pixel_array.shape)\" " +
        Quote(out));
    EXPECT_EQ(py.exit_code, 0) << py.out;
    EXPECT_EQ(py.out, "YES True True True True (64, 64)\n") << out;
  }
}

TEST_F(CliDeidentify, RefusalsAreReportedAndSetTheExitStatus) {
  WriteStudies();
  auto burned = testing::MakeCtSlice();
  burned->getDataset()->putAndInsertString(DCM_BurnedInAnnotation, "YES");
  Write(dir_ / "in" / "burned.dcm", testing::Encode(*burned));
  std::string good = testing::Encode(*testing::MakeCtSlice());
  Write(dir_ / "in" / "truncated.dcm", good.substr(0, good.size() / 3));

  CommandResult run = Shell(Cli(Quote(dir_ / "in")));
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_NE(run.out.find("refused  " + (dir_ / "in" / "burned.dcm").string() +
                         ": BurnedInAnnotation is YES"),
            std::string::npos)
      << run.out;
  EXPECT_NE(
      run.out.find("refused  " + (dir_ / "in" / "truncated.dcm").string() + ": malformed DICOM"),
      std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("3 written, 0 skipped, 2 refused"), std::string::npos) << run.out;
  EXPECT_EQ(Outputs().size(), 3u);
}

TEST_F(CliDeidentify, KeyMayComeFromTheEnvironmentAndPseudonymsFollowTheKey) {
  WriteStudies();
  std::string key_hex = Read(key_).substr(0, 64);
  std::string base =
      std::string(TRIBUTARY_CLI) + " deidentify " + Quote(dir_ / "in") + " --quiet --out ";
  ASSERT_EQ(Shell("TRIBUTARY_DEID_KEY=" + key_hex + " " + base + Quote(dir_ / "env")).exit_code, 0);
  ASSERT_EQ(Shell(base + Quote(dir_ / "file") + " --key-file " + Quote(key_)).exit_code, 0);
  std::set<std::string> from_env, from_file;
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "env"))
    from_env.insert(fs::relative(e.path(), dir_ / "env"));
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "file"))
    from_file.insert(fs::relative(e.path(), dir_ / "file"));
  EXPECT_EQ(from_env, from_file);
  EXPECT_FALSE(from_env.empty());

  CommandResult no_key = Shell("env -u TRIBUTARY_DEID_KEY " + base + Quote(dir_ / "none"));
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_NE(no_key.out.find("no de-identification key"), std::string::npos) << no_key.out;
  EXPECT_FALSE(fs::exists(dir_ / "none"));
}

TEST_F(CliDeidentify, UnknownOptionIsAUsageError) {
  WriteStudies();
  CommandResult run = Shell(Cli(Quote(dir_ / "in") + " --option retain-everything"));
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.out.find("unknown option 'retain-everything'"), std::string::npos) << run.out;
}

}  // namespace
}  // namespace tributary
