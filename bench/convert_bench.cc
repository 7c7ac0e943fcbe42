// `tributary convert` against dcm2niix on the same DICOM folders in the same run: wall time and
// peak resident memory of each process (wait4 rusage), uncompressed and gzip output. Prints
// figures; decides nothing (docs/BENCHMARKS.md).
//
//   bench_convert [--repeat N] [--uncompressed-only] [--dcm2niix PATH] [--baseline PATH] FOLDER...
// --baseline adds another tributary binary (say, one built from an earlier commit) to the same
// interleaved rounds, for an A/B comparison of a change.
//
// The tools run in turn, round after round (not all runs of one tool, then the next), so a slow
// spell of a shared machine affects each alike; each figure is the median of N rounds.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct Measure {
  double seconds = 0;
  long peak_rss_kib = 0;
  int exit_code = -1;
};

Measure RunQuietly(const std::vector<std::string>& argv) {
  Measure m;
  auto start = std::chrono::steady_clock::now();
  std::fflush(stdout);
  pid_t pid = ::fork();
  if (pid == 0) {
    std::FILE* null = std::freopen("/dev/null", "w", stdout);
    (void)null;
    null = std::freopen("/dev/null", "w", stderr);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::_Exit(127);
  }
  int status = 0;
  struct rusage usage {};
  ::wait4(pid, &status, 0, &usage);
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.peak_rss_kib = usage.ru_maxrss;
  m.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return m;
}

struct Tool {
  std::string name;
  std::vector<std::string> argv;  // output folder appended where "{out}" stands
};

Measure RunOnce(const Tool& tool, const fs::path& out) {
  fs::remove_all(out);
  fs::create_directories(out);
  std::vector<std::string> argv = tool.argv;
  for (std::string& a : argv) {
    if (a == "{out}") a = out.string();
  }
  return RunQuietly(argv);
}

// The median wall time (and the largest peak RSS) of each tool, the tools' runs interleaved
// round by round so that a slow spell of a shared machine hits all of them alike.
std::vector<Measure> InterleavedMedians(const std::vector<Tool>& tools, const fs::path& scratch,
                                        int repeat) {
  std::vector<std::vector<Measure>> runs(tools.size());
  for (int r = 0; r < repeat; ++r) {
    for (std::size_t t = 0; t < tools.size(); ++t) {
      runs[t].push_back(RunOnce(tools[t], scratch / tools[t].name));
    }
  }
  std::vector<Measure> medians;
  for (std::vector<Measure>& tool_runs : runs) {
    std::sort(tool_runs.begin(), tool_runs.end(),
              [](const Measure& a, const Measure& b) { return a.seconds < b.seconds; });
    Measure median = tool_runs[tool_runs.size() / 2];
    for (const Measure& m : tool_runs)
      median.peak_rss_kib = std::max(median.peak_rss_kib, m.peak_rss_kib);
    medians.push_back(median);
  }
  return medians;
}

std::size_t CountFiles(const fs::path& folder, const std::string& suffix) {
  std::size_t n = 0;
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    std::string name = entry.path().filename().string();
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      ++n;
  }
  return n;
}

// "dcm_qa_nih/In" rather than "In".
std::string Label(const std::string& folder) {
  fs::path path = fs::path(folder).lexically_normal();
  if (path.filename().empty()) path = path.parent_path();
  std::string label = path.filename().string();
  if (path.has_parent_path()) label = path.parent_path().filename().string() + "/" + label;
  return label;
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = 5;
  bool uncompressed_only = false;
  std::string dcm2niix = "dcm2niix";
  std::string baseline;
  std::vector<std::string> folders;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--repeat" && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--uncompressed-only") {
      uncompressed_only = true;
    } else if (arg == "--dcm2niix" && i + 1 < argc) {
      dcm2niix = argv[++i];
    } else if (arg == "--baseline" && i + 1 < argc) {
      baseline = argv[++i];
    } else {
      folders.push_back(arg);
    }
  }
  if (folders.empty()) {
    std::cerr << "usage: bench_convert [--repeat N] [--uncompressed-only] [--dcm2niix PATH] "
                 "[--baseline TRIBUTARY] FOLDER...\n";
    return 2;
  }
  fs::path scratch = fs::temp_directory_path() / ("bench_convert_" + std::to_string(::getpid()));
  std::printf("%-28s %-10s %-22s %9s %12s %8s\n", "input", "output", "tool", "wall s",
              "peak RSS MiB", "files");
  for (const std::string& folder : folders) {
    for (bool compress : {false, true}) {
      if (compress && uncompressed_only) continue;
      std::vector<Tool> tools = {
          {"tributary convert", {TRIBUTARY_CLI, "convert", folder, "--out", "{out}", "-q"}},
          {"dcm2niix",
           {dcm2niix, "-b", "y", "-z", compress ? "y" : "n", "-f", "%p_%s", "-o", "{out}", folder}},
      };
      // -z y hands compression to pigz (parallel) when installed; -z i is dcm2niix's own zlib.
      if (compress) {
        tools.push_back({"dcm2niix -z i",
                         {dcm2niix, "-b", "y", "-z", "i", "-f", "%p_%s", "-o", "{out}", folder}});
      }
      if (!baseline.empty()) {
        tools.push_back({"baseline convert", {baseline, "convert", folder, "--out", "{out}", "-q"}});
      }
      for (Tool& tool : tools) {
        if (!compress && tool.argv[1] == "convert") tool.argv.push_back("--no-compress");
      }
      std::vector<Measure> medians = InterleavedMedians(tools, scratch, repeat);
      for (std::size_t t = 0; t < tools.size(); ++t) {
        const Tool& tool = tools[t];
        const Measure& m = medians[t];
        std::size_t files = CountFiles(scratch / tool.name, compress ? ".nii.gz" : ".nii");
        std::printf("%-28s %-10s %-22s %9.3f %12.1f %8zu%s\n", Label(folder).c_str(),
                    compress ? ".nii.gz" : ".nii", tool.name.c_str(), m.seconds,
                    m.peak_rss_kib / 1024.0, files, m.exit_code == 0 ? "" : "  (exit code not 0)");
        if (t > 0) {
          std::printf("%-28s %-10s %-22s %9.2f\n", "", "", ("ratio vs " + tool.name).c_str(),
                      medians[0].seconds / m.seconds);
        }
      }
    }
  }
  fs::remove_all(scratch);
  return 0;
}
