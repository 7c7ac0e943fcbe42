// De-identification throughput on 512 KiB CT-like instances, side by side with the floor: a bare
// DCMTK read + write of the same files. See docs/BENCHMARKS.md.
//
//   bench_deidentify [--files=N] [--reps=R] [--threads=T] [--dir=DIR] [--only=floor|tributary]
//
// Both measurements start from the same files on disk (page cache after the warm-up pass):
//   floor      read the file's bytes, DCMTK parse from memory (DcmInputBufferStream), DCMTK
//              serialize to memory (DcmOutputBufferStream) in the same transfer syntax;
//   tributary  read the file's bytes, Deidentifier::Deidentify (research default policy), which
//              parses, de-identifies and serializes.
// Each pass handles every file once; passes are interleaved (floor, tributary, floor, ...) so that
// load from other processes hits both alike, and the median pass is reported. --only runs one mode
// alone, for profiling it (perf record, valgrind --tool=callgrind).

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/secret_key.h"
#include "dicom/deid_profile.h"
#include "dicom/deidentifier.h"

namespace {

namespace fs = std::filesystem;

constexpr unsigned kRows = 512;
constexpr unsigned kColumns = 512;
constexpr const char* kUidRoot = "1.2.826.0.1.3680043.2.1125.77";
constexpr const char* kPatientName = "BENCHMARK^ROSALIND^Q";
constexpr const char* kCentre = "bench-centre";

struct Options {
  int files = 200;
  int reps = 21;
  int threads = 2;   // the largest thread count measured; 1 is always measured
  std::string dir;   // empty: a fresh directory under the temporary directory, removed at the end
  std::string only;  // "floor" or "tributary": time that mode alone (for profiling)
};

[[noreturn]] void Usage(const char* argv0, const char* problem) {
  if (problem != nullptr) std::fprintf(stderr, "%s: %s\n", argv0, problem);
  std::fprintf(stderr,
               "usage: %s [--files=N] [--reps=R] [--threads=T] [--dir=DIR] [--only=MODE]\n"
               "  --files=N    distinct 512 KiB CT-like instances (default 200)\n"
               "  --reps=R     timed passes per measurement; the median is reported (default 21)\n"
               "  --threads=T  also measure with T threads; 1 measures one thread only "
               "(default 2)\n"
               "  --dir=DIR    write the instances to DIR and keep them (default: a temporary\n"
               "               directory, removed at the end)\n"
               "  --only=MODE  run only floor or only tributary passes (to profile one of them)\n",
               argv0);
  std::exit(problem != nullptr ? 2 : 0);
}

Options ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") Usage(argv[0], nullptr);
    std::size_t eq = arg.find('=');
    std::string name = arg.substr(0, eq);
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      Usage(argv[0], ("missing value for " + name).c_str());
    }
    auto positive = [&](int& out) {
      char* end = nullptr;
      long parsed = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || parsed < 1 || parsed > 1000000) {
        Usage(argv[0], ("not a positive count: " + arg).c_str());
      }
      out = static_cast<int>(parsed);
    };
    if (name == "--files") {
      positive(options.files);
    } else if (name == "--reps") {
      positive(options.reps);
    } else if (name == "--threads") {
      positive(options.threads);
    } else if (name == "--dir") {
      options.dir = value;
    } else if (name == "--only") {
      if (value != "floor" && value != "tributary")
        Usage(argv[0], "--only takes floor or tributary");
      options.only = value;
    } else {
      Usage(argv[0], ("unknown option " + name).c_str());
    }
  }
  return options;
}

std::string Uid(int kind, int index) {
  return std::string(kUidRoot) + "." + std::to_string(kind) + "." + std::to_string(index);
}

void PutPrivate(DcmItem& item, std::uint16_t group, std::uint8_t element, DcmEVR vr,
                const char* value) {
  item.putAndInsertString(DcmTag(group, std::uint16_t{0x1000} | element, vr), value);
}

// A CT slice as a scanner writes it: the usual identifying header, two private blocks (one with an
// 8 KiB binary vendor header), nested sequences with UIDs and codes, and 512x512 16-bit pixels
// (12 bits stored) that differ from instance to instance.
std::unique_ptr<DcmFileFormat> MakeCtInstance(int index) {
  auto file = std::make_unique<DcmFileFormat>();
  DcmDataset& d = *file->getDataset();
  auto put = [&d](const DcmTagKey& tag, const std::string& value) {
    d.putAndInsertString(tag, value.c_str());
  };
  int series = 1 + index / 100;
  put(DCM_SpecificCharacterSet, "ISO_IR 100");
  put(DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL");
  put(DCM_InstanceCreationDate, "20240315");
  put(DCM_InstanceCreationTime, "101812");
  put(DCM_SOPClassUID, UID_CTImageStorage);
  put(DCM_SOPInstanceUID, Uid(3, index));
  put(DCM_StudyDate, "20240315");
  put(DCM_SeriesDate, "20240315");
  put(DCM_AcquisitionDate, "20240315");
  put(DCM_ContentDate, "20240315");
  put(DCM_StudyTime, "101530");
  put(DCM_SeriesTime, "101702");
  put(DCM_AcquisitionTime, "101733.512000");
  put(DCM_ContentTime, "101733.512000");
  put(DCM_AccessionNumber, "ACC20240315-0042");
  put(DCM_Modality, "CT");
  put(DCM_Manufacturer, "GE MEDICAL SYSTEMS");
  put(DCM_InstitutionName, "Saint Example University Hospital");
  put(DCM_InstitutionAddress, "12 Harbour Road, Example City");
  put(DCM_ReferringPhysicianName, "HOUSE^GREGORY^^DR");
  put(DCM_StationName, "CTSCAN01");
  put(DCM_StudyDescription, "CT CHEST ABDOMEN PELVIS W CONTRAST");
  put(DCM_SeriesDescription, "AXIAL 1.25MM STD for Rosalind Benchmark");
  put(DCM_InstitutionalDepartmentName, "Radiology");
  put(DCM_PerformingPhysicianName, "CURIE^MARIE");
  put(DCM_OperatorsName, "TECH^ANNA");
  put(DCM_ManufacturerModelName, "Revolution CT");
  put(DCM_PatientName, kPatientName);
  put(DCM_PatientID, "MRN00412345");
  put(DCM_IssuerOfPatientID, "EXAMPLE-HOSPITAL");
  put(DCM_PatientBirthDate, "19650312");
  put(DCM_PatientSex, "F");
  put(DCM_RETIRED_OtherPatientIDs, "NHS4857773456");
  put(DCM_PatientAge, "059Y");
  put(DCM_PatientSize, "1.68");
  put(DCM_PatientWeight, "64.5");
  put(DCM_PatientAddress, "3 Lab Lane, Example City");
  put(DCM_AdditionalPatientHistory, "Follow-up for Rosalind, prior CT 2023");
  put(DCM_ContrastBolusAgent, "OMNIPAQUE 350");
  put(DCM_BodyPartExamined, "CHEST");
  put(DCM_ScanOptions, "HELICAL MODE");
  put(DCM_SliceThickness, "1.25");
  put(DCM_KVP, "120");
  put(DCM_SpacingBetweenSlices, "1.25");
  put(DCM_DataCollectionDiameter, "500");
  put(DCM_DeviceSerialNumber, "SN-4711-CT");
  put(DCM_SoftwareVersions, "revo_ct_22mw.45");
  put(DCM_ProtocolName, "5.1 CAP ROUTINE");
  put(DCM_ReconstructionDiameter, "380");
  put(DCM_DistanceSourceToDetector, "946.74");
  put(DCM_DistanceSourceToPatient, "538.52");
  put(DCM_GantryDetectorTilt, "0");
  put(DCM_TableHeight, "168.5");
  put(DCM_RotationDirection, "CW");
  put(DCM_ExposureTime, "500");
  put(DCM_XRayTubeCurrent, "310");
  put(DCM_Exposure, "155");
  put(DCM_FilterType, "BODY FILTER");
  put(DCM_GeneratorPower, "37200");
  put(DCM_FocalSpots, "1.2");
  put(DCM_ConvolutionKernel, "STANDARD");
  put(DCM_PatientPosition, "FFS");
  put(DCM_RevolutionTime, "0.5");
  put(DCM_SingleCollimationWidth, "0.625");
  put(DCM_TotalCollimationWidth, "40");
  put(DCM_TableSpeed, "78.75");
  put(DCM_SpiralPitchFactor, "0.984");
  put(DCM_CTDIvol, "9.87");
  put(DCM_StudyInstanceUID, Uid(1, 0));
  put(DCM_SeriesInstanceUID, Uid(2, series));
  put(DCM_StudyID, "4242");
  put(DCM_SeriesNumber, std::to_string(series));
  put(DCM_AcquisitionNumber, "1");
  put(DCM_InstanceNumber, std::to_string(index + 1));
  put(DCM_ImagePositionPatient, "-190\\-190\\" + std::to_string(-1.25 * index));
  put(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
  put(DCM_FrameOfReferenceUID, Uid(4, 0));
  put(DCM_PositionReferenceIndicator, "SN");
  put(DCM_SliceLocation, std::to_string(-1.25 * index));
  put(DCM_ImageComments, "Rosalind Benchmark, MRN00412345");
  d.putAndInsertUint16(DCM_SamplesPerPixel, 1);
  put(DCM_PhotometricInterpretation, "MONOCHROME2");
  d.putAndInsertUint16(DCM_Rows, kRows);
  d.putAndInsertUint16(DCM_Columns, kColumns);
  put(DCM_PixelSpacing, "0.742188\\0.742188");
  d.putAndInsertUint16(DCM_BitsAllocated, 16);
  d.putAndInsertUint16(DCM_BitsStored, 12);
  d.putAndInsertUint16(DCM_HighBit, 11);
  d.putAndInsertUint16(DCM_PixelRepresentation, 0);
  put(DCM_WindowCenter, "40\\400");
  put(DCM_WindowWidth, "400\\1500");
  put(DCM_RescaleIntercept, "-1024");
  put(DCM_RescaleSlope, "1");
  put(DCM_RescaleType, "HU");
  put(DCM_RequestingPhysician, "WATSON^JOHN");
  put(DCM_RequestedProcedureDescription, "CT CAP W");
  put(DCM_PerformedProcedureStepStartDate, "20240315");
  put(DCM_PerformedProcedureStepStartTime, "101500");
  put(DCM_PerformedProcedureStepID, "PPS-8812");
  put(DCM_PerformedProcedureStepDescription, "CT CHEST ABDOMEN PELVIS");

  // Nested sequences: a request with a protocol code inside, a scout reference, a procedure code.
  DcmItem* request = nullptr;
  if (d.findOrCreateSequenceItem(DCM_RequestAttributesSequence, request, -2).good()) {
    request->putAndInsertString(DCM_RequestedProcedureID, "RP-0042");
    request->putAndInsertString(DCM_ScheduledProcedureStepID, "SPS-0042");
    request->putAndInsertString(DCM_ScheduledProcedureStepDescription, "CT CAP for Rosalind");
    request->putAndInsertString(DCM_AccessionNumber, "ACC20240315-0042");
    DcmItem* code = nullptr;
    if (request->findOrCreateSequenceItem(DCM_ScheduledProtocolCodeSequence, code, -2).good()) {
      code->putAndInsertString(DCM_CodeValue, "CTCAP");
      code->putAndInsertString(DCM_CodingSchemeDesignator, "99EXAMPLE");
      code->putAndInsertString(DCM_CodeMeaning, "CT chest abdomen pelvis");
    }
  }
  DcmItem* scout = nullptr;
  if (d.findOrCreateSequenceItem(DCM_ReferencedImageSequence, scout, -2).good()) {
    scout->putAndInsertString(DCM_ReferencedSOPClassUID, UID_CTImageStorage);
    scout->putAndInsertString(DCM_ReferencedSOPInstanceUID, Uid(5, 0).c_str());
  }
  DcmItem* procedure = nullptr;
  if (d.findOrCreateSequenceItem(DCM_ProcedureCodeSequence, procedure, -2).good()) {
    procedure->putAndInsertString(DCM_CodeValue, "74177");
    procedure->putAndInsertString(DCM_CodingSchemeDesignator, "C4");
    procedure->putAndInsertString(DCM_CodeMeaning, "CT abd and pelvis w contrast");
  }

  // Private blocks: GE identification and acquisition, and a Siemens-style binary header.
  d.putAndInsertString(DcmTag(0x0009, 0x0010, EVR_LO), "GEMS_IDEN_01");
  PutPrivate(d, 0x0009, 0x01, EVR_LO, "CT_LIGHTSPEED");
  PutPrivate(d, 0x0009, 0x02, EVR_SH, "CT01");
  PutPrivate(d, 0x0009, 0x04, EVR_SH, "Revolution CT");
  d.putAndInsertString(DcmTag(0x0019, 0x0010, EVR_LO), "GEMS_ACQU_01");
  PutPrivate(d, 0x0019, 0x02, EVR_SL, "912");
  PutPrivate(d, 0x0019, 0x23, EVR_DS, "39.375");
  PutPrivate(d, 0x0019, 0x24, EVR_DS, "-1.25");
  PutPrivate(d, 0x0019, 0x27, EVR_DS, "0.5");
  d.putAndInsertString(DcmTag(0x0029, 0x0010, EVR_LO), "SIEMENS CSA HEADER");
  std::vector<Uint8> csa(8192);
  for (std::size_t i = 0; i < csa.size(); ++i) csa[i] = static_cast<Uint8>((i * 31 + index) & 0xFF);
  d.putAndInsertUint8Array(DcmTag(0x0029, 0x1010, EVR_OB), csa.data(), csa.size());

  // Pixels: a water cylinder with a few structures and deterministic per-instance noise.
  std::vector<Uint16> pixels(std::size_t{kRows} * kColumns);
  std::uint32_t noise = 2463534242u + static_cast<std::uint32_t>(index) * 7919u;
  for (unsigned y = 0; y < kRows; ++y) {
    for (unsigned x = 0; x < kColumns; ++x) {
      noise ^= noise << 13;
      noise ^= noise >> 17;
      noise ^= noise << 5;
      int dx = static_cast<int>(x) - 256;
      int dy = static_cast<int>(y) - 256;
      int r2 = dx * dx + dy * dy;
      int value = 0;  // air (-1024 HU)
      if (r2 < 220 * 220) value = 1024 + 40;
      if (r2 < 30 * 30) value = 1024 + 300 + (index % 50);
      int noisy = value + static_cast<int>(noise % 21) - 10;
      pixels[std::size_t{y} * kColumns + x] = static_cast<Uint16>(std::clamp(noisy, 0, 4095));
    }
  }
  d.putAndInsertUint16Array(DCM_PixelData, pixels.data(),
                            static_cast<unsigned long>(pixels.size()));
  return file;
}

bool ReadFile(const std::string& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0;
  if (ok) {
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (ok && done < out.size()) {
      ssize_t n = ::read(fd, out.data() + done, out.size() - done);
      ok = n > 0;
      if (ok) done += static_cast<std::size_t>(n);
    }
  }
  ::close(fd);
  return ok;
}

// The floor: what any program that parses and rewrites an instance with DCMTK pays at least. Like
// Deidentify, it returns each instance's bytes in a string of its own (a caller keeps or sends
// them); DCMTK writes through a small reused chunk.
std::optional<std::string> FloorRoundTrip(std::string_view part10) {
  DcmInputBufferStream in;
  in.setBuffer(part10.data(), static_cast<offile_off_t>(part10.size()));
  in.setEos();
  DcmFileFormat file;
  file.transferInit();
  OFCondition condition = file.read(in);
  file.transferEnd();
  if (condition.bad()) return std::nullopt;
  E_TransferSyntax xfer = file.getDataset()->getOriginalXfer();

  static thread_local std::vector<char> chunk(1 << 16);
  std::string out;
  out.reserve(part10.size() + 4096);
  DcmOutputBufferStream stream(chunk.data(), chunk.size());
  file.transferInit();
  do {
    condition = file.write(stream, xfer, EET_ExplicitLength, nullptr);
    void* data = nullptr;
    offile_off_t length = 0;
    stream.flushBuffer(data, length);
    out.append(static_cast<const char*>(data), static_cast<std::size_t>(length));
  } while (condition == EC_StreamNotifyClient);
  file.transferEnd();
  if (condition.bad()) return std::nullopt;
  return out;
}

struct PassResult {
  double seconds = 0;
  std::uint64_t out_bytes = 0;
  int failures = 0;
};

// Every file once, split over `threads` threads that take the next file in turn. `work(bytes)`
// returns the size of what it produced, or -1 on failure.
template <typename Work>
PassResult RunPass(const std::vector<std::string>& paths, int threads, const Work& work) {
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> out_bytes{0};
  std::atomic<int> failures{0};
  auto worker = [&] {
    std::string bytes;
    for (std::size_t i = next++; i < paths.size(); i = next++) {
      long produced = ReadFile(paths[i], bytes) ? work(bytes) : -1;
      if (produced < 0) {
        ++failures;
      } else {
        out_bytes += static_cast<std::uint64_t>(produced);
      }
    }
  };
  auto start = std::chrono::steady_clock::now();
  if (threads == 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (std::thread& thread : pool) thread.join();
  }
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  return {elapsed.count(), out_bytes.load(), failures.load()};
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      std::size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

}  // namespace

int main(int argc, char** argv) {
  Options options = ParseOptions(argc, argv);

  auto deidentifier = tributary::dicom::Deidentifier::Create(
      tributary::SecretKey::Generate(), tributary::dicom::DeidPolicy::ResearchDefault());
  if (!deidentifier.ok()) {
    std::fprintf(stderr, "cannot create the de-identifier: %s\n",
                 std::string(deidentifier.status().message()).c_str());
    return 1;
  }

  // The inputs: real files, written once, read by both measurements.
  bool temporary = options.dir.empty();
  fs::path dir;
  std::error_code error;
  if (temporary) {
    std::string pattern = (fs::temp_directory_path() / "tributary-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = pattern;
  } else {
    dir = options.dir;
    fs::create_directories(dir, error);
  }
  std::vector<std::string> paths;
  std::uint64_t in_bytes = 0;
  auto generation_start = std::chrono::steady_clock::now();
  for (int i = 0; i < options.files; ++i) {
    std::string path = (dir / ("ct_" + std::to_string(i) + ".dcm")).string();
    auto file = MakeCtInstance(i);
    OFCondition condition = file->saveFile(path.c_str(), EXS_LittleEndianExplicit);
    if (condition.bad()) {
      std::fprintf(stderr, "cannot write %s: %s\n", path.c_str(), condition.text());
      return 1;
    }
    in_bytes += fs::file_size(path);
    paths.push_back(std::move(path));
  }
  std::chrono::duration<double> generation = std::chrono::steady_clock::now() - generation_start;

  const tributary::dicom::Deidentifier& deid = *deidentifier;
  auto floor = [](const std::string& bytes) -> long {
    std::optional<std::string> out = FloorRoundTrip(bytes);
    return out ? static_cast<long>(out->size()) : -1;
  };
  std::mutex error_mutex;
  std::string first_error;
  auto tributary = [&](const std::string& bytes) -> long {
    auto result = deid.Deidentify(bytes, kCentre);
    if (!result.ok()) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (first_error.empty()) first_error = std::string(result.status().message());
      return -1;
    }
    return static_cast<long>(result->bytes.size());
  };

  // Sanity: the de-identified output must no longer carry the patient's name.
  {
    std::string bytes;
    if (!ReadFile(paths.front(), bytes)) return 1;
    auto result = deid.Deidentify(bytes, kCentre);
    if (!result.ok()) {
      std::fprintf(stderr, "de-identification failed: %s\n",
                   std::string(result.status().message()).c_str());
      return 1;
    }
    if (result->bytes.find("ROSALIND") != std::string::npos ||
        result->bytes.find("MRN00412345") != std::string::npos) {
      std::fprintf(stderr, "de-identified output still names the patient\n");
      return 1;
    }
  }

  std::printf("De-identification throughput (tributary vs bare DCMTK read + write)\n");
  std::printf("  machine   : %u hardware threads, %s\n", std::thread::hardware_concurrency(),
              CpuModel().c_str());
  std::printf("  load avg  : %s (at start)\n", LoadAverage().c_str());
  std::printf("  inputs    : %d files, %.1f KiB each on average, %.1f MB in total, in %s\n",
              options.files, static_cast<double>(in_bytes) / options.files / 1024.0,
              static_cast<double>(in_bytes) / 1e6, dir.c_str());
  std::printf("              (512x512x16-bit CT, Explicit VR Little Endian; generated in %.2f s)\n",
              generation.count());
  std::printf(
      "  policy    : research default (basic profile + modified dates + patient "
      "characteristics)\n");
  std::printf("  passes    : %d timed per row after one warm-up, interleaved; median shown\n\n",
              options.reps);

  // Peak RSS per mode: the floor runs first, so its figure is not inflated by the tributary's.
  std::vector<int> thread_counts = {1};
  if (options.threads > 1) thread_counts.push_back(options.threads);
  bool run_floor = options.only != "tributary";
  bool run_tributary = options.only != "floor";
  double rss_floor = 0;
  double rss_tributary = 0;

  std::printf("%-10s %7s %10s %19s %9s %8s %9s %11s %7s\n", "mode", "threads", "median s",
              "min..max s", "files/s", "MB/s", "us/file", "time ratio", "paired");
  double ratio_single = 0;
  double paired_single = 0;
  for (int threads : thread_counts) {
    PassResult warm_floor;
    PassResult warm_tributary;
    if (run_floor) warm_floor = RunPass(paths, threads, floor);
    if (rss_floor == 0) rss_floor = PeakRssMiB();
    if (run_tributary) warm_tributary = RunPass(paths, threads, tributary);
    if (rss_tributary == 0) rss_tributary = PeakRssMiB();
    if (warm_floor.failures != 0 || warm_tributary.failures != 0) {
      std::fprintf(stderr, "failures: floor %d, tributary %d (%s)\n", warm_floor.failures,
                   warm_tributary.failures, first_error.c_str());
      return 1;
    }
    std::vector<double> floor_times;
    std::vector<double> tributary_times;
    for (int rep = 0; rep < options.reps; ++rep) {
      if (run_floor) floor_times.push_back(RunPass(paths, threads, floor).seconds);
      if (run_tributary) tributary_times.push_back(RunPass(paths, threads, tributary).seconds);
    }
    auto row = [&](const char* mode, const std::vector<double>& times, double ratio,
                   double paired) {
      double median = Median(times);
      char spread[32];
      std::snprintf(spread, sizeof spread, "%.4f..%.4f",
                    *std::min_element(times.begin(), times.end()),
                    *std::max_element(times.begin(), times.end()));
      char ratio_text[16] = "-";
      char paired_text[16] = "-";
      if (ratio > 0) std::snprintf(ratio_text, sizeof ratio_text, "%.2fx", ratio);
      if (paired > 0) std::snprintf(paired_text, sizeof paired_text, "%.2fx", paired);
      std::printf("%-10s %7d %10.4f %19s %9.1f %8.1f %9.1f %11s %7s\n", mode, threads, median,
                  spread, options.files / median, static_cast<double>(in_bytes) / 1e6 / median,
                  median / options.files * 1e6 * threads, ratio_text, paired_text);
    };
    double ratio = 0;
    double paired = 0;
    if (run_floor && run_tributary) {
      ratio = Median(tributary_times) / Median(floor_times);
      std::vector<double> pass_ratios;
      for (int rep = 0; rep < options.reps; ++rep) {
        pass_ratios.push_back(tributary_times[rep] / floor_times[rep]);
      }
      paired = Median(pass_ratios);
    }
    if (threads == 1) {
      ratio_single = ratio;
      paired_single = paired;
    }
    double one = run_tributary ? 1.0 : 0.0;
    if (run_floor) row("floor", floor_times, one, one);
    if (run_tributary) row("tributary", tributary_times, ratio, paired);
  }
  std::printf(
      "\n  MB = 10^6 bytes of input; us/file = thread-time per file (median s x threads / "
      "files);\n  time ratio = tributary median / floor median at the same thread count;\n"
      "  paired = median over passes of tributary pass / the floor pass just before it.\n");
  std::printf(
      "  peak RSS  : %.1f MiB after the floor warm-up, %.1f MiB after the tributary warm-up, "
      "%.1f MiB at the end\n",
      rss_floor, rss_tributary, PeakRssMiB());
  if (ratio_single > 0) {
    std::printf("  target    : tributary <= 1.50x floor (1 thread): %.2fx (paired %.2fx), %s\n",
                ratio_single, paired_single, ratio_single <= 1.5 ? "met" : "NOT met");
  }

  if (temporary) fs::remove_all(dir, error);
  return 0;
}
