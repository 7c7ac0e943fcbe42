#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace tributary::harmonize {

// Where harmonized volumes go in a BIDS derivative dataset (BIDS 1.9, as the official validator
// 1.15 reads it): sub-<pseudonym>/ses-<n>/<datatype>/sub-<pseudonym>_ses-<n>[_run-<k>]_<suffix>.
// Plain data in, paths out: no database, no gRPC.

// One output file of a volume, by what the harmonizer named it (<stem>.nii.gz, <stem>.json,
// <stem>.bval, <stem>.bvec, <stem>_qc.png).
struct LayoutFile {
  std::string name;
  std::string sha256;
  std::int64_t size = 0;
};

struct LayoutVolume {
  std::string subject;  // patient pseudonym: BIDS label (letters and digits only)
  std::string centre;
  std::int64_t study_id = 0;
  std::string study_date;  // shifted, YYYY-MM-DD or empty: orders sessions
  std::int64_t derivation_id = 0;
  std::string stem;
  std::string modality;      // DICOM: MR, CT, PT, ...
  std::string sidecar_json;  // the volume's sidecar text (acquisition keys) to pick the suffix
  std::vector<LayoutFile> files;
};

// A file of the tree: a stored blob under its path.
struct PlacedFile {
  std::string path;
  std::string sha256;
  std::int64_t size = 0;
};

struct PlacedVolume {
  std::string subject, session, datatype, suffix;
  std::string image_path;  // the NIfTI's path
  std::string qc_path;     // the QC picture's, or empty
  // Why this suffix: the series' name, or its echo, repetition and inversion times.
  std::string suffix_reason;
  bool bids_ignored = false;  // outside the BIDS standard (CT, PET, undetermined MR contrast)
};

struct Layout {
  std::vector<PlacedFile> files;        // every volume file, images, sidecars, gradients, QC
  std::vector<PlacedVolume> volumes;    // in the order given
  std::vector<std::string> bidsignore;  // lines of .bidsignore for what BIDS does not cover
};

// The BIDS suffix and data type of a harmonized MR, CT or PET volume. MR contrast from the
// series' names (T1/MPRAGE/SPGR..., T2, FLAIR, PD) or else from echo time, repetition time and
// inversion time; diffusion from its gradient files; an MR contrast that neither tells goes to
// "mr-other" (in .bidsignore) rather than under a wrong suffix.
struct BidsName {
  std::string datatype, suffix, reason;
  bool in_standard = true;
};
BidsName NameForVolume(const std::string& modality, const std::string& sidecar_json,
                       bool has_gradients);

// Errors: InvalidArgument for a subject that is no BIDS label or a volume without a NIfTI.
absl::StatusOr<Layout> PlanLayout(const std::vector<LayoutVolume>& volumes);

}  // namespace tributary::harmonize
