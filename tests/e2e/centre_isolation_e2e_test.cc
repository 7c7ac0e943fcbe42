// Issue 10 A: two centres that send the same original study never collide and never learn of each
// other; only an operator sees that the study came from both.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/e2e/server_process.h"
#include "tests/unit/synthetic_dicom.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::Quote;
using testing::ReadFile;
using testing::ServerProcess;
using testing::Shell;
using testing::WriteFile;

class CentreIsolationE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("trib_iso_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    server_ = std::make_unique<ServerProcess>(
        dir_ / "data", std::vector<std::string>{"--harmonization-workers", "0"});
    ASSERT_TRUE(server_->Start()) << ReadFile(server_->log());
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }
  // One study of `count` slices, written by DCMTK (the CD a referred patient brings along).
  void WriteStudy(const fs::path& folder, int count) {
    for (int i = 0; i < count; ++i) {
      tributary::testing::CtSliceSpec spec;
      spec.patient_id = "PID-REFERRED";
      spec.patient_name = "REFERRED^PATIENT";
      spec.study_uid = "1.2.826.0.1.3680043.2.1125.70.1";
      spec.series_uid = "1.2.826.0.1.3680043.2.1125.70.2";
      spec.sop_uid = "1.2.826.0.1.3680043.2.1125.70.3." + std::to_string(i);
      spec.slice_position = i;
      WriteFile(folder / ("IM" + std::to_string(i)),
                tributary::testing::Encode(*tributary::testing::MakeCtSlice(spec)));
    }
  }
  nlohmann::json Json(const std::string& args, int expected_exit = 0) {
    CommandResult r = Shell(server_->Cli(args), false);
    EXPECT_EQ(r.exit_code, expected_exit) << args << "\n" << r.out;
    try {
      return nlohmann::json::parse(r.out);
    } catch (...) {
      ADD_FAILURE() << "not JSON: " << r.out;
      return {};
    }
  }

  fs::path dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(CentreIsolationE2E, SameStudyFromTwoCentresIsTwoStudiesAndOnlyOperatorsSeeTheDuplicate) {
  std::string north = server_->AddCentre("north");
  std::string south = server_->AddCentre("south");
  WriteStudy(dir_ / "cd-north", 6);
  WriteStudy(dir_ / "cd-south", 6);  // the same bytes, another copy

  nlohmann::json first =
      Json("upload " + Quote(dir_ / "cd-north") + " --complete --json --token " + north);
  CommandResult second_run = Shell(
      server_->Cli("upload " + Quote(dir_ / "cd-south") + " --complete --json --token " + south));
  ASSERT_EQ(second_run.exit_code, 0) << second_run.out;
  nlohmann::json second = nlohmann::json::parse(second_run.out);
  EXPECT_EQ(first["summary"]["STORED"], 6) << first;
  EXPECT_EQ(second["summary"]["STORED"], 6) << second;
  EXPECT_EQ(second["summary"].value("CONFLICT", 0), 0) << second;
  ASSERT_EQ(second["studies"].size(), 1u) << second;
  EXPECT_TRUE(second["studies"][0]["complete"].get<bool>()) << second;

  nlohmann::json north_studies = Json("studies list --json --token " + north);
  nlohmann::json south_studies = Json("studies list --json --token " + south);
  ASSERT_EQ(north_studies.size(), 1u) << north_studies;
  ASSERT_EQ(south_studies.size(), 1u) << south_studies;
  const auto& n = north_studies[0];
  const auto& s = south_studies[0];
  EXPECT_EQ(n["centre"], "north");
  EXPECT_EQ(s["centre"], "south");
  EXPECT_EQ(n["instances"], 6);
  EXPECT_EQ(s["instances"], 6);
  EXPECT_NE(n["study_instance_uid"], s["study_instance_uid"]);
  EXPECT_NE(n["patient"], s["patient"]);
  // Nothing the south uploader was told names north or its study.
  for (const std::string& text : {second_run.out, south_studies.dump()}) {
    EXPECT_EQ(text.find("north"), std::string::npos) << text;
    EXPECT_EQ(text.find(n["study_instance_uid"].get<std::string>()), std::string::npos) << text;
    EXPECT_EQ(text.find(n["patient"].get<std::string>()), std::string::npos) << text;
  }
  // Neither can open the other's study.
  CommandResult peek = Shell(
      server_->Cli("studies show " + std::to_string(n["id"].get<int>()) + " --token " + south));
  EXPECT_NE(peek.exit_code, 0) << peek.out;
  EXPECT_EQ(peek.out.find("north"), std::string::npos) << peek.out;

  // The operator sees that both centres sent it; uploaders may not ask.
  nlohmann::json duplicates =
      Json("studies duplicates --json --token " + server_->operator_token());
  ASSERT_EQ(duplicates.size(), 2u) << duplicates;
  std::set<std::string> centres;
  for (const auto& d : duplicates) {
    centres.insert(d["centre"].get<std::string>());
    ASSERT_EQ(d["also_sent_as"].size(), 1u) << d;
    EXPECT_NE(d["also_sent_as"][0]["centre"], d["centre"]) << d;
    EXPECT_EQ(d["also_sent_as"][0]["shared_instances"], 6) << d;
    EXPECT_EQ(d.dump().find("fingerprint"), std::string::npos) << "never shown";
  }
  EXPECT_EQ(centres, (std::set<std::string>{"north", "south"}));
  CommandResult refused = Shell(server_->Cli("studies duplicates --json --token " + south));
  EXPECT_NE(refused.exit_code, 0) << refused.out;
  EXPECT_EQ(refused.out.find("north"), std::string::npos) << refused.out;

  // A study sent by one centre only is not a duplicate.
  WriteFile(dir_ / "own" / "IM0", [] {
    tributary::testing::CtSliceSpec spec;
    spec.patient_id = "PID-LOCAL";
    spec.study_uid = "1.2.826.0.1.3680043.2.1125.71.1";
    spec.series_uid = "1.2.826.0.1.3680043.2.1125.71.2";
    spec.sop_uid = "1.2.826.0.1.3680043.2.1125.71.3";
    return tributary::testing::Encode(*tributary::testing::MakeCtSlice(spec));
  }());
  Json("upload " + Quote(dir_ / "own") + " --json --token " + north);
  EXPECT_EQ(Json("studies duplicates --json --token " + server_->operator_token()).size(), 2u);
}

// Kept UIDs would make two centres' copies of one study collide again.
TEST(CentreIsolation, ServerRefusesToKeepUids) {
  fs::path dir = fs::temp_directory_path() / ("trib_iso_retain_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    ServerProcess server(dir / "data", {"--option", "retain-uids"});
    EXPECT_FALSE(server.Start());
    EXPECT_NE(ReadFile(server.log()).find("retain-uids is refused"), std::string::npos)
        << ReadFile(server.log());
  }
  fs::remove_all(dir);
}

}  // namespace
// Issue 10 F: BurnedInAnnotation is accepted per centre, by an operator, never by one global
// switch.
TEST_F(CentreIsolationE2E, BurnedInAnnotationIsAPerCentrePolicy) {
  std::string clean = server_->AddCentre("clean-pixels");
  std::string other = server_->AddCentre("other-site");
  auto burned = [&](const fs::path& folder, const std::string& uid) {
    tributary::testing::CtSliceSpec spec;
    spec.sop_uid = uid;
    auto file = tributary::testing::MakeCtSlice(spec);
    file->getDataset()->putAndInsertString(DCM_BurnedInAnnotation, "YES");
    WriteFile(folder / "burned.dcm", tributary::testing::Encode(*file));
  };
  burned(dir_ / "clean", "1.2.826.0.1.3680043.2.1125.71.1");
  burned(dir_ / "other", "1.2.826.0.1.3680043.2.1125.71.2");

  // The default for every centre: refused, with the remedy named for the uploader's own centre.
  nlohmann::json refused = Json("upload " + Quote(dir_ / "clean") + " --json --token " + clean, 1);
  ASSERT_EQ(refused["files"].size(), 1u) << refused;
  const std::string reason = refused["files"][0].value("reason", "");
  EXPECT_EQ(reason.rfind("BURNED_IN_ANNOTATION: ", 0), 0u) << refused;
  EXPECT_NE(reason.find("tributary centres policy clean-pixels --accept-burned-in-annotation on"),
            std::string::npos)
      << refused;

  // Only an operator may change a policy.
  CommandResult by_uploader = Shell(server_->Cli(
      "centres policy clean-pixels --accept-burned-in-annotation on --token " + clean));
  EXPECT_EQ(by_uploader.exit_code, 4) << by_uploader.out;
  CommandResult unknown =
      Shell(server_->Cli("centres policy no-such-centre --accept-burned-in-annotation on --token " +
                         server_->operator_token()));
  EXPECT_NE(unknown.exit_code, 0) << unknown.out;
  EXPECT_NE(unknown.out.find("no centre named 'no-such-centre'"), std::string::npos) << unknown.out;
  CommandResult bad_value =
      Shell(server_->Cli("centres policy clean-pixels --accept-burned-in-annotation yes --token " +
                         server_->operator_token()));
  EXPECT_NE(bad_value.exit_code, 0) << bad_value.out;

  nlohmann::json set = Json(
      "centres policy clean-pixels --accept-burned-in-annotation on --json "
      "--token " +
      server_->operator_token());
  EXPECT_EQ(set["accept_burned_in_annotation"], true) << set;
  EXPECT_FALSE(set["policy_changed_at"].get<std::string>().empty()) << set;

  nlohmann::json centres = Json("centres list --json --token " + server_->operator_token());
  std::map<std::string, bool> accepts;
  for (const auto& c : centres) {
    accepts[c["name"].get<std::string>()] = c["accept_burned_in_annotation"].get<bool>();
  }
  EXPECT_EQ(accepts, (std::map<std::string, bool>{{"clean-pixels", true}, {"other-site", false}}));

  // The accepting centre's next stream stores the instance; the other centre's is still refused.
  nlohmann::json stored = Json("upload " + Quote(dir_ / "clean") + " --json --token " + clean);
  EXPECT_EQ(stored["summary"]["STORED"], 1) << stored;
  CommandResult other_run =
      Shell(server_->Cli("upload " + Quote(dir_ / "other") + " --json --token " + other));
  EXPECT_EQ(other_run.exit_code, 1) << other_run.out;
  EXPECT_NE(other_run.out.find("BURNED_IN_ANNOTATION"), std::string::npos) << other_run.out;
  EXPECT_EQ(other_run.out.find("clean-pixels"), std::string::npos)
      << "another centre's policy is not named to an uploader: " << other_run.out;

  // Lineage: the stored instance says it was accepted under the policy; the stored bytes keep
  // BurnedInAnnotation=YES (dcmdump, an independent reader).
  std::string psql;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql"))
    psql = (e.path() / "bin" / "psql").string();
  CommandResult options = Shell(
      psql + " -X -w -At 'host=" + (server_->data_dir() / "postgres" / "run").string() +
      " dbname=tributary user=tributary' -c 'SELECT m.options FROM instances i JOIN deid_methods m "
      "ON m.id = i.deid_method_id'");
  ASSERT_EQ(options.exit_code, 0) << options.out;
  EXPECT_NE(options.out.find("accepted-burned-in-annotation"), std::string::npos) << options.out;
  int blobs = 0;
  for (const auto& e : fs::recursive_directory_iterator(server_->data_dir() / "blobs" / "sha256")) {
    if (!e.is_regular_file()) continue;
    ++blobs;
    CommandResult dump = Shell("dcmdump -q +P 0028,0301 " + Quote(e.path()));
    EXPECT_NE(dump.out.find("[YES]"), std::string::npos) << dump.out;
  }
  EXPECT_EQ(blobs, 1);

  // Turned off again, the centre's next stream is refused again.
  Json("centres policy clean-pixels --accept-burned-in-annotation off --json --token " +
       server_->operator_token());
  burned(dir_ / "clean-later", "1.2.826.0.1.3680043.2.1125.71.3");
  Json("upload " + Quote(dir_ / "clean-later") + " --json --token " + clean, 1);

  // The audit log has every attempt: the uploader's (refused), the unknown centre's (NOT_FOUND),
  // the operator's on and off; the bad value never left the CLI.
  nlohmann::json audit = Json("audit list --rpc SetCentrePolicy --json --token-file " +
                              Quote(server_->data_dir() / "operator.token"));
  std::multiset<std::string> seen;
  for (const auto& e : audit) {
    seen.insert(e["role"].get<std::string>() + " " + e["outcome"].get<std::string>() + " " +
                e["object"].get<std::string>());
  }
  EXPECT_EQ(seen,
            (std::multiset<std::string>{
                "uploader PERMISSION_DENIED centre=clean-pixels accept_burned_in_annotation=true",
                "operator NOT_FOUND centre=no-such-centre accept_burned_in_annotation=true",
                "operator OK centre=clean-pixels accept_burned_in_annotation=true",
                "operator OK centre=clean-pixels accept_burned_in_annotation=false"}))
      << audit;
}

// The former global switch is refused with the command that replaced it.
TEST(BurnedInAnnotationSwitch, ServerRefusesTheRemovedGlobalFlag) {
  fs::path dir = fs::temp_directory_path() / ("trib_biaswitch_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  ServerProcess server(dir / "data", {"--allow-burned-in-annotation"});
  EXPECT_FALSE(server.Start());
  EXPECT_FALSE(fs::exists(dir / "data" / "deid.key")) << "nothing is made for a refused option";
  EXPECT_NE(ReadFile(server.log())
                .find("tributary centres policy CENTRE "
                      "--accept-burned-in-annotation on"),
            std::string::npos)
      << ReadFile(server.log());
  fs::remove_all(dir);
}

}  // namespace tributary
