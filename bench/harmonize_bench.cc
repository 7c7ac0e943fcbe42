// Harmonizing one CT series with the built-in `ct-default` recipe: Tributary's steps timed one by
// one and as the whole Harmonizer path, against the bare ITK filters doing the same steps, and
// `tributary harmonize` against a researcher's nibabel + scipy script (bench/harmonize_peer.py),
// wall time and peak RSS of each process (wait4). Before timing, the three outputs are compared
// (shape, affine, voxel values). Prints figures; decides nothing (docs/BENCHMARKS.md).
//
//   bench_harmonize [--rounds N] [--python PATH] [--keep DIR] DICOM_FOLDER
//
// Every round runs every measurement once, in turn, so a slow spell of the shared machine hits
// each alike; figures are medians over the rounds.
#include <itkClampImageFilter.h>
#include <itkImage.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkNiftiImageIO.h>
#include <itkOrientImageFilter.h>
#include <itkRecursiveGaussianImageFilter.h>
#include <itkResampleImageFilter.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/parallel.h"
#include "common/volume.h"
#include "dicom/series_reader.h"
#include "harmonize/harmonizer.h"
#include "normalize/ct_intensity.h"
#include "normalize/grid.h"
#include "normalize/nifti_io.h"
#include "normalize/qc_picture.h"
#include "normalize/recipe.h"
#include "normalize/reorientation.h"
#include "normalize/resampling.h"
#include "normalize/sidecar.h"

namespace {

namespace fs = std::filesystem;
using tributary::common::Volume;
namespace normalize = tributary::normalize;

using Image = itk::Image<float, 3>;
using Stages = std::map<std::string, double>;  // stage -> seconds

constexpr double kMinHu = -1024;
constexpr double kMaxHu = 3071;
constexpr std::array<double, 3> kTargetMm = {1, 1, 1};

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "bench_harmonize: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) Fail(std::string(what) + ": " + std::string(value.status().message()));
  return std::move(*value);
}

void Must(const absl::Status& status, const char* what) {
  if (!status.ok()) Fail(std::string(what) + ": " + std::string(status.message()));
}

std::vector<std::string> DicomFiles(const fs::path& folder) {
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    if (entry.is_regular_file()) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

tributary::dicom::SeriesVolumes ReadSeries(const std::vector<std::string>& files) {
  tributary::dicom::SeriesReader reader;
  reader.AddFiles(files, tributary::common::CoreCount());
  std::vector<std::string> uids = reader.SeriesUids();
  if (uids.size() != 1) Fail("expected one series in the input folder");
  tributary::dicom::SeriesVolumes series = reader.BuildSeries(uids.front());
  if (!series.status.ok() || series.volumes.size() != 1) Fail("the series does not build one volume");
  return series;
}

// Tributary's steps one by one, as harmonize/harmonizer.cc runs them for ct-default.
Stages TributaryStages(const std::vector<std::string>& files, const fs::path& out) {
  Stages s;
  fs::create_directories(out);
  double t0 = Now();
  tributary::dicom::SeriesVolumes series = ReadSeries(files);
  double t1 = Now();
  normalize::CtIntensityOptions ct{kMinHu, kMaxHu, true, kMinHu};
  Volume v = Must(normalize::NormalizeCt(series.volumes.front(), ct), "ct clip");
  double t2 = Now();
  v = Must(normalize::ReorientLossless(v), "orientation");
  double t3 = Now();
  v = Must(normalize::ResampleToSpacing(v, kTargetMm, normalize::Interpolator::kLinear, true, kMinHu),
           "resampling");
  double t4 = Now();
  ct.mask_padding = false;
  v = Must(normalize::NormalizeCt(v, ct), "intensity");
  double t5 = Now();
  Must(normalize::WriteNifti(v, (out / "stages.nii.gz").string()), "write");
  double t6 = Now();
  {
    std::ofstream json(out / "stages.json");
    json << normalize::SidecarJson(v);
  }
  double t7 = Now();
  Must(normalize::WriteQcPicture(v, (out / "stages_qc.png").string()), "qc");
  double t8 = Now();
  s = {{"1 read/rebuild", t1 - t0}, {"2 CT clip", t2 - t1},     {"3 orientation", t3 - t2},
       {"4 resampling", t4 - t3},   {"5 intensity", t5 - t4},  {"6 NIfTI write", t6 - t5},
       {"7 sidecar", t7 - t6},      {"8 QC picture", t8 - t7}, {"total", t8 - t0}};
  return s;
}

// The real path: read/rebuild, then Harmonizer::Harmonize (all steps, outputs read back and
// digested). Returns the path of the NIfTI it wrote.
Stages TributaryHarmonizer(const std::vector<std::string>& files,
                           const tributary::harmonize::Harmonizer& harmonizer, const fs::path& out,
                           fs::path* nifti) {
  fs::remove_all(out);
  double t0 = Now();
  tributary::dicom::SeriesVolumes series = ReadSeries(files);
  double t1 = Now();
  tributary::harmonize::SeriesHarmonization result =
      harmonizer.Harmonize(series, out, {series.series_instance_uid});
  double t2 = Now();
  Must(result.status, "harmonize");
  for (const auto& f : result.derivations.front().outputs) {
    if (f.role == "nifti" && nifti) *nifti = f.path;
  }
  return {{"1 read/rebuild", t1 - t0}, {"harmonize", t2 - t1}, {"total", t2 - t0}};
}

template <typename Filter>
Image::Pointer Run(typename Filter::Pointer filter) {
  filter->Update();
  Image::Pointer out = filter->GetOutput();
  out->DisconnectPipeline();
  return out;
}

Volume HeaderOf(const Image* image) {
  Volume v;
  for (unsigned d = 0; d < 3; ++d) {
    v.size[d] = image->GetLargestPossibleRegion().GetSize()[d];
    v.spacing[d] = image->GetSpacing()[d];
    v.origin[d] = image->GetOrigin()[d];
    for (unsigned c = 0; c < 3; ++c) v.direction[3 * d + c] = image->GetDirection()[d][c];
  }
  return v;
}

Image::Pointer Clamp(Image::Pointer input) {
  auto clamp = itk::ClampImageFilter<Image, Image>::New();
  clamp->SetInput(input);
  clamp->SetBounds(kMinHu, kMaxHu);
  return Run<itk::ClampImageFilter<Image, Image>>(clamp);
}

// The bare ITK filters doing the same steps on the converted .nii.
Stages ItkStages(const fs::path& converted, const fs::path& output) {
  Stages s;
  double t0 = Now();
  auto reader = itk::ImageFileReader<Image>::New();
  reader->SetImageIO(itk::NiftiImageIO::New());
  reader->SetFileName(converted.string());
  Image::Pointer image = Run<itk::ImageFileReader<Image>>(reader);
  double t1 = Now();
  image = Clamp(image);
  double t2 = Now();
  auto orient = itk::OrientImageFilter<Image, Image>::New();
  orient->SetInput(image);
  orient->UseImageDirectionOn();
  // ITK names orientations by where the axes come from: LPI is NIfTI's RAS+.
  orient->SetDesiredCoordinateOrientation(
      itk::SpatialOrientation::ITK_COORDINATE_ORIENTATION_LPI);
  image = Run<itk::OrientImageFilter<Image, Image>>(orient);
  double t3 = Now();
  // The same grid and sigmas as Tributary's resampling (normalize/grid.h, resampling.h).
  Volume header = HeaderOf(image);
  std::array<double, 3> sigmas = normalize::AntiAliasSigmas(header.spacing, kTargetMm);
  normalize::Grid grid = normalize::CentredGrid(header, kTargetMm);
  // SmoothingRecursiveGaussianImageFilter refuses a zero sigma ("Sigma must be greater than
  // zero") and smooths every axis; the z axis is upsampled, so run its per-axis component, the
  // recursive Gaussian, on the downsampled axes only.
  for (unsigned axis = 0; axis < 3; ++axis) {
    if (sigmas[axis] <= 0) continue;
    auto gauss = itk::RecursiveGaussianImageFilter<Image, Image>::New();
    gauss->SetInput(image);
    gauss->SetDirection(axis);
    gauss->SetSigma(sigmas[axis]);
    gauss->SetOrder(itk::GaussianOrderEnum::ZeroOrder);
    gauss->SetNormalizeAcrossScale(false);
    image = Run<itk::RecursiveGaussianImageFilter<Image, Image>>(gauss);
  }
  auto resample = itk::ResampleImageFilter<Image, Image, double>::New();
  resample->SetInput(image);
  resample->SetInterpolator(itk::LinearInterpolateImageFunction<Image, double>::New());
  Image::SizeType size;
  Image::SpacingType spacing;
  Image::PointType origin;
  Image::DirectionType direction;
  for (unsigned r = 0; r < 3; ++r) {
    size[r] = grid.size[r];
    spacing[r] = grid.spacing[r];
    origin[r] = grid.origin[r];
    for (unsigned c = 0; c < 3; ++c) direction[r][c] = grid.direction[3 * r + c];
  }
  resample->SetSize(size);
  resample->SetOutputSpacing(spacing);
  resample->SetOutputOrigin(origin);
  resample->SetOutputDirection(direction);
  resample->SetDefaultPixelValue(kMinHu);
  image = Run<itk::ResampleImageFilter<Image, Image, double>>(resample);
  double t4 = Now();
  image = Clamp(image);
  double t5 = Now();
  auto writer = itk::ImageFileWriter<Image>::New();
  writer->SetImageIO(itk::NiftiImageIO::New());
  writer->SetFileName(output.string());
  writer->SetInput(image);
  writer->Update();
  double t6 = Now();
  s = {{"1 read/rebuild", t1 - t0}, {"2 CT clip", t2 - t1},    {"3 orientation", t3 - t2},
       {"4 resampling", t4 - t3},   {"5 intensity", t5 - t4}, {"6 NIfTI write", t6 - t5},
       {"total", t6 - t0}};
  return s;
}

struct Process {
  double seconds = 0;
  long peak_rss_kib = 0;
  int exit_code = -1;
};

Process RunProcess(const std::vector<std::string>& argv, const fs::path& stdout_file) {
  Process p;
  std::fflush(stdout);
  double start = Now();
  pid_t pid = ::fork();
  if (pid == 0) {
    std::FILE* f = std::freopen(stdout_file.c_str(), "w", stdout);
    (void)f;
    f = std::freopen("/dev/null", "w", stderr);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::_Exit(127);
  }
  int status = 0;
  struct rusage usage {};
  ::wait4(pid, &status, 0, &usage);
  p.seconds = Now() - start;
  p.peak_rss_kib = usage.ru_maxrss;
  p.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return p;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

fs::path FindFile(const fs::path& folder, const std::string& suffix) {
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    std::string name = entry.path().filename().string();
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        name.find(".partial.") == std::string::npos)
      return entry.path();
  }
  Fail("no " + suffix + " in " + folder.string());
}

// Shape, affine (mm) and voxel values of `b` against `a`.
void Compare(const std::string& label, const fs::path& a_path, const fs::path& b_path) {
  Volume a = Must(normalize::ReadNifti(a_path.string()), "read back");
  Volume b = Must(normalize::ReadNifti(b_path.string()), "read back");
  if (a.size != b.size) {
    std::printf("  %-34s shape differs: %zux%zux%zu against %zux%zux%zu\n", label.c_str(),
                b.size[0], b.size[1], b.size[2], a.size[0], a.size[1], a.size[2]);
    return;
  }
  double affine = 0;
  for (int r = 0; r < 3; ++r) {
    affine = std::max(affine, std::abs(a.origin[r] - b.origin[r]));
    for (int c = 0; c < 3; ++c) {
      affine = std::max(affine, std::abs(a.direction[3 * r + c] * a.spacing[c] -
                                         b.direction[3 * r + c] * b.spacing[c]));
    }
  }
  const float* x = reinterpret_cast<const float*>(a.voxels.data());
  const float* y = reinterpret_cast<const float*>(b.voxels.data());
  std::vector<double> diff(a.VoxelCount());
  double sum = 0;
  for (std::size_t i = 0; i < diff.size(); ++i) {
    diff[i] = std::abs(static_cast<double>(x[i]) - y[i]);
    sum += diff[i];
  }
  std::sort(diff.begin(), diff.end());
  auto at = [&](double q) { return diff[static_cast<std::size_t>(q * (diff.size() - 1))]; };
  std::size_t above_1 = diff.end() - std::upper_bound(diff.begin(), diff.end(), 1.0);
  std::printf(
      "  %-34s shape %zux%zux%zu same; affine max diff %.2g mm; |HU diff| max %.4g, p99.9 %.3g, "
      "p99 %.3g, mean %.3g; %.4f%% of voxels > 1 HU\n",
      label.c_str(), a.size[0], a.size[1], a.size[2], affine, diff.back(), at(0.999), at(0.99),
      sum / diff.size(), 100.0 * above_1 / diff.size());
}

void PrintStages(const std::vector<std::pair<std::string, std::vector<Stages>>>& sides) {
  std::vector<std::string> names;
  for (const auto& [side, rounds] : sides) {
    for (const auto& [name, seconds] : rounds.front()) {
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  std::printf("%-18s", "stage (median s)");
  for (const auto& [side, rounds] : sides) std::printf(" %14s", side.c_str());
  std::printf(" %10s\n", "ratio 1/2");
  for (const std::string& name : names) {
    std::printf("%-18s", name.c_str());
    std::vector<double> medians;
    for (const auto& [side, rounds] : sides) {
      std::vector<double> values;
      for (const Stages& s : rounds) {
        auto it = s.find(name);
        if (it != s.end()) values.push_back(it->second);
      }
      medians.push_back(values.empty() ? -1 : Median(values));
      if (values.empty()) {
        std::printf(" %14s", "-");
      } else {
        std::printf(" %14.4f", medians.back());
      }
    }
    if (medians.size() >= 2 && medians[0] > 0 && medians[1] > 0) {
      std::printf(" %9.2fx", medians[0] / medians[1]);
    }
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  std::string python = "/usr/bin/python3";
  std::string keep;
  std::string folder;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--python" && i + 1 < argc) {
      python = argv[++i];
    } else if (arg == "--keep" && i + 1 < argc) {
      keep = argv[++i];
    } else {
      folder = arg;
    }
  }
  if (folder.empty()) {
    std::fprintf(stderr,
                 "usage: bench_harmonize [--rounds N] [--python PATH] [--keep DIR] DICOM_FOLDER\n");
    return 2;
  }
  fs::path scratch = keep.empty() ? fs::temp_directory_path() /
                                        ("bench_harmonize_" + std::to_string(::getpid()))
                                  : fs::path(keep);
  fs::remove_all(scratch);
  fs::create_directories(scratch);
  const std::vector<std::string> files = DicomFiles(folder);

  // The converted NIfTI the ITK pipeline and the script start from.
  Process convert = RunProcess(
      {TRIBUTARY_CLI, "convert", folder, "--out", (scratch / "converted").string(), "-q",
       "--no-compress"},
      scratch / "convert.out");
  if (convert.exit_code != 0) Fail("tributary convert failed");
  const fs::path converted = FindFile(scratch / "converted", ".nii");

  auto harmonizer = Must(tributary::harmonize::Harmonizer::Create(
                             Must(normalize::LoadRecipe("ct-default"), "recipe")),
                         "harmonizer");

  // Warm-up, and the outputs compared before anything is timed.
  fs::path tributary_nifti;
  TributaryHarmonizer(files, harmonizer, scratch / "harmonizer", &tributary_nifti);
  const fs::path itk_nifti = scratch / "itk.nii.gz";
  ItkStages(converted, itk_nifti);
  const fs::path peer_nifti = scratch / "peer.nii.gz";
  const std::vector<std::string> peer = {python, TRIBUTARY_PEER_SCRIPT, converted.string(),
                                         peer_nifti.string()};
  const std::vector<std::string> cli = {TRIBUTARY_CLI, "harmonize", folder,
                                        "--recipe",    "ct-default", "--out",
                                        (scratch / "cli").string(), "-q"};
  if (RunProcess(peer, scratch / "peer.out").exit_code != 0) Fail("the peer script failed");
  if (RunProcess(cli, scratch / "cli.out").exit_code != 0) Fail("tributary harmonize failed");
  std::printf("outputs against `Harmonizer::Harmonize` (%s):\n",
              tributary_nifti.filename().c_str());
  Compare("bare ITK filters", tributary_nifti, itk_nifti);
  Compare("nibabel + scipy script", tributary_nifti, peer_nifti);
  Compare("tributary harmonize (CLI)", tributary_nifti,
          FindFile(scratch / "cli", ".nii.gz"));

  std::vector<Stages> tributary_steps, tributary_path, itk, peer_stages;
  std::vector<Process> cli_runs, peer_runs;
  for (int r = 0; r < rounds; ++r) {
    tributary_steps.push_back(TributaryStages(files, scratch / "stages"));
    itk.push_back(ItkStages(converted, itk_nifti));
    tributary_path.push_back(TributaryHarmonizer(files, harmonizer, scratch / "harmonizer", nullptr));
    fs::remove_all(scratch / "cli");
    cli_runs.push_back(RunProcess(cli, scratch / "cli.out"));
    peer_runs.push_back(RunProcess(peer, scratch / "peer.out"));
    std::ifstream timings(scratch / "peer.out");
    nlohmann::json seconds = nlohmann::json::parse(timings);
    Stages s;
    for (const auto& [name, value] : seconds.items()) s[name] = value.get<double>();
    peer_stages.push_back(s);
    std::fprintf(stderr, "round %d/%d\n", r + 1, rounds);
  }

  std::printf("\nin-process, median of %d interleaved rounds:\n", rounds);
  PrintStages({{"tributary", tributary_steps}, {"bare ITK", itk}});
  std::printf("\nthe Harmonizer path (read/rebuild + Harmonizer::Harmonize, outputs read back and "
              "digested):\n");
  PrintStages({{"Harmonizer", tributary_path}, {"bare ITK", itk}});
  std::printf("\nthe script's own stages (inside the interpreter, after its imports):\n");
  PrintStages({{"script", peer_stages}});

  std::printf("\nprocesses, median wall s and largest peak RSS:\n");
  for (const auto& [name, runs] :
       {std::pair{"tributary harmonize", &cli_runs}, std::pair{"python3 peer script", &peer_runs}}) {
    std::vector<double> seconds;
    long rss = 0;
    int failures = 0;
    for (const Process& p : *runs) {
      seconds.push_back(p.seconds);
      rss = std::max(rss, p.peak_rss_kib);
      failures += p.exit_code != 0;
    }
    std::printf("  %-22s %8.3f s %8.1f MiB (%.1f MB)%s\n", name, Median(seconds), rss / 1024.0,
                rss * 1.024 / 1000, failures ? "  (some runs failed)" : "");
  }
  std::vector<double> a, b;
  for (const Process& p : cli_runs) a.push_back(p.seconds);
  for (const Process& p : peer_runs) b.push_back(p.seconds);
  std::printf("  ratio tributary / script: %.2f\n", Median(a) / Median(b));
  if (keep.empty()) fs::remove_all(scratch);
  return 0;
}
