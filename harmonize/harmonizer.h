#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/metadata_value.h"
#include "common/status.h"
#include "dicom/series_volumes.h"
#include "normalize/nyul_model.h"
#include "normalize/recipe.h"

namespace tributary::harmonize {

// One file a harmonization wrote, read back and digested before it is reported.
struct OutputFile {
  std::string role;  // "nifti", "sidecar", "qc", "bval", "bvec"
  std::filesystem::path path;
  std::string sha256;
  std::uint64_t size = 0;
};

// What harmonizing one volume produced and how: the plain derivation description that the CLI
// prints and the workers record in provenance.
struct Derivation {
  std::string stem;  // output file names: <stem>.nii.gz, <stem>.json, <stem>_qc.png, ...
  std::string recipe_sha256;
  std::string recipe_json;          // canonical, as given (its SHA-256 is recipe_sha256)
  std::string model_sha256;         // empty without a model
  std::vector<std::string> inputs;  // what the caller named the instances by (digests)
  std::vector<OutputFile> outputs;
  std::map<std::string, std::string> software;  // "tributary", "itk", "dcmtk"
  common::Metadata qc;                          // sizes, spacings, intensity statistics
  std::map<std::string, double> seconds;        // per step
};

// The outcome for one series: one derivation per volume it was rebuilt into.
struct SeriesHarmonization {
  std::string series_instance_uid;
  std::string label;
  absl::Status status;
  std::vector<Derivation> derivations;
};

// One series + a recipe (+ a Nyul model) -> harmonized outputs and their derivation description:
// the one path `tributary harmonize` and the service's workers run. Knows no database and no gRPC.
//
// Steps, in order: the recipe's modality is checked against the volume's; CT: HU clipped and
// PixelPaddingValue masked on the acquired grid (where padding is exact); orientation; spacing;
// MR: foreground mask, optional N4, then z-score, percentile or Nyul; PET: SUVbw. Then the NIfTI
// (.nii.gz, qform = sform), the JSON sidecar (acquisition keys, every parameter, software
// versions, QC metrics), the QC picture and, for diffusion series, .bval/.bvec are written, read
// back and digested.
class Harmonizer {
 public:
  // A model replaces the recipe's intensity step by the model's method (Nyul); the rest of the
  // recipe still applies. Errors: a recipe that names a model the caller did not give.
  static absl::StatusOr<Harmonizer> Create(normalize::Recipe recipe,
                                           std::optional<normalize::NyulModel> model = {});

  // Harmonizes every volume of `series` (from dicom::SeriesReader::BuildSeries) into `out_dir`.
  // `inputs` names the series' instances in the derivation (file or blob digests). Stems already
  // in `used_stems` get a numeric suffix; the new ones are added.
  SeriesHarmonization Harmonize(const dicom::SeriesVolumes& series,
                                const std::filesystem::path& out_dir,
                                const std::vector<std::string>& inputs,
                                std::vector<std::string>* used_stems = nullptr) const;
  // The same on a series the caller gives up: each volume's voxels are freed as soon as its
  // first step has made its own (same outputs, one volume less in memory). `series.volumes` is
  // left unspecified; its other fields are kept.
  SeriesHarmonization Harmonize(dicom::SeriesVolumes&& series,
                                const std::filesystem::path& out_dir,
                                const std::vector<std::string>& inputs,
                                std::vector<std::string>* used_stems = nullptr) const;

  const normalize::Recipe& recipe() const { return recipe_; }
  const std::string& recipe_sha256() const { return recipe_sha256_; }

 private:
  Harmonizer(normalize::Recipe recipe, std::optional<normalize::NyulModel> model);
  // `owned_volumes`, when set, is series.volumes, which the caller gave up.
  SeriesHarmonization HarmonizeSeries(const dicom::SeriesVolumes& series,
                                      std::vector<common::Volume>* owned_volumes,
                                      const std::filesystem::path& out_dir,
                                      const std::vector<std::string>& inputs,
                                      std::vector<std::string>* used_stems) const;

  normalize::Recipe recipe_;  // as applied: a model's method replaces the intensity step
  std::string recipe_json_;   // the recipe as given, canonical
  std::string recipe_sha256_;
  std::optional<normalize::NyulModel> model_;
};

// Trains a Nyul model for `recipe` on the first volume of each series (each series one training
// sample): the recipe's geometry, then its foreground mask (and N4 when it asks for it).
// `digests` names each series in the model. Refuses fewer than two series.
absl::StatusOr<normalize::NyulModel> TrainNyulModel(const normalize::Recipe& recipe,
                                                    const std::vector<common::Volume>& series,
                                                    const std::vector<std::string>& digests);

}  // namespace tributary::harmonize
