#include "cli/cohort_commands.h"

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "cli/client.h"
#include "cli/remote_commands.h"
#include "common/direct_file_writer.h"
#include "common/hash.h"
#include "common/verified_file.h"
#include "tributary/v1/cohorts.grpc.pb.h"

namespace tributary::cli {
namespace {

namespace fs = std::filesystem;
using Stub = v1::Cohorts::Stub;

constexpr std::chrono::seconds kDeadline{120};
// An export of a large cohort streams for as long as the network needs; it still has a deadline.
constexpr std::chrono::hours kExportDeadline{48};

template <typename Call>
int Invoke(const std::string& name, const ClientOptions& options, Call call) {
  auto stub = v1::Cohorts::NewStub(MakeChannel(options));
  grpc::ClientContext context;
  PrepareContext(context, options, kDeadline);
  grpc::Status status = call(*stub, context);
  return status.ok() ? 0 : ReportRpcError(name, status);
}

nlohmann::json ParsedOrText(const std::string& json) {
  if (json.empty()) return nlohmann::json::object();
  nlohmann::json parsed = nlohmann::json::parse(json, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json(json) : parsed;
}

nlohmann::json VolumeJson(const v1::HarmonizedVolume& v) {
  return {{"derivation_id", v.derivation_id()},
          {"stem", v.stem()},
          {"series_id", v.series_id()},
          {"series_instance_uid", v.series_instance_uid()},
          {"study_id", v.study_id()},
          {"study_instance_uid", v.study_instance_uid()},
          {"centre", v.centre()},
          {"patient", v.patient_pseudonym()},
          {"modality", v.modality()},
          {"recipe", v.recipe_name()},
          {"recipe_sha256", v.recipe_sha256()},
          {"model_sha256", v.model_sha256()},
          {"body_part", v.body_part()},
          {"sex", v.patient_sex()},
          {"age_years", v.patient_age_years()},
          {"study_date", v.study_date()},
          {"spacing", std::vector<double>(v.spacing().begin(), v.spacing().end())},
          {"size", std::vector<std::int64_t>(v.size().begin(), v.size().end())},
          {"qc", ParsedOrText(v.qc_metrics_json())},
          {"created_at", v.created_at()}};
}

nlohmann::json CohortJson(const v1::Cohort& c) {
  nlohmann::json filters = nlohmann::json::array();
  for (const auto& f : c.query().filters()) filters.push_back(f.key() + "=" + f.value());
  return {{"id", c.id()},
          {"name", c.name()},
          {"created_at", c.created_at()},
          {"created_by_token_id", c.created_by_token_id()},
          {"filters", filters},
          {"exclude_duplicates", c.query().exclude_duplicates()},
          {"volumes", c.volume_count()},
          {"subjects", c.subject_count()},
          {"centres", c.centre_count()},
          {"files", c.file_count()},
          {"bytes", c.bytes()}};
}

std::string Megabytes(double bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << bytes / 1e6 << " MB";
  return out.str();
}

void PrintVolumes(const std::vector<v1::HarmonizedVolume>& volumes) {
  std::cout << std::left << std::setw(8) << "DERIV" << std::setw(24) << "PATIENT" << std::setw(14)
            << "CENTRE" << std::setw(5) << "MOD" << std::setw(20) << "RECIPE" << std::setw(20)
            << "SPACING (mm)" << std::setw(16) << "SIZE"
            << "VOLUME\n";
  for (const auto& v : volumes) {
    std::ostringstream spacing, size;
    spacing << std::setprecision(3);
    for (int i = 0; i < v.spacing_size(); ++i) spacing << (i ? "x" : "") << v.spacing(i);
    for (int i = 0; i < std::min(3, v.size_size()); ++i) size << (i ? "x" : "") << v.size(i);
    std::cout << std::setw(8) << v.derivation_id() << std::setw(24) << v.patient_pseudonym()
              << std::setw(14) << v.centre() << std::setw(5) << v.modality() << std::setw(20)
              << v.recipe_name() << std::setw(20) << spacing.str() << std::setw(16) << size.str()
              << v.stem() << "\n";
  }
}

// KEY=VALUE options into the API's filters.
bool FillQuery(const std::vector<std::string>& filters, bool exclude_duplicates,
               v1::VolumeQuery* query) {
  for (const std::string& text : filters) {
    std::size_t eq = text.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "tributary cohorts: --filter takes KEY=VALUE, not '" << text << "'\n";
      return false;
    }
    v1::Filter* f = query->add_filters();
    f->set_key(text.substr(0, eq));
    f->set_value(text.substr(eq + 1));
  }
  query->set_exclude_duplicates(exclude_duplicates);
  return true;
}

void AddQueryOptions(CLI::App& command, std::vector<std::string>& filters,
                     bool& exclude_duplicates) {
  command.add_option("--filter", filters,
                     "KEY=VALUE, repeatable: modality, centre, recipe (name or SHA-256), "
                     "body_part, sex (M/F/O), age (years), study_date (shifted, "
                     "YYYY-MM-DD..YYYY-MM-DD), spacing (mm, every axis), size (voxels, every "
                     "axis), qc.<metric>; ranges LO..HI, LO.., ..HI (docs/COHORTS.md)");
  command.add_flag("--exclude-duplicates", exclude_duplicates,
                   "Of a study several centres sent, keep only the copy stored first");
}

// --- export ---------------------------------------------------------------------------------

// A path from the server, checked before anything is written under it: relative, '/'-separated
// names, none of them empty, "." or "..".
bool SafeRelativePath(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string::npos) return false;
  std::stringstream parts(path);
  std::string part;
  while (std::getline(parts, part, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return path.back() != '/';
}

// One file arriving: written to <path>.partial (with O_DIRECT where the filesystem allows it: the
// kernel's copy into the page cache was half of the export's CPU), made durable and renamed once
// the digest of what was received (hashed on the receiving thread) matches the cohort's list.
class IncomingFile {
 public:
  IncomingFile(const fs::path& final_path, v1::CohortFile expected)
      : final_(final_path),
        partial_(final_path.string() + ".partial"),
        expected_(std::move(expected)) {}
  ~IncomingFile() {
    out_.reset();
    if (!done_) {
      std::error_code ignored;
      fs::remove(partial_, ignored);
    }
  }

  grpc::Status Open() {
    std::error_code error;
    fs::create_directories(final_.parent_path(), error);
    if (error)
      return Failure("cannot create " + final_.parent_path().string() + ": " + error.message());
    auto out = DirectFileWriter::Create(partial_.string(), O_CREAT | O_TRUNC, 0644,
                                        static_cast<std::size_t>(expected_.size()));
    if (!out.ok()) return Failure(std::string(out.status().message()));
    out_ = std::move(*out);
    return grpc::Status::OK;
  }
  grpc::Status Write(const std::string& data) {
    if (absl::Status wrote = out_->Append(data); !wrote.ok())
      return Failure(std::string(wrote.message()));
    return grpc::Status::OK;
  }
  // Verified against the cohort's file list, made durable, renamed into place.
  grpc::Status Close(const std::string& received_sha256) {
    if (out_->size() != static_cast<std::size_t>(expected_.size()) ||
        received_sha256 != expected_.sha256()) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS,
                          expected_.path() + ": the bytes received do not match its SHA-256");
    }
    if (absl::Status finished = out_->Finish(); !finished.ok())
      return Failure(std::string(finished.message()));
    std::error_code error;
    fs::rename(partial_, final_, error);
    if (error) return Failure("cannot rename into " + final_.string() + ": " + error.message());
    done_ = true;
    return grpc::Status::OK;
  }

 private:
  grpc::Status Failure(const std::string& message) {
    return grpc::Status(grpc::StatusCode::INTERNAL, message);
  }
  fs::path final_, partial_;
  v1::CohortFile expected_;
  std::unique_ptr<DirectFileWriter> out_;
  bool done_ = false;
};

// Chunks from the stream to the writer thread, at most kDepth in flight (memory stays bounded).
class ChunkQueue {
 public:
  struct Item {
    std::optional<v1::CohortFile> file;  // set on a file's first chunk
    std::string data;
    bool last = false;                  // a file's last chunk
    std::optional<std::string> sha256;  // set on the last by the hashing stage
  };
  // False when the writer failed (nothing more is wanted).
  bool Push(Item item) {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [&] { return items_.size() < kDepth || failed_; });
    if (failed_) return false;
    items_.push_back(std::move(item));
    ready_.notify_one();
    return true;
  }
  // False once closed and drained, or failed.
  bool Pop(Item& item) {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !items_.empty() || closed_ || failed_; });
    if (failed_ || items_.empty()) return false;
    item = std::move(items_.front());
    items_.pop_front();
    room_.notify_one();
    return true;
  }
  void Close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    ready_.notify_all();
  }
  void Fail() {
    std::lock_guard lock(mutex_);
    failed_ = true;
    room_.notify_all();
    ready_.notify_all();
  }
  bool failed() {
    std::lock_guard lock(mutex_);
    return failed_;
  }

 private:
  static constexpr std::size_t kDepth = 8;
  std::mutex mutex_;
  std::condition_variable room_, ready_;
  std::deque<Item> items_;
  bool closed_ = false, failed_ = false;
};

struct ExportProgress {
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::size_t> files{0};
};

void ShowExportProgress(const ExportProgress& p, std::size_t files, std::uint64_t bytes,
                        std::chrono::steady_clock::time_point start) {
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double fraction = bytes == 0 ? 1.0 : static_cast<double>(p.bytes) / static_cast<double>(bytes);
  int filled = static_cast<int>(fraction * 30);
  std::cerr << "\r[" << std::string(filled, '#') << std::string(30 - filled, ' ') << "] " << p.files
            << "/" << files << " files, " << Megabytes(static_cast<double>(p.bytes)) << " of "
            << Megabytes(static_cast<double>(bytes)) << ", "
            << Megabytes(seconds > 0 ? static_cast<double>(p.bytes) / seconds : 0) << "/s   "
            << std::flush;
}

int Export(const ClientOptions& options, std::int64_t id, const std::string& out_dir) {
  // Each 1 MiB chunk passes through gRPC's buffers: keep them on the heap instead of mmap()s
  // faulted in and returned to the system chunk after chunk (the server does the same).
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  auto channel = MakeChannel(options);
  auto stub = v1::Cohorts::NewStub(channel);
  v1::GetCohortResponse cohort;
  {
    grpc::ClientContext context;
    PrepareContext(context, options, kDeadline);
    v1::GetCohortRequest request;
    request.set_id(id);
    grpc::Status status = stub->GetCohort(&context, request, &cohort);
    if (!status.ok()) return ReportRpcError("cohorts export", status);
  }
  const fs::path out(out_dir);
  std::map<std::string, v1::CohortFile> expected;
  for (const auto& f : cohort.files()) {
    if (!SafeRelativePath(f.path())) {
      std::cerr << "tributary cohorts export: the server named an unsafe path '" << f.path()
                << "'; nothing written\n";
      return 1;
    }
    expected[f.path()] = f;
  }
  std::error_code error;
  fs::create_directories(out, error);
  if (error) {
    std::cerr << "tributary cohorts export: cannot create " << out << ": " << error.message()
              << "\n";
    return 1;
  }

  // Resume: files already here with the right size and SHA-256 are not asked for again.
  v1::ExportCohortRequest request;
  request.set_id(id);
  std::size_t skipped = 0, to_fetch = 0;
  std::uint64_t bytes_to_fetch = 0;
  for (const auto& [path, f] : expected) {
    fs::path local = out / path;
    std::error_code size_error;
    const bool same_size =
        fs::is_regular_file(local) &&
        fs::file_size(local, size_error) == static_cast<std::uintmax_t>(f.size()) && !size_error;
    absl::StatusOr<FileDigest> present =
        same_size ? DigestFile(local.string()) : absl::NotFoundError(path);
    if (present.ok() && present->sha256 == f.sha256()) {
      request.add_skip_paths(path);
      ++skipped;
    } else {
      ++to_fetch;
      bytes_to_fetch += static_cast<std::uint64_t>(f.size());
    }
  }

  const bool tty = ::isatty(STDERR_FILENO) && !options.json;
  ExportProgress progress;
  auto start = std::chrono::steady_clock::now();
  std::atomic<bool> finished{false};
  std::thread bar;
  if (tty) {
    bar = std::thread([&] {
      while (!finished) {
        ShowExportProgress(progress, to_fetch, bytes_to_fetch, start);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      ShowExportProgress(progress, to_fetch, bytes_to_fetch, start);
      std::cerr << "\n";
    });
  }
  grpc::Status status;
  std::set<std::string> received;
  {
    grpc::ClientContext context;
    PrepareContext(context, options,
                   std::chrono::duration_cast<std::chrono::seconds>(kExportDeadline));
    auto reader = stub->ExportCohort(&context, request);
    // Three stages that overlap, each bounded by its queue: this thread reads the stream and
    // checks headers and sizes; a second hashes what arrived; a third writes it (direct writes
    // wait for the disk), syncs and renames. In one thread each, the receiving and the hashing
    // (SHA-256 at about 2 GB/s) were what bounded the rate.
    ChunkQueue queue, to_write;
    grpc::Status written = grpc::Status::OK;
    std::thread hashing([&] {
      ChunkQueue::Item item;
      std::optional<Sha256Hasher> hasher;
      while (queue.Pop(item)) {
        if (item.file) hasher.emplace();
        hasher->Update(item.data);
        if (item.last) item.sha256 = ToHex(hasher->Finish());
        if (!to_write.Push(std::move(item))) return queue.Fail();
      }
      to_write.Close();
    });
    std::thread writer([&] {
      std::unique_ptr<IncomingFile> current;
      ChunkQueue::Item item;
      auto fail = [&](grpc::Status why) {
        written = std::move(why);
        to_write.Fail();
      };
      // A file still open when the stream ends is not whole: its .partial is removed.
      while (to_write.Pop(item)) {
        if (item.file) {
          current = std::make_unique<IncomingFile>(out / item.file->path(), *item.file);
          if (grpc::Status opened = current->Open(); !opened.ok()) return fail(opened);
        }
        if (grpc::Status wrote = current->Write(item.data); !wrote.ok()) return fail(wrote);
        progress.bytes += item.data.size();
        if (item.sha256) {
          if (grpc::Status closed = current->Close(*item.sha256); !closed.ok()) return fail(closed);
          current.reset();
          ++progress.files;
        }
      }
    });
    grpc::Status local = grpc::Status::OK;
    v1::ExportChunk chunk;
    const v1::CohortFile* arriving = nullptr;  // the file whose bytes are arriving
    std::uint64_t arrived = 0;
    while (local.ok() && reader->Read(&chunk)) {
      ChunkQueue::Item item;
      if (chunk.has_file()) {
        if (arriving != nullptr) {
          local = grpc::Status(grpc::StatusCode::DATA_LOSS,
                               arriving->path() + ": fewer bytes arrived than its size");
          break;
        }
        auto it = expected.find(chunk.file().path());
        if (it == expected.end() || it->second.sha256() != chunk.file().sha256() ||
            !received.insert(chunk.file().path()).second) {
          local = grpc::Status(
              grpc::StatusCode::DATA_LOSS,
              "the server sent a file not in the cohort's list: " + chunk.file().path());
          break;
        }
        item.file = it->second;
        arriving = &it->second;
        arrived = 0;
      } else if (arriving == nullptr) {
        local = grpc::Status(grpc::StatusCode::DATA_LOSS, "data outside any file");
        break;
      }
      item.data = std::move(*chunk.mutable_data());
      arrived += item.data.size();
      if (arrived > static_cast<std::uint64_t>(arriving->size())) {
        local = grpc::Status(grpc::StatusCode::DATA_LOSS,
                             arriving->path() + ": more bytes arrived than its size");
        break;
      }
      if (arrived == static_cast<std::uint64_t>(arriving->size())) {
        item.last = true;
        arriving = nullptr;
      }
      if (!queue.Push(std::move(item))) break;  // the writer failed
    }
    if (!local.ok() || queue.failed()) context.TryCancel();
    status = reader->Finish();
    if (status.ok() && local.ok() && arriving != nullptr)
      local = grpc::Status(grpc::StatusCode::DATA_LOSS,
                           arriving->path() + ": the stream ended before all its bytes");
    queue.Close();
    hashing.join();
    writer.join();
    if (!written.ok())
      status = written;
    else if (!local.ok())
      status = local;
  }
  finished = true;
  if (bar.joinable()) bar.join();
  if (status.ok() && received.size() != to_fetch) {
    status = grpc::Status(grpc::StatusCode::DATA_LOSS,
                          std::to_string(to_fetch - received.size()) + " file(s) never arrived");
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!status.ok()) {
    std::cerr << "tributary cohorts export: " << progress.files << " of " << to_fetch
              << " file(s) written before the failure; run the command again to resume\n";
    return ReportRpcError("cohorts export", status);
  }
  if (options.json) {
    std::cout << nlohmann::json{{"cohort", id},
                                {"out", out.string()},
                                {"files", expected.size()},
                                {"files_sent", progress.files.load()},
                                {"files_skipped", skipped},
                                {"bytes_received", progress.bytes.load()},
                                {"seconds", seconds}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << "cohort " << id << " exported to " << out.string() << ": " << progress.files.load()
              << " file(s) received (" << Megabytes(static_cast<double>(progress.bytes.load()))
              << "), " << skipped
              << " already present and verified; every file checked against its SHA-256 "
              << "(manifest.sha256)\n";
  }
  return 0;
}

}  // namespace

void AddCohortCommands(CLI::App& app, int& exit_code) {
  CLI::App* cohorts = app.add_subcommand("cohorts", RemoteCommandDescription("cohorts"));
  cohorts->require_subcommand(1);

  // query
  auto query_options = std::make_shared<ClientOptions>();
  auto query_filters = std::make_shared<std::vector<std::string>>();
  auto query_exclude = std::make_shared<bool>(false);
  auto query_limit = std::make_shared<int>(0);
  CLI::App* query =
      cohorts->add_subcommand("query", "Harmonized volumes matching the filters (every page)");
  AddQueryOptions(*query, *query_filters, *query_exclude);
  query->add_option("--limit", *query_limit, "At most this many volumes (default: all)");
  AddClientOptions(*query, *query_options);
  query->callback([query_options, query_filters, query_exclude, query_limit, &exit_code] {
    v1::QueryVolumesRequest request;
    if (!FillQuery(*query_filters, *query_exclude, request.mutable_query())) {
      exit_code = 2;
      return;
    }
    std::vector<v1::HarmonizedVolume> volumes;
    exit_code = Invoke("cohorts query", *query_options, [&](Stub& stub, grpc::ClientContext&) {
      for (;;) {
        grpc::ClientContext page_context;
        PrepareContext(page_context, *query_options, kDeadline);
        request.set_page_size(1000);
        v1::QueryVolumesResponse response;
        grpc::Status status = stub.QueryVolumes(&page_context, request, &response);
        if (!status.ok()) return status;
        for (const auto& v : response.volumes()) volumes.push_back(v);
        bool full = *query_limit > 0 && static_cast<int>(volumes.size()) >= *query_limit;
        if (response.next_page_token().empty() || full) break;
        request.set_page_token(response.next_page_token());
      }
      if (*query_limit > 0 && static_cast<int>(volumes.size()) > *query_limit)
        volumes.resize(static_cast<std::size_t>(*query_limit));
      if (query_options->json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& v : volumes) out.push_back(VolumeJson(v));
        std::cout << out.dump(2) << "\n";
      } else {
        PrintVolumes(volumes);
      }
      return grpc::Status::OK;
    });
  });

  // create
  auto create_options = std::make_shared<ClientOptions>();
  auto create_name = std::make_shared<std::string>();
  auto create_filters = std::make_shared<std::vector<std::string>>();
  auto create_exclude = std::make_shared<bool>(false);
  CLI::App* create = cohorts->add_subcommand(
      "create",
      "Freeze the volumes matching the filters into an immutable cohort; prints its id alone on "
      "the last line");
  create->add_option("--name", *create_name, "1-64 of A-Z a-z 0-9 . _ - and inner spaces")
      ->required();
  AddQueryOptions(*create, *create_filters, *create_exclude);
  AddClientOptions(*create, *create_options);
  create->callback([create_options, create_name, create_filters, create_exclude, &exit_code] {
    v1::CreateCohortRequest request;
    request.set_name(*create_name);
    if (!FillQuery(*create_filters, *create_exclude, request.mutable_query())) {
      exit_code = 2;
      return;
    }
    exit_code =
        Invoke("cohorts create", *create_options, [&](Stub& stub, grpc::ClientContext& context) {
          v1::CreateCohortResponse response;
          grpc::Status status = stub.CreateCohort(&context, request, &response);
          if (!status.ok()) return status;
          const v1::Cohort& c = response.cohort();
          if (create_options->json) {
            std::cout << CohortJson(c).dump(2) << "\n";
          } else {
            std::cout << "cohort " << c.id() << " '" << c.name() << "': " << c.volume_count()
                      << " volume(s) of " << c.subject_count() << " subject(s) from "
                      << c.centre_count() << " centre(s), " << c.file_count() << " files, "
                      << Megabytes(static_cast<double>(c.bytes())) << "\n"
                      << c.id() << "\n";
          }
          return status;
        });
  });

  // list
  auto list_options = std::make_shared<ClientOptions>();
  CLI::App* list = cohorts->add_subcommand("list", "Cohorts, oldest first");
  AddClientOptions(*list, *list_options);
  list->callback([list_options, &exit_code] {
    exit_code =
        Invoke("cohorts list", *list_options, [&](Stub& stub, grpc::ClientContext& context) {
          v1::ListCohortsResponse response;
          grpc::Status status = stub.ListCohorts(&context, v1::ListCohortsRequest(), &response);
          if (!status.ok()) return status;
          if (list_options->json) {
            nlohmann::json out = nlohmann::json::array();
            for (const auto& c : response.cohorts()) out.push_back(CohortJson(c));
            std::cout << out.dump(2) << "\n";
            return status;
          }
          std::cout << std::left << std::setw(6) << "ID" << std::setw(28) << "NAME" << std::setw(26)
                    << "CREATED" << std::setw(9) << "VOLUMES" << std::setw(10) << "SUBJECTS"
                    << std::setw(9) << "CENTRES"
                    << "SIZE\n";
          for (const auto& c : response.cohorts()) {
            std::cout << std::setw(6) << c.id() << std::setw(28) << c.name() << std::setw(26)
                      << c.created_at() << std::setw(9) << c.volume_count() << std::setw(10)
                      << c.subject_count() << std::setw(9) << c.centre_count()
                      << Megabytes(static_cast<double>(c.bytes())) << "\n";
          }
          return status;
        });
  });

  // show
  auto show_options = std::make_shared<ClientOptions>();
  auto show_id = std::make_shared<std::int64_t>(0);
  auto show_files = std::make_shared<bool>(false);
  CLI::App* show = cohorts->add_subcommand("show", "One cohort: its filters and volumes");
  show->add_option("id", *show_id, "Cohort id")->required();
  show->add_flag("--files", *show_files, "Also list every file of its export with its SHA-256");
  AddClientOptions(*show, *show_options);
  show->callback([show_options, show_id, show_files, &exit_code] {
    exit_code =
        Invoke("cohorts show", *show_options, [&](Stub& stub, grpc::ClientContext& context) {
          v1::GetCohortRequest request;
          request.set_id(*show_id);
          v1::GetCohortResponse response;
          grpc::Status status = stub.GetCohort(&context, request, &response);
          if (!status.ok()) return status;
          if (show_options->json) {
            nlohmann::json out = CohortJson(response.cohort());
            out["volume_list"] = nlohmann::json::array();
            for (const auto& v : response.volumes()) out["volume_list"].push_back(VolumeJson(v));
            out["file_list"] = nlohmann::json::array();
            for (const auto& f : response.files())
              out["file_list"].push_back(
                  {{"path", f.path()}, {"sha256", f.sha256()}, {"size", f.size()}});
            std::cout << out.dump(2) << "\n";
            return status;
          }
          const v1::Cohort& c = response.cohort();
          std::cout << "cohort " << c.id() << " '" << c.name() << "', created " << c.created_at()
                    << "\nfilters:";
          for (const auto& f : c.query().filters()) std::cout << " " << f.key() << "=" << f.value();
          if (c.query().filters_size() == 0) std::cout << " (none)";
          if (c.query().exclude_duplicates()) std::cout << " --exclude-duplicates";
          std::cout << "\n"
                    << c.volume_count() << " volume(s), " << c.subject_count() << " subject(s), "
                    << c.centre_count() << " centre(s), " << c.file_count() << " files, "
                    << Megabytes(static_cast<double>(c.bytes())) << "\n\n";
          PrintVolumes({response.volumes().begin(), response.volumes().end()});
          if (*show_files) {
            std::cout << "\n";
            for (const auto& f : response.files())
              std::cout << f.sha256() << "  " << std::setw(10) << f.size() << "  " << f.path()
                        << "\n";
          }
          return status;
        });
  });

  // export
  auto export_options = std::make_shared<ClientOptions>();
  auto export_id = std::make_shared<std::int64_t>(0);
  auto export_out = std::make_shared<std::string>();
  CLI::App* exporting = cohorts->add_subcommand(
      "export",
      "Download a cohort as a BIDS derivative dataset into --out; resumable (files present and "
      "verified are not sent again), every file checked against its SHA-256");
  exporting->add_option("id", *export_id, "Cohort id")->required();
  exporting->add_option("--out", *export_out, "Folder of the dataset (created if absent)")
      ->required();
  AddClientOptions(*exporting, *export_options);
  exporting->callback([export_options, export_id, export_out, &exit_code] {
    exit_code = Export(*export_options, *export_id, *export_out);
  });

  // provenance show
  CLI::App* provenance = app.add_subcommand("provenance", RemoteCommandDescription("provenance"));
  provenance->require_subcommand(1);
  auto prov_options = std::make_shared<ClientOptions>();
  auto prov_id = std::make_shared<std::string>();
  auto prov_format = std::make_shared<std::string>("text");
  CLI::App* prov_show = provenance->add_subcommand(
      "show", "The lineage of a file digest, series, derivation or cohort");
  prov_show
      ->add_option("id", *prov_id,
                   "sha256:<hex> (a derived file, a stored instance, or, for operators, an "
                   "uploaded original's SHA-256), series:<id>, derivation:<id> or cohort:<id>")
      ->required();
  prov_show->add_option("--format", *prov_format, "text or prov-json (W3C PROV-JSON)")
      ->check(CLI::IsMember({"text", "prov-json"}))
      ->capture_default_str();
  AddClientOptions(*prov_show, *prov_options);
  prov_show->callback([prov_options, prov_id, prov_format, &exit_code] {
    exit_code =
        Invoke("provenance show", *prov_options, [&](Stub& stub, grpc::ClientContext& context) {
          v1::GetProvenanceRequest request;
          request.set_id(*prov_id);
          v1::GetProvenanceResponse response;
          grpc::Status status = stub.GetProvenance(&context, request, &response);
          if (!status.ok()) return status;
          std::cout << (*prov_format == "prov-json" || prov_options->json ? response.prov_json()
                                                                          : response.summary());
          return status;
        });
  });
}

}  // namespace tributary::cli
