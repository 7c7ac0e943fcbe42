#include "cli/convert_command.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "cli/series_inputs.h"
#include "common/parallel.h"
#include "common/verified_file.h"
#include "dicom/series_reader.h"
#include "normalize/diffusion_files.h"
#include "normalize/nifti_io.h"
#include "normalize/sidecar.h"

namespace tributary::cli {
namespace {

namespace fs = std::filesystem;

struct Options {
  std::vector<std::string> inputs;
  std::string out;
  bool no_compress = false;
  bool no_descriptions = false;
  bool json = false;
  bool quiet = false;
  unsigned jobs = 0;
};

struct SeriesOutcome {
  std::string series_uid;
  std::string label;
  std::size_t instances = 0;
  bool ok = false;
  std::string reason;
  std::vector<std::string> outputs;
};

// Text beside the image (sidecar, .bval, .bvec): read back and compared before the rename.
absl::Status WriteText(const fs::path& path, const std::string& text) {
  return WriteFileVerified(path.string(), text).status();
}

absl::Status WriteVolume(const common::Volume& volume, const fs::path& out, const std::string& stem,
                         const std::string& extension, std::vector<std::string>& outputs) {
  fs::path image = out / (stem + extension);
  fs::path partial = out / (stem + ".partial" + extension);
  TRIB_RETURN_IF_ERROR(normalize::WriteNifti(volume, partial.string()));
  // Not reported written before the file reads back whole (every voxel decompressed).
  auto back_size = normalize::ReadNiftiBack(partial.string());
  std::error_code error;
  if (!back_size.ok() || *back_size != volume.size) {
    fs::remove(partial, error);
    return absl::DataLossError(partial.string() + " does not read back" +
                               (back_size.ok() ? " with the volume's size"
                                               : ": " + std::string(back_size.status().message())));
  }
  fs::rename(partial, image, error);
  if (error)
    return absl::InternalError("cannot rename into " + image.string() + ": " + error.message());
  fs::path sidecar = out / (stem + ".json");
  TRIB_RETURN_IF_ERROR(WriteText(sidecar, normalize::SidecarJson(volume)));
  outputs.push_back(image.string());
  outputs.push_back(sidecar.string());
  // Diffusion-weighted 4D: FSL's b-values and b-vectors (in the written image's voxel axes).
  if (std::optional<normalize::FslDiffusionText> diffusion = normalize::FslDiffusion(volume)) {
    fs::path bval = out / (stem + ".bval"), bvec = out / (stem + ".bvec");
    TRIB_RETURN_IF_ERROR(WriteText(bval, diffusion->bval));
    TRIB_RETURN_IF_ERROR(WriteText(bvec, diffusion->bvec));
    outputs.push_back(bval.string());
    outputs.push_back(bvec.string());
  }
  return absl::OkStatus();
}

int Run(const Options& options) {
  std::error_code error;
  fs::create_directories(options.out, error);
  if (error) {
    std::cerr << "tributary convert: cannot create " << options.out << ": " << error.message()
              << "\n";
    return 2;
  }
  bool progress = !options.json && !options.quiet && ::isatty(STDERR_FILENO);
  unsigned threads = options.jobs != 0 ? options.jobs : common::CoreCount();
  SeriesInputs inputs = ReadSeriesInputs(options.inputs, options.out, threads, progress);
  dicom::SeriesReader& reader = inputs.reader;
  std::vector<SkippedFile>& skipped = inputs.skipped;
  std::size_t missing_inputs = inputs.missing_inputs;

  std::string extension = options.no_compress ? ".nii" : ".nii.gz";
  std::vector<std::string> uids = reader.SeriesUids();
  std::vector<SeriesOutcome> outcomes;
  std::set<std::string> stems;
  for (std::size_t s = 0; s < uids.size(); ++s) {
    if (progress)
      std::cerr << "\r\033[Kconverting series [" << s + 1 << "/" << uids.size() << "]"
                << std::flush;
    dicom::SeriesVolumes series = reader.BuildSeries(uids[s]);
    if (options.no_descriptions) DropDescriptions(series);
    SeriesOutcome outcome{series.series_instance_uid,
                          series.label,
                          series.instance_count,
                          series.status.ok(),
                          std::string(series.status.message()),
                          {}};
    for (const common::Volume& volume : series.volumes) {
      std::string stem = normalize::OutputStem(volume);
      for (int n = 2; !stems.insert(stem).second; ++n)
        stem = normalize::OutputStem(volume) + "_" + std::to_string(n);
      absl::Status written = WriteVolume(volume, options.out, stem, extension, outcome.outputs);
      if (!written.ok()) {
        outcome.ok = false;
        outcome.reason = std::string(written.message());
      }
    }
    if (progress) std::cerr << "\r\033[K" << std::flush;
    if (!options.json) {
      std::cout << (outcome.ok ? "converted" : "failed") << "  " << outcome.label << " ("
                << outcome.instances << " instances)";
      if (!outcome.reason.empty()) std::cout << ": " << outcome.reason;
      for (const std::string& output : outcome.outputs) {
        if (output.size() > 5 && output.compare(output.size() - 5, 5, ".json") == 0) continue;
        std::cout << "\n    -> " << output;
      }
      std::cout << "\n" << std::flush;
    }
    outcomes.push_back(std::move(outcome));
  }
  if (progress) std::cerr << "\r\033[K" << std::flush;

  std::size_t converted = 0, failed = 0;
  for (const SeriesOutcome& o : outcomes) (o.ok ? converted : failed)++;
  if (options.json) {
    nlohmann::json report;
    report["series"] = nlohmann::json::array();
    for (const SeriesOutcome& o : outcomes) {
      nlohmann::json entry{{"series_instance_uid", o.series_uid},
                           {"label", o.label},
                           {"instances", o.instances},
                           {"outcome", o.ok ? "converted" : "failed"},
                           {"outputs", o.outputs}};
      if (!o.reason.empty()) entry["reason"] = o.reason;
      report["series"].push_back(entry);
    }
    report["skipped_files"] = nlohmann::json::array();
    for (const SkippedFile& f : skipped)
      report["skipped_files"].push_back({{"path", f.path}, {"reason", f.reason}});
    report["summary"] = {
        {"converted", converted}, {"failed", failed}, {"skipped_files", skipped.size()}};
    std::cout << report.dump(2) << "\n";
  } else {
    if (!options.quiet) {
      for (const SkippedFile& f : skipped)
        std::cout << "skipped  " << f.path << ": " << f.reason << "\n";
    }
    std::cout << converted << " series converted, " << failed << " failed, " << skipped.size()
              << " files skipped\n";
  }
  if (outcomes.empty()) {
    if (!options.json) std::cerr << "tributary convert: no DICOM image series found\n";
    return 1;
  }
  // An input that does not exist is a mistake worth a non-zero exit, like a failed series.
  return failed == 0 && missing_inputs == 0 ? 0 : 1;
}

}  // namespace

void AddConvertCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "convert", "Rebuild volumes from DICOM series and write NIfTI-1 + JSON sidecars (offline)");
  command->add_option("inputs", options->inputs, "DICOM files or folders (searched recursively)")
      ->required();
  command
      ->add_option("--out", options->out,
                   "Output folder: OUT/<protocol>_<series>[suffix].nii.gz + .json")
      ->required();
  command->add_flag("--no-compress", options->no_compress, "Write .nii instead of .nii.gz");
  command->add_flag("--no-descriptions", options->no_descriptions,
                    "Leave ProtocolName and SeriesDescription out of sidecars and name files "
                    "series_<number>[suffix] (free text that can identify on identified input)");
  command->add_flag("--json", options->json, "Print a JSON report instead of text");
  command->add_flag("-q,--quiet", options->quiet,
                    "Print only the per-series outcomes and the summary");
  command->add_option("-j,--jobs", options->jobs,
                      "Threads reading DICOM headers (default: one per core)");
  command->callback([options, &exit_code] { exit_code = Run(*options); });
}

}  // namespace tributary::cli
