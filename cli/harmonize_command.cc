#include "cli/harmonize_command.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/series_inputs.h"
#include "common/hash.h"
#include "common/parallel.h"
#include "harmonize/harmonizer.h"
#include "normalize/nyul_model.h"
#include "normalize/recipe.h"

namespace tributary::cli {
namespace {

namespace fs = std::filesystem;

struct HarmonizeOptions {
  std::vector<std::string> inputs;
  std::string recipe;
  std::string model;
  std::string out;
  bool json = false;
  bool quiet = false;
  bool no_descriptions = false;
  unsigned jobs = 0;
};

struct TrainOptions {
  std::string method = "nyul";
  std::string recipe;
  std::string out;
  std::vector<std::string> inputs;
  bool quiet = false;
  unsigned jobs = 0;
};

nlohmann::json ToJson(const common::Metadata& metadata) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : metadata) {
    out[key] = std::visit([](const auto& v) { return nlohmann::json(v); }, value);
  }
  return out;
}

void PrintSkipped(const std::vector<SkippedFile>& skipped) {
  for (const SkippedFile& f : skipped)
    std::cout << "skipped  " << f.path << ": " << f.reason << "\n";
}

int RunHarmonize(const HarmonizeOptions& options) {
  absl::StatusOr<normalize::Recipe> recipe = normalize::LoadRecipe(options.recipe);
  if (!recipe.ok()) {
    std::cerr << "tributary harmonize: --recipe " << options.recipe << ": "
              << recipe.status().message() << "\n";
    return 2;
  }
  std::optional<normalize::NyulModel> model;
  if (!options.model.empty()) {
    absl::StatusOr<normalize::NyulModel> loaded = normalize::LoadNyulModel(options.model);
    if (!loaded.ok()) {
      std::cerr << "tributary harmonize: --model " << options.model << ": "
                << loaded.status().message() << "\n";
      return 2;
    }
    model = std::move(*loaded);
  }
  absl::StatusOr<harmonize::Harmonizer> harmonizer =
      harmonize::Harmonizer::Create(*recipe, std::move(model));
  if (!harmonizer.ok()) {
    std::cerr << "tributary harmonize: " << harmonizer.status().message() << "\n";
    return 2;
  }
  std::error_code error;
  fs::create_directories(options.out, error);
  if (error) {
    std::cerr << "tributary harmonize: cannot create " << options.out << ": " << error.message()
              << "\n";
    return 2;
  }
  bool progress = !options.json && !options.quiet && ::isatty(STDERR_FILENO);
  unsigned threads = options.jobs != 0 ? options.jobs : common::CoreCount();
  SeriesInputs inputs = ReadSeriesInputs(options.inputs, options.out, threads, progress);

  std::vector<std::string> uids = inputs.reader.SeriesUids();
  std::vector<std::string> stems;
  std::size_t harmonized = 0, failed = 0;
  nlohmann::json series_report = nlohmann::json::array();
  for (std::size_t s = 0; s < uids.size(); ++s) {
    if (progress) {
      std::cerr << "\r\033[Kharmonizing series [" << s + 1 << "/" << uids.size() << "]"
                << std::flush;
    }
    dicom::SeriesVolumes series = inputs.reader.BuildSeries(uids[s]);
    if (options.no_descriptions) DropDescriptions(series);
    // Offline the instances are named by their series; the service names them by blob digest.
    harmonize::SeriesHarmonization result =
        harmonizer->Harmonize(std::move(series), options.out, {series.series_instance_uid}, &stems);
    if (progress) std::cerr << "\r\033[K" << std::flush;
    bool ok = result.status.ok() && !result.derivations.empty();
    (ok ? harmonized : failed)++;
    nlohmann::json entry{{"series_instance_uid", result.series_instance_uid},
                         {"label", result.label},
                         {"instances", series.instance_count},
                         {"outcome", ok ? "harmonized" : "failed"},
                         {"recipe", harmonizer->recipe().name},
                         {"recipe_sha256", harmonizer->recipe_sha256()}};
    if (!result.status.ok()) entry["reason"] = std::string(result.status.message());
    entry["volumes"] = nlohmann::json::array();
    for (const harmonize::Derivation& d : result.derivations) {
      nlohmann::json files = nlohmann::json::array();
      for (const harmonize::OutputFile& f : d.outputs) {
        files.push_back(
            {{"role", f.role}, {"path", f.path.string()}, {"sha256", f.sha256}, {"size", f.size}});
      }
      entry["volumes"].push_back(
          {{"stem", d.stem}, {"outputs", files}, {"qc", ToJson(d.qc)}, {"seconds", d.seconds}});
    }
    if (!options.json) {
      std::cout << (ok ? "harmonized" : "failed") << "  " << result.label << " ("
                << series.instance_count << " instances)";
      if (!result.status.ok()) std::cout << ": " << result.status.message();
      for (const harmonize::Derivation& d : result.derivations) {
        for (const harmonize::OutputFile& f : d.outputs) {
          if (f.role == "nifti" || f.role == "qc") std::cout << "\n    -> " << f.path.string();
        }
      }
      std::cout << "\n" << std::flush;
    }
    series_report.push_back(std::move(entry));
  }
  if (options.json) {
    nlohmann::json report{{"recipe", nlohmann::json::parse(normalize::CanonicalJson(*recipe))},
                          {"recipe_sha256", harmonizer->recipe_sha256()},
                          {"series", series_report}};
    report["skipped_files"] = nlohmann::json::array();
    for (const SkippedFile& f : inputs.skipped)
      report["skipped_files"].push_back({{"path", f.path}, {"reason", f.reason}});
    report["summary"] = {
        {"harmonized", harmonized}, {"failed", failed}, {"skipped_files", inputs.skipped.size()}};
    std::cout << report.dump(2) << "\n";
  } else {
    if (!options.quiet) PrintSkipped(inputs.skipped);
    std::cout << harmonized << " series harmonized, " << failed << " failed, "
              << inputs.skipped.size() << " files skipped\n";
  }
  if (uids.empty()) {
    if (!options.json) std::cerr << "tributary harmonize: no DICOM image series found\n";
    return 1;
  }
  return failed == 0 && inputs.missing_inputs == 0 ? 0 : 1;
}

// The digest that names a training series in the model: SHA-256 over its volume's voxels.
std::string VolumeDigest(const common::Volume& volume) {
  return ToHex(Sha256(
      std::string_view(reinterpret_cast<const char*>(volume.voxels.data()), volume.voxels.size())));
}

int RunTrain(const TrainOptions& options) {
  if (options.method != "nyul") {
    std::cerr << "tributary models train: --method " << options.method
              << ": unknown (the one method is nyul)\n";
    return 2;
  }
  absl::StatusOr<normalize::Recipe> recipe = normalize::LoadRecipe(options.recipe);
  if (!recipe.ok()) {
    std::cerr << "tributary models train: --recipe " << options.recipe << ": "
              << recipe.status().message() << "\n";
    return 2;
  }
  bool progress = !options.quiet && ::isatty(STDERR_FILENO);
  unsigned threads = options.jobs != 0 ? options.jobs : common::CoreCount();
  SeriesInputs inputs = ReadSeriesInputs(options.inputs, "", threads, progress);
  std::vector<common::Volume> volumes;
  std::vector<std::string> digests;
  for (const std::string& uid : inputs.reader.SeriesUids()) {
    dicom::SeriesVolumes series = inputs.reader.BuildSeries(uid);
    if (!series.status.ok() || series.volumes.empty()) {
      std::cout << "skipped  " << series.label << ": "
                << (series.status.ok() ? "no volume" : series.status.message()) << "\n";
      continue;
    }
    std::cout << "training  " << series.label << "\n";
    digests.push_back(VolumeDigest(series.volumes.front()));
    volumes.push_back(std::move(series.volumes.front()));
  }
  if (!options.quiet) PrintSkipped(inputs.skipped);
  absl::StatusOr<normalize::NyulModel> model = harmonize::TrainNyulModel(*recipe, volumes, digests);
  if (!model.ok()) {
    std::cerr << "tributary models train: " << model.status().message() << "\n";
    return 1;
  }
  absl::Status saved = normalize::SaveNyulModel(*model, options.out);
  if (!saved.ok()) {
    std::cerr << "tributary models train: " << saved.message() << "\n";
    return 1;
  }
  std::cout << "model " << normalize::NyulModelDigest(*model) << " (" << volumes.size()
            << " series) -> " << options.out << "\n";
  return 0;
}

}  // namespace

void AddHarmonizeCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<HarmonizeOptions>();
  CLI::App* command = app.add_subcommand(
      "harmonize",
      "Harmonize DICOM series with a recipe: NIfTI + sidecar + QC picture per volume (offline)");
  command->add_option("inputs", options->inputs, "DICOM files or folders (searched recursively)")
      ->required();
  command
      ->add_option("--recipe", options->recipe,
                   "Built-in recipe (ct-default, mr-default, pet-default) or a recipe file")
      ->required();
  command->add_option("--model", options->model,
                      "A Nyul model file (tributary models train): replaces the recipe's "
                      "intensity step");
  command
      ->add_option("--out", options->out,
                   "Output folder: OUT/<protocol>_<series>[suffix].nii.gz, .json, _qc.png")
      ->required();
  command->add_flag("--json", options->json, "Print a JSON report instead of text");
  command->add_flag("-q,--quiet", options->quiet,
                    "Print only the per-series outcomes and the summary");
  command->add_flag("--no-descriptions", options->no_descriptions,
                    "Leave ProtocolName and SeriesDescription out of sidecars and name files "
                    "series_<number>[suffix]");
  command->add_option("-j,--jobs", options->jobs,
                      "Threads reading DICOM headers (default: one per core)");
  command->callback([options, &exit_code] { exit_code = RunHarmonize(*options); });
}

void AddModelsCommand(CLI::App& app, int& exit_code) {
  CLI::App* models = app.add_subcommand("models", "Intensity models (offline: train)");
  models->require_subcommand(1);
  auto options = std::make_shared<TrainOptions>();
  CLI::App* train = models->add_subcommand(
      "train", "Train a Nyul model: each series in the inputs is one training sample");
  train->add_option("--method", options->method, "Model method (nyul)")->default_val("nyul");
  train->add_option("--recipe", options->recipe, "The recipe the model belongs to (name or file)")
      ->required();
  train->add_option("--out", options->out, "Model file to write (JSON; its SHA-256 is its id)")
      ->required();
  train->add_option("inputs", options->inputs, "DICOM files or folders")->required();
  train->add_flag("-q,--quiet", options->quiet, "Print less");
  train->add_option("-j,--jobs", options->jobs, "Threads reading DICOM headers");
  train->callback([options, &exit_code] { exit_code = RunTrain(*options); });
}

}  // namespace tributary::cli
