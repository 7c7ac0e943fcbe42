#include "cli/deidentify_command.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/input_files.h"
#include "common/parallel.h"
#include "common/secret_key.h"
#include "common/verified_file.h"
#include "dicom/deidentifier.h"

namespace tributary::cli {
namespace {

namespace fs = std::filesystem;

struct Options {
  std::vector<std::string> inputs;
  std::string out;
  std::string key_file;
  std::string centre = "local";
  std::string profile = "research";
  std::vector<std::string> options;
  std::string safe_private_file;
  bool allow_burned_in = false;
  bool json = false;
  bool quiet = false;
  unsigned jobs = 0;
};

enum class Outcome { kWritten, kSkipped, kRefused };

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kWritten:
      return "written";
    case Outcome::kSkipped:
      return "skipped";
    case Outcome::kRefused:
      return "refused";
  }
  return "?";
}

struct FileResult {
  std::string input;
  Outcome outcome = Outcome::kRefused;
  std::string output;
  std::string reason;
};

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read: " + std::string(std::strerror(errno)));
  std::string bytes;
  in.seekg(0, std::ios::end);
  bytes.resize(static_cast<std::size_t>(in.tellg()));
  in.seekg(0);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!in) return absl::DataLossError("read error");
  return bytes;
}

absl::StatusOr<std::vector<dicom::SafePrivateTag>> ReadSafePrivateList(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot read safe private list " + path);
  std::vector<dicom::SafePrivateTag> tags;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    unsigned group = 0, element = 0;
    char creator[65] = {0};
    if (std::sscanf(line.c_str(), "%4x,xx%2x,%64[^\n]", &group, &element, creator) != 3 ||
        (group & 1) == 0) {
      return absl::InvalidArgumentError(path + ":" + std::to_string(number) +
                                        ": expected gggg,xxee,Private Creator with an odd group");
    }
    tags.push_back(
        {creator, static_cast<std::uint16_t>(group), static_cast<std::uint8_t>(element)});
  }
  return tags;
}

absl::StatusOr<dicom::DeidPolicy> MakePolicy(const Options& options) {
  TRIB_ASSIGN_OR_RETURN(dicom::DeidPolicy policy,
                        dicom::DeidPolicy::FromNames(options.profile, options.options));
  if (!options.safe_private_file.empty()) {
    auto tags = ReadSafePrivateList(options.safe_private_file);
    if (!tags.ok()) return tags.status();
    policy.safe_private = std::move(*tags);
  }
  return policy;
}

absl::StatusOr<SecretKey> LoadKey(const Options& options) {
  if (!options.key_file.empty()) return SecretKey::FromFile(options.key_file);
  auto key = SecretKey::FromEnvironment();
  if (key.ok()) return key;
  return absl::InvalidArgumentError(
      "no de-identification key: pass --key-file FILE (create one with `tributary keygen --out "
      "FILE`) or set " +
      std::string(SecretKey::kEnvironmentVariable));
}

FileResult ProcessOne(const dicom::Deidentifier& deidentifier, const Options& options,
                      const fs::path& input, std::mutex& outputs_mutex,
                      std::map<std::string, std::string>& outputs) {
  FileResult result;
  result.input = input.string();
  auto bytes = ReadFile(input);
  if (!bytes.ok()) {
    result.reason = std::string(bytes.status().message());
    return result;
  }
  switch (dicom::ProbeDicom(*bytes)) {
    case dicom::DicomKind::kNotDicom:
      result.outcome = Outcome::kSkipped;
      result.reason = "not DICOM";
      return result;
    case dicom::DicomKind::kDicomDir:
      result.outcome = Outcome::kSkipped;
      result.reason = "DICOMDIR (media directory, not an image)";
      return result;
    case dicom::DicomKind::kInstance:
      break;
  }
  dicom::SourcePolicy source;
  source.accept_burned_in_annotation = options.allow_burned_in;
  auto instance = deidentifier.Deidentify(*bytes, options.centre, source);
  if (!instance.ok()) {
    result.reason = std::string(instance.status().message());
    if (dicom::ClassifyRejection(instance.status()) == dicom::Rejection::kBurnedInAnnotation) {
      result.reason +=
          " (--allow-burned-in-annotation accepts such instances once their pixels "
          "have been cleaned)";
    }
    return result;
  }
  fs::path output = fs::path(options.out) / instance->patient_pseudonym /
                    instance->study_instance_uid / instance->series_instance_uid /
                    (instance->sop_instance_uid + ".dcm");
  result.output = output.string();
  {
    std::lock_guard lock(outputs_mutex);
    auto [it, inserted] = outputs.emplace(output.string(), input.string());
    if (!inserted) {
      result.outcome = Outcome::kSkipped;
      result.reason = "same SOP Instance UID as " + it->second + " (duplicate)";
      return result;
    }
  }
  // Through a temporary file that is read back and compared before it is renamed into place:
  // nothing is reported written that did not read back.
  absl::Status written = WriteFileVerified(output.string(), instance->bytes).status();
  if (!written.ok()) {
    result.reason = std::string(written.message());
    return result;
  }
  result.outcome = Outcome::kWritten;
  return result;
}

int Run(const Options& options) {
  auto key = LoadKey(options);
  if (!key.ok()) {
    std::cerr << "tributary deidentify: " << key.status().message() << "\n";
    return 2;
  }
  auto policy = MakePolicy(options);
  if (!policy.ok()) {
    std::cerr << "tributary deidentify: " << policy.status().message() << "\n";
    return 2;
  }
  auto deidentifier = dicom::Deidentifier::Create(std::move(*key), std::move(*policy));
  if (!deidentifier.ok()) {
    std::cerr << "tributary deidentify: " << deidentifier.status().message() << "\n";
    return 2;
  }
  std::vector<FileResult> results;
  std::vector<MissingInput> missing;
  std::vector<fs::path> files = ListInputFiles(options.inputs, options.out, missing);
  for (const MissingInput& m : missing)
    results.push_back({m.path, Outcome::kRefused, "", m.reason});

  std::mutex mutex;
  std::map<std::string, std::string> outputs;
  std::size_t done = 0;
  std::vector<FileResult> processed(files.size());
  bool progress = !options.json && !options.quiet && ::isatty(STDERR_FILENO);
  auto process = [&](std::size_t i) {
    processed[i] = ProcessOne(*deidentifier, options, files[i], mutex, outputs);
    std::lock_guard lock(mutex);
    ++done;
    const FileResult& r = processed[i];
    if (!options.json && !options.quiet) {
      if (progress) std::cerr << "\r\033[K";
      std::cout << OutcomeName(r.outcome) << "  " << r.input;
      if (r.outcome == Outcome::kWritten) std::cout << " -> " << r.output;
      if (!r.reason.empty()) std::cout << ": " << r.reason;
      std::cout << "\n" << std::flush;
    }
    if (progress) std::cerr << "[" << done << "/" << files.size() << "]" << std::flush;
  };
  common::ParallelFor(files.size(), options.jobs != 0 ? options.jobs : common::CoreCount(),
                      process);
  if (progress) std::cerr << "\r\033[K" << std::flush;
  results.insert(results.end(), processed.begin(), processed.end());

  std::size_t written = 0, skipped = 0, refused = 0;
  for (const FileResult& r : results) {
    (r.outcome == Outcome::kWritten   ? written
     : r.outcome == Outcome::kSkipped ? skipped
                                      : refused)++;
  }
  if (options.json) {
    nlohmann::json report;
    report["files"] = nlohmann::json::array();
    for (const FileResult& r : results) {
      nlohmann::json entry{{"input", r.input}, {"outcome", OutcomeName(r.outcome)}};
      if (!r.output.empty() && r.outcome == Outcome::kWritten) entry["output"] = r.output;
      if (!r.reason.empty()) entry["reason"] = r.reason;
      report["files"].push_back(entry);
    }
    report["summary"] = {{"written", written}, {"skipped", skipped}, {"refused", refused}};
    std::cout << report.dump(2) << "\n";
  } else {
    std::cout << written << " written, " << skipped << " skipped, " << refused << " refused\n";
  }
  return refused == 0 ? 0 : 1;
}

}  // namespace

void AddDeidentifyCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "deidentify",
      "De-identify DICOM files per PS3.15 Annex E into a new folder; inputs are never modified");
  command->add_option("inputs", options->inputs, "DICOM files or folders (searched recursively)")
      ->required();
  command
      ->add_option("--out", options->out,
                   "Output folder: OUT/<pseudonym>/<study>/<series>/<sop>.dcm")
      ->required();
  command->add_option(
      "--key-file", options->key_file,
      "Key file from `tributary keygen` (default: $TRIBUTARY_DEID_KEY, 64 hex digits)");
  command
      ->add_option("--centre", options->centre,
                   "Centre name (as the server knows it); pseudonyms and UIDs derive from it")
      ->capture_default_str();
  command
      ->add_option("--profile", options->profile,
                   "basic (no options) or research (basic + retain-modified-dates + "
                   "retain-patient-characteristics)")
      ->capture_default_str();
  command->add_option("--option", options->options,
                      "Add a profile option (repeatable): retain-safe-private, retain-uids, "
                      "retain-device-identity, retain-institution-identity, "
                      "retain-patient-characteristics, retain-full-dates, retain-modified-dates, "
                      "clean-descriptors, clean-structured-content, clean-graphics");
  command->add_option(
      "--safe-private-list", options->safe_private_file,
      "File of private attributes kept by retain-safe-private, one `gggg,xxee,Creator` "
      "a line (replaces the built-in list)");
  command->add_flag(
      "--allow-burned-in-annotation", options->allow_burned_in,
      "Accept instances with BurnedInAnnotation=YES (only for pixels already cleaned)");
  command->add_flag("--json", options->json, "Print a JSON report instead of text");
  command->add_flag("-q,--quiet", options->quiet, "Print only the summary");
  command->add_option("-j,--jobs", options->jobs, "Worker threads (default: one per core)");
  command->callback([options, &exit_code] { exit_code = Run(*options); });
}

}  // namespace tributary::cli
