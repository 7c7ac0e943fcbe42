// harmonize::NameForVolume and PlanLayout. Expected suffixes come from the BIDS 1.9 suffix table
// (T1w: short TR and TE, or an inversion-prepared gradient echo such as MP-RAGE; T2w: long TR and
// TE; PDw: short TE, long TR; FLAIR: T2-FLAIR, fluid nulled by the inversion, long TR and TE;
// T2starw: gradient echo weighted by T2*), series names as the scanners write them, and timing in
// seconds as BIDS sidecars give it. Paths follow the BIDS entity order sub, ses, run, suffix.
#include "harmonize/bids_layout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace tributary::harmonize {
namespace {

struct NameCase {
  const char* what;
  const char* modality;
  const char* sidecar;
  bool gradients;
  const char* datatype;
  const char* suffix;
  bool in_standard;
};

const NameCase kNameCases[] = {
    // Series names as scanners write them.
    {"Siemens MPRAGE", "MR",
     R"({"ProtocolName":"t1_mprage_sag_p2","SeriesDescription":"t1_mprage_sag_p2"})", false, "anat",
     "T1w", true},
    {"GE BRAVO (IR-prepared FSPGR)", "MR", R"({"SeriesDescription":"Sag 3D BRAVO"})", false, "anat",
     "T1w", true},
    {"Philips T2 TSE", "MR", R"({"ProtocolName":"T2W_TSE","SeriesDescription":"T2W_TSE"})", false,
     "anat", "T2w", true},
    {"GE axial FLAIR", "MR", R"({"SeriesDescription":"AX FLAIR"})", false, "anat", "FLAIR", true},
    {"proton density TSE", "MR", R"({"ProtocolName":"PD_TSE"})", false, "anat", "PDw", true},
    {"Siemens SWI", "MR", R"({"ProtocolName":"t2_swi","SeriesDescription":"t2_swi"})", false,
     "anat", "T2starw", true},
    {"Siemens SWI, magnitude series", "MR",
     R"({"ProtocolName":"t2_swi_tra_p2","SeriesDescription":"SWI_Images"})", false, "anat",
     "T2starw", true},
    // Siemens names its T2-FLAIR "dark-fluid" (turbo inversion recovery).
    {"Siemens FLAIR", "MR",
     R"({"ProtocolName":"t2_tirm_tra_dark-fluid","SeriesDescription":"t2_tirm_tra_dark-fluid"})",
     false, "anat", "FLAIR", true},
    // GE's T1 FLAIR is T1-weighted (TE ~10 ms, TI ~0.8 s): BIDS' FLAIR is the T2-FLAIR only.
    {"GE T1 FLAIR", "MR",
     R"({"SeriesDescription":"Ax T1 FLAIR","EchoTime":0.0098,"RepetitionTime":2.1,)"
     R"("InversionTime":0.86})",
     false, "anat", "T1w", true},
    {"Philips SENSE T1 TFE", "MR", R"({"ProtocolName":"sT1W_3D_TFE"})", false, "anat", "T1w", true},
    {"Philips SENSE T2 TSE", "MR", R"({"SeriesDescription":"sT2W_TSE"})", false, "anat", "T2w",
     true},
    // Names say nothing: the timing (seconds) decides.
    {"spin echo, short TE and TR", "MR",
     R"({"SeriesDescription":"Ax SE","EchoTime":0.012,"RepetitionTime":0.5})", false, "anat", "T1w",
     true},
    {"MP-RAGE timing (TI 0.9 s)", "MR",
     R"({"EchoTime":0.00298,"RepetitionTime":2.3,"InversionTime":0.9})", false, "anat", "T1w",
     true},
    {"spin echo, long TE and TR", "MR", R"({"EchoTime":0.1,"RepetitionTime":4.0})", false, "anat",
     "T2w", true},
    {"inversion recovery, long TE, TR and TI", "MR",
     R"({"EchoTime":0.125,"RepetitionTime":9.0,"InversionTime":2.5})", false, "anat", "FLAIR",
     true},
    {"short TE, long TR", "MR", R"({"EchoTime":0.015,"RepetitionTime":3.0})", false, "anat", "PDw",
     true},
    {"intermediate TE", "MR", R"({"EchoTime":0.045,"RepetitionTime":2.5})", false, "mr-other", "mr",
     false},
    {"no name, no timing", "MR", R"({"Manufacturer":"GE"})", false, "mr-other", "mr", false},
    {"sidecar not JSON", "MR", "not json", false, "mr-other", "mr", false},
    // Not anatomy.
    {"time series without gradients", "MR",
     R"({"SeriesDescription":"resting state","EchoTime":0.03,"RepetitionTime":2.0,)"
     R"("TributaryReconstruction":{"Dimensions":[64,64,36,40]}})",
     false, "mr-other", "mr", false},
    {"time series named T1", "MR",
     R"({"SeriesDescription":"t1_dynamic","TributaryReconstruction":{"Dimensions":[64,64,36,40]}})",
     false, "mr-other", "mr", false},
    {"one-volume 4D is a volume", "MR",
     R"({"SeriesDescription":"t1_mprage","TributaryReconstruction":{"Dimensions":[176,256,256,1]}})",
     false, "anat", "T1w", true},
    {"3D volume", "MR",
     R"({"SeriesDescription":"T2W_TSE","TributaryReconstruction":{"Dimensions":[256,256,30]}})",
     false, "anat", "T2w", true},
    {"echo planar without gradients", "MR",
     R"({"ProtocolName":"ep2d_bold","ScanningSequence":"EP","EchoTime":0.03,)"
     R"("RepetitionTime":2.0})",
     false, "mr-other", "mr", false},
    {"echo planar spin echo without gradients", "MR",
     R"({"ProtocolName":"t2_ep2d","ScanningSequence":"SE\\EP"})", false, "mr-other", "mr", false},
    {"diffusion with gradients", "MR",
     R"({"ProtocolName":"ep2d_diff_mddw_30","ScanningSequence":"EP",)"
     R"("TributaryReconstruction":{"Dimensions":[128,128,60,31]}})",
     true, "dwi", "dwi", true},
    {"CT", "CT", R"({"SeriesDescription":"T1 HEAD"})", false, "ct", "ct", false},
    {"PET", "PT", R"({"SeriesDescription":"PET AC"})", false, "pet", "pet", false},
};

TEST(NameForVolume, SuffixTable) {
  for (const NameCase& c : kNameCases) {
    BidsName name = NameForVolume(c.modality, c.sidecar, c.gradients);
    EXPECT_EQ(name.datatype, c.datatype) << c.what << ": " << name.reason;
    EXPECT_EQ(name.suffix, c.suffix) << c.what << ": " << name.reason;
    EXPECT_EQ(name.in_standard, c.in_standard) << c.what;
    EXPECT_FALSE(name.reason.empty()) << c.what;
  }
}

// The reason quotes what decided: the whole series name, or the timing in milliseconds.
TEST(NameForVolume, ReasonSaysWhatDecided) {
  struct Case {
    const char* sidecar;
    const char* reason;
  };
  const Case kCases[] = {
      {R"({"SeriesDescription":"Sag 3D BRAVO"})", "'sag 3d bravo'"},
      {R"({"ProtocolName":"T2W_TSE"})", "'t2w_tse'"},
      {R"({"ProtocolName":"t2_tirm_tra","SeriesDescription":"AX FLAIR"})",
       "'t2_tirm_tra ax flair'"},
      {R"({"EchoTime":0.1,"RepetitionTime":4.0})", "EchoTime 100 ms, RepetitionTime 4000 ms"},
  };
  for (const Case& c : kCases) {
    std::string reason = NameForVolume("MR", c.sidecar, false).reason;
    EXPECT_NE(reason.find(c.reason), std::string::npos) << c.sidecar << ": " << reason;
  }
}

// Files of a volume as the harmonizer names them, with made-up digests.
std::vector<LayoutFile> Files(const std::string& stem, const std::vector<std::string>& endings) {
  std::vector<LayoutFile> files;
  for (const std::string& e : endings)
    files.push_back({stem + e, std::string(63, 'a') + std::to_string(files.size()), 100});
  return files;
}

LayoutVolume Volume(const std::string& subject, std::int64_t study, const std::string& date,
                    std::int64_t derivation, const std::string& stem, const std::string& modality,
                    const std::string& series_name, std::vector<std::string> endings) {
  LayoutVolume v;
  v.subject = subject;
  v.centre = "north";
  v.study_id = study;
  v.study_date = date;
  v.derivation_id = derivation;
  v.stem = stem;
  v.modality = modality;
  v.sidecar_json = R"({"SeriesDescription":")" + series_name + R"("})";
  v.files = Files(stem, endings);
  return v;
}

const std::vector<std::string> kImage = {".nii.gz", ".json", "_qc.png"};

struct Placed {
  const char* image_path;
  const char* qc_path;
  const char* session;
};

TEST(PlanLayout, SessionsInDateOrderAndRunsOnlyOnCollisions) {
  // Subject A: study 7 (2021) is given first but is the later session; in study 3 two T1w
  // collide (derivations 9 then 4: run-1 is derivation 4) and a T2w does not.
  std::vector<LayoutVolume> volumes = {
      Volume("TRBA", 7, "2021-03-01", 2, "vol", "MR", "t1_mprage", kImage),
      Volume("TRBA", 3, "2020-01-15", 9, "vol", "MR", "t1_mprage", kImage),
      Volume("TRBA", 3, "2020-01-15", 4, "vol", "MR", "Sag 3D BRAVO", kImage),
      Volume("TRBA", 3, "2020-01-15", 4, "vol_2", "MR", "T2W_TSE", kImage),
      Volume("TRBB", 8, "2019-06-30", 5, "vol", "MR", "t1_mprage", kImage),
      Volume("TRBB", 8, "2019-06-30", 6, "dwi", "MR", "ep2d_diff",
             {".nii.gz", ".json", ".bval", ".bvec", "_qc.png"}),
      Volume("TRBB", 8, "2019-06-30", 7, "ct", "CT", "HEAD", {".nii.gz", ".json"}),
  };
  const Placed kExpected[] = {
      {"sub-TRBA/ses-2/anat/sub-TRBA_ses-2_T1w.nii.gz", "qc/sub-TRBA_ses-2_T1w_qc.png", "2"},
      {"sub-TRBA/ses-1/anat/sub-TRBA_ses-1_run-2_T1w.nii.gz", "qc/sub-TRBA_ses-1_run-2_T1w_qc.png",
       "1"},
      {"sub-TRBA/ses-1/anat/sub-TRBA_ses-1_run-1_T1w.nii.gz", "qc/sub-TRBA_ses-1_run-1_T1w_qc.png",
       "1"},
      {"sub-TRBA/ses-1/anat/sub-TRBA_ses-1_T2w.nii.gz", "qc/sub-TRBA_ses-1_T2w_qc.png", "1"},
      {"sub-TRBB/ses-1/anat/sub-TRBB_ses-1_T1w.nii.gz", "qc/sub-TRBB_ses-1_T1w_qc.png", "1"},
      {"sub-TRBB/ses-1/dwi/sub-TRBB_ses-1_dwi.nii.gz", "qc/sub-TRBB_ses-1_dwi_qc.png", "1"},
      {"sub-TRBB/ses-1/ct/sub-TRBB_ses-1_ct.nii.gz", "", "1"},
  };
  auto layout = PlanLayout(volumes);
  ASSERT_TRUE(layout.ok()) << layout.status();
  ASSERT_EQ(layout->volumes.size(), std::size(kExpected));
  for (std::size_t i = 0; i < std::size(kExpected); ++i) {
    EXPECT_EQ(layout->volumes[i].image_path, kExpected[i].image_path) << i;
    EXPECT_EQ(layout->volumes[i].qc_path, kExpected[i].qc_path) << i;
    EXPECT_EQ(layout->volumes[i].session, kExpected[i].session) << i;
  }
  EXPECT_TRUE(layout->volumes[6].bids_ignored);
  EXPECT_FALSE(layout->volumes[5].bids_ignored);

  // Every file, sorted by path, each blob under exactly one path.
  const std::vector<std::string> kPaths = {
      "qc/sub-TRBA_ses-1_T2w_qc.png",
      "qc/sub-TRBA_ses-1_run-1_T1w_qc.png",
      "qc/sub-TRBA_ses-1_run-2_T1w_qc.png",
      "qc/sub-TRBA_ses-2_T1w_qc.png",
      "qc/sub-TRBB_ses-1_T1w_qc.png",
      "qc/sub-TRBB_ses-1_dwi_qc.png",
      "sub-TRBA/ses-1/anat/sub-TRBA_ses-1_T2w.json",
      "sub-TRBA/ses-1/anat/sub-TRBA_ses-1_T2w.nii.gz",
      "sub-TRBA/ses-1/anat/sub-TRBA_ses-1_run-1_T1w.json",
      "sub-TRBA/ses-1/anat/sub-TRBA_ses-1_run-1_T1w.nii.gz",
      "sub-TRBA/ses-1/anat/sub-TRBA_ses-1_run-2_T1w.json",
      "sub-TRBA/ses-1/anat/sub-TRBA_ses-1_run-2_T1w.nii.gz",
      "sub-TRBA/ses-2/anat/sub-TRBA_ses-2_T1w.json",
      "sub-TRBA/ses-2/anat/sub-TRBA_ses-2_T1w.nii.gz",
      "sub-TRBB/ses-1/anat/sub-TRBB_ses-1_T1w.json",
      "sub-TRBB/ses-1/anat/sub-TRBB_ses-1_T1w.nii.gz",
      "sub-TRBB/ses-1/ct/sub-TRBB_ses-1_ct.json",
      "sub-TRBB/ses-1/ct/sub-TRBB_ses-1_ct.nii.gz",
      "sub-TRBB/ses-1/dwi/sub-TRBB_ses-1_dwi.bval",
      "sub-TRBB/ses-1/dwi/sub-TRBB_ses-1_dwi.bvec",
      "sub-TRBB/ses-1/dwi/sub-TRBB_ses-1_dwi.json",
      "sub-TRBB/ses-1/dwi/sub-TRBB_ses-1_dwi.nii.gz",
  };
  std::vector<std::string> paths;
  for (const PlacedFile& f : layout->files) paths.push_back(f.path);
  EXPECT_EQ(paths, kPaths);
  // The derivation-4 BRAVO's image keeps its own blob under run-1.
  for (const PlacedFile& f : layout->files) {
    if (f.path == "sub-TRBA/ses-1/anat/sub-TRBA_ses-1_run-1_T1w.nii.gz") {
      EXPECT_EQ(f.sha256, volumes[2].files[0].sha256);
    }
  }
  EXPECT_EQ(layout->bidsignore, (std::vector<std::string>{"sub-*/ses-*/ct/", "qc/"}));
}

TEST(PlanLayout, BidsIgnoreListsEveryFolderOutsideTheStandard) {
  struct Case {
    const char* what;
    std::vector<LayoutVolume> volumes;
    std::vector<std::string> bidsignore;
  };
  const Case kCases[] = {
      {"anatomy only", {Volume("TRBA", 1, "2020-01-01", 1, "v", "MR", "T2W_TSE", kImage)}, {"qc/"}},
      {"CT, PET and undetermined MR",
       {Volume("TRBA", 1, "2020-01-01", 1, "v", "PT", "PET AC", kImage),
        Volume("TRBA", 1, "2020-01-01", 2, "v", "MR", "localizer", kImage),
        Volume("TRBA", 1, "2020-01-01", 3, "v", "CT", "HEAD", kImage),
        Volume("TRBA", 1, "2020-01-01", 4, "w", "CT", "HEAD", kImage)},
       {"sub-*/ses-*/ct/", "sub-*/ses-*/mr-other/", "sub-*/ses-*/pet/", "qc/"}},
  };
  for (const Case& c : kCases) {
    auto layout = PlanLayout(c.volumes);
    ASSERT_TRUE(layout.ok()) << c.what << ": " << layout.status();
    std::vector<std::string> got = layout->bidsignore;
    std::vector<std::string> want = c.bidsignore;
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << c.what;
  }
}

TEST(PlanLayout, RefusesWhatCannotBePlaced) {
  struct Case {
    const char* what;
    LayoutVolume volume;
    const char* message;
  };
  const Case kCases[] = {
      {"hyphen in subject", Volume("TRB-1", 1, "", 1, "v", "MR", "T2W_TSE", kImage), "TRB-1"},
      {"underscore in subject", Volume("TRB_1", 1, "", 1, "v", "MR", "T2W_TSE", kImage), "TRB_1"},
      {"empty subject", Volume("", 1, "", 1, "v", "MR", "T2W_TSE", kImage), "no BIDS label"},
      {"sub- prefix given", Volume("sub-A", 1, "", 1, "v", "MR", "T2W_TSE", kImage), "sub-A"},
      {"no NIfTI", Volume("TRBA", 1, "", 1, "v", "MR", "T2W_TSE", {".json", "_qc.png"}), "v"},
      {"NIfTI of another stem", Volume("TRBA", 1, "", 1, "v", "MR", "T2W_TSE", {".json"}), "NIfTI"},
  };
  for (const Case& c : kCases) {
    std::vector<LayoutVolume> volumes = {
        Volume("TRBOK", 1, "2020-01-01", 1, "ok", "MR", "T2W_TSE", kImage), c.volume};
    if (std::string(c.what) == "NIfTI of another stem")
      volumes[1].files.push_back({"other.nii.gz", std::string(64, 'b'), 1});
    auto layout = PlanLayout(volumes);
    EXPECT_EQ(layout.status().code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_NE(std::string(layout.status().message()).find(c.message), std::string::npos)
        << c.what << ": " << layout.status();
  }
}

}  // namespace
}  // namespace tributary::harmonize
