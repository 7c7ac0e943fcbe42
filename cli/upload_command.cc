#include "cli/upload_command.h"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "cli/client.h"
#include "cli/input_files.h"
#include "cli/remote_commands.h"
#include "common/hash.h"
#include "common/parallel.h"
#include "common/secret_key.h"
#include "dicom/deidentifier.h"
#include "tributary/v1/ingest.grpc.pb.h"

namespace tributary::cli {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kChunkBytes = 1 << 20;
constexpr std::size_t kWindowFiles = 16;  // files sent ahead of their outcomes, per stream
constexpr int kMaxAttempts = 8;
constexpr std::size_t kFindStoredBatch = 1000;

struct Options {
  ClientOptions client;
  std::vector<std::string> inputs;
  unsigned parallel = 1;
  bool complete = false;
  std::string request_id;
};

struct FileState {
  fs::path path;
  std::uint64_t size = 0;
  std::string sha256;
  std::string
      outcome;  // STORED, ALREADY_STORED, CONFLICT, REJECTED, SKIPPED, FAILED; empty: pending
  std::string reason;
  std::string study_uid;
};

// Shared between the stream threads: the files still to send and live counters for progress.
struct Work {
  std::mutex mutex;
  std::deque<std::size_t> queue;
  std::vector<FileState>& files;
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::size_t> confirmed{0};
  std::atomic<bool> fatal{false};

  explicit Work(std::vector<FileState>& f) : files(f) {}

  std::optional<std::size_t> Next() {
    std::lock_guard lock(mutex);
    if (queue.empty() || fatal) return std::nullopt;
    std::size_t i = queue.front();
    queue.pop_front();
    return i;
  }
  void Requeue(const std::vector<std::size_t>& indices) {
    std::lock_guard lock(mutex);
    for (auto it = indices.rbegin(); it != indices.rend(); ++it) queue.push_front(*it);
  }
};

std::string OutcomeText(v1::OutcomeStatus status) { return v1::OutcomeStatus_Name(status); }

bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::ABORTED ||
         code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::RESOURCE_EXHAUSTED || code == grpc::StatusCode::INTERNAL ||
         code == grpc::StatusCode::UNKNOWN || code == grpc::StatusCode::CANCELLED;
}

int BackoffMs(int attempt) { return std::min(30000, 500 << std::min(attempt, 6)); }

// Unary calls are retried like streams when the server or its database is briefly away.
template <typename Call>
grpc::Status WithRetries(Call call) {
  for (int attempt = 1;; ++attempt) {
    grpc::Status status = call();
    bool transient = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                     status.error_code() == grpc::StatusCode::ABORTED;
    if (status.ok() || !transient || attempt >= kMaxAttempts) {
      return status;
    }
    int delay_ms = BackoffMs(attempt);
    std::cerr << "tributary upload: server unavailable (" << status.error_message() << "); attempt "
              << attempt << " of " << kMaxAttempts << ", retrying in " << delay_ms / 1000.0
              << " s\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  }
}

// Reads the head of a file to tell DICOM instances from everything else, then hashes the whole
// file.
void Scan(FileState& file) {
  std::ifstream in(file.path, std::ios::binary);
  if (!in) {
    file.outcome = "SKIPPED";
    file.reason = "cannot read";
    return;
  }
  Sha256Hasher hasher;
  std::string buffer(kChunkBytes, '\0');
  bool first = true;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    std::size_t n = static_cast<std::size_t>(in.gcount());
    if (first) {
      first = false;
      switch (dicom::ProbeDicom(std::string_view(buffer.data(), n))) {
        case dicom::DicomKind::kNotDicom:
          file.outcome = "SKIPPED";
          file.reason = "not DICOM";
          return;
        case dicom::DicomKind::kDicomDir:
          file.outcome = "SKIPPED";
          file.reason = "DICOMDIR (media directory, not an image)";
          return;
        case dicom::DicomKind::kInstance:
          break;
      }
    }
    hasher.Update(std::string_view(buffer.data(), n));
    file.size += n;
  }
  file.sha256 = ToHex(hasher.Finish());
}

// One upload stream, retried on transient failures. Sends headers and chunks without waiting for
// outcomes (up to kWindowFiles ahead); a reader thread collects the outcomes.
void StreamLoop(const Options& options, Work& work, int index) {
  auto channel = MakeChannel(options.client, index);
  auto stub = v1::Ingest::NewStub(channel);
  int attempt = 0;
  while (true) {
    grpc::ClientContext context;
    PrepareContext(context, options.client, std::chrono::hours(24));
    auto stream = stub->Upload(&context);
    std::mutex mutex;
    std::condition_variable changed;
    std::map<std::string, std::size_t> outstanding;
    bool reader_done = false;

    std::thread reader([&] {
      v1::UploadResponse response;
      while (stream->Read(&response)) {
        const v1::FileOutcome& outcome = response.outcome();
        std::lock_guard lock(mutex);
        auto it = outstanding.find(outcome.file_id());
        if (it == outstanding.end()) continue;
        FileState& file = work.files[it->second];
        file.outcome = OutcomeText(outcome.status());
        file.reason = outcome.status() == v1::REJECTED
                          ? v1::RejectReason_Name(outcome.reject_reason()) + ": " + outcome.detail()
                          : outcome.detail();
        file.study_uid = outcome.study_instance_uid();
        outstanding.erase(it);
        ++work.confirmed;
        changed.notify_all();
      }
      std::lock_guard lock(mutex);
      reader_done = true;
      changed.notify_all();
    });

    bool broken = false;
    v1::UploadRequest start;
    start.mutable_start()->set_request_id(options.request_id + "-" + std::to_string(index));
    if (!stream->Write(start)) broken = true;
    v1::UploadRequest chunk;  // reused: files are read straight into its buffer, allocated once
    while (!broken) {
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return outstanding.size() < kWindowFiles || reader_done; });
        if (reader_done) break;
      }
      std::optional<std::size_t> next = work.Next();
      if (!next) break;
      FileState& file = work.files[*next];
      std::string file_id = std::to_string(*next);
      {
        std::lock_guard lock(mutex);
        outstanding[file_id] = *next;
      }
      v1::UploadRequest header;
      header.mutable_header()->set_file_id(file_id);
      header.mutable_header()->set_size(file.size);
      header.mutable_header()->set_sha256(file.sha256);
      if (!stream->Write(header)) {
        broken = true;
        break;
      }
      std::ifstream in(file.path, std::ios::binary);
      std::uint64_t sent = 0;
      while (sent < file.size) {
        std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(kChunkBytes, file.size - sent));
        std::string& bytes = *chunk.mutable_chunk();
        bytes.resize(n);
        in.read(bytes.data(), static_cast<std::streamsize>(n));
        // A file that shrank since it was hashed is padded; the server then answers
        // DIGEST_MISMATCH.
        if (static_cast<std::size_t>(in.gcount()) < n)
          std::fill(bytes.begin() + in.gcount(), bytes.end(), '\0');
        if (!stream->Write(chunk)) {
          broken = true;
          break;
        }
        sent += n;
        work.bytes_sent += n;
      }
    }
    if (!broken) stream->WritesDone();
    reader.join();
    grpc::Status status = stream->Finish();
    std::vector<std::size_t> unconfirmed;
    for (const auto& [id, i] : outstanding) unconfirmed.push_back(i);
    std::sort(unconfirmed.begin(), unconfirmed.end());
    if (status.ok() && unconfirmed.empty()) {
      std::lock_guard lock(work.mutex);
      if (work.queue.empty()) return;
      continue;  // another stream gave files back
    }
    if (status.ok())
      status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream ended without all outcomes");
    if (!Retryable(status.error_code()) || ++attempt >= kMaxAttempts) {
      for (std::size_t i : unconfirmed) {
        work.files[i].outcome = "FAILED";
        work.files[i].reason = "not confirmed: " + status.error_message();
      }
      if (!Retryable(status.error_code())) {
        work.fatal = true;
        std::cerr << "\ntributary upload: " << status.error_message() << "\n";
      }
      return;
    }
    work.Requeue(unconfirmed);
    int delay_ms = BackoffMs(attempt);
    std::cerr << "\ntributary upload: stream " << index << ": " << status.error_message()
              << "; retrying " << unconfirmed.size() << " unconfirmed file(s) in "
              << delay_ms / 1000.0 << " s\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  }
}

std::string Megabytes(double bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << bytes / 1e6 << " MB";
  return out.str();
}

void ShowProgress(const Work& work, std::size_t total_files, std::uint64_t total_bytes,
                  std::chrono::steady_clock::time_point start) {
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double sent = static_cast<double>(work.bytes_sent.load());
  double rate = seconds > 0 ? sent / seconds : 0;
  double fraction = total_bytes > 0 ? sent / static_cast<double>(total_bytes) : 1.0;
  int width = 24;
  int filled = static_cast<int>(fraction * width);
  std::ostringstream bar;
  bar << "\r\033[K[" << std::string(filled, '=') << std::string(width - filled, ' ') << "] "
      << work.confirmed.load() << "/" << total_files << " files  " << Megabytes(sent) << " / "
      << Megabytes(static_cast<double>(total_bytes)) << "  " << Megabytes(rate) << "/s";
  if (rate > 0 && sent < total_bytes) {
    bar << "  ETA " << static_cast<int>((static_cast<double>(total_bytes) - sent) / rate) << " s";
  }
  std::cerr << bar.str() << std::flush;
}

int Run(Options options) {
  if (options.client.token.empty()) {
    std::cerr << "tributary upload: no token: pass --token-file FILE or set TRIBUTARY_TOKEN\n";
    return 2;
  }
  if (options.request_id.empty())
    options.request_id = "cli-" + ToHex(SecretKey::Generate().bytes()).substr(0, 16);
  options.parallel = std::max(1u, std::min(options.parallel, 64u));
  std::vector<MissingInput> missing;
  std::vector<fs::path> paths = ListInputFiles(options.inputs, {}, missing);
  std::vector<FileState> files(paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) files[i].path = paths[i];
  for (const MissingInput& m : missing) files.push_back({m.path, 0, "", "FAILED", m.reason, ""});
  bool tty = ::isatty(STDERR_FILENO) && !options.client.json;

  // Scan (probe + SHA-256) on all cores.
  common::ParallelFor(paths.size(), common::CoreCount(), [&](std::size_t i) { Scan(files[i]); });

  // Resume: ask which digests are stored already.
  Work work(files);
  std::map<std::string, std::vector<std::size_t>> by_digest;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (files[i].outcome.empty()) by_digest[files[i].sha256].push_back(i);
  }
  auto stub = v1::Ingest::NewStub(MakeChannel(options.client));
  std::vector<std::string> digests;
  for (const auto& [digest, indices] : by_digest) digests.push_back(digest);
  for (std::size_t from = 0; from < digests.size(); from += kFindStoredBatch) {
    v1::FindStoredRequest request;
    for (std::size_t i = from; i < std::min(digests.size(), from + kFindStoredBatch); ++i)
      request.add_sha256(digests[i]);
    v1::FindStoredResponse response;
    grpc::Status status = WithRetries([&] {
      response.Clear();
      grpc::ClientContext context;
      PrepareContext(context, options.client, std::chrono::seconds(60));
      return stub->FindStored(&context, request, &response);
    });
    if (!status.ok()) return ReportRpcError("upload", status);
    for (const v1::StoredFile& stored : response.stored()) {
      for (std::size_t i : by_digest[stored.sha256()]) {
        files[i].outcome = "ALREADY_STORED";
        files[i].reason = "stored before (resumed)";
        files[i].study_uid = stored.study_instance_uid();
      }
    }
  }
  std::uint64_t total_bytes = 0;
  std::size_t to_send = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (!files[i].outcome.empty()) continue;
    // Identical files (same digest) go once; the copies take the first one's outcome.
    if (by_digest[files[i].sha256].front() != i) continue;
    work.queue.push_back(i);
    total_bytes += files[i].size;
    ++to_send;
  }

  auto start = std::chrono::steady_clock::now();
  std::atomic<bool> done{false};
  std::thread progress;
  if (tty) {
    progress = std::thread([&] {
      while (!done) {
        ShowProgress(work, to_send, total_bytes, start);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      ShowProgress(work, to_send, total_bytes, start);
      std::cerr << "\n";
    });
  }
  std::vector<std::thread> streams;
  for (unsigned s = 0;
       s < std::min<std::size_t>(options.parallel, std::max<std::size_t>(to_send, 1)); ++s) {
    streams.emplace_back([&, s] { StreamLoop(options, work, static_cast<int>(s)); });
  }
  for (auto& stream : streams) stream.join();
  done = true;
  if (progress.joinable()) progress.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  for (auto& [digest, indices] : by_digest) {
    for (std::size_t k = 1; k < indices.size(); ++k) {
      FileState& copy = files[indices[k]];
      if (!copy.outcome.empty()) continue;
      const FileState& first = files[indices.front()];
      copy.outcome = first.outcome.empty() ? "FAILED" : first.outcome;
      copy.reason = "same bytes as " + first.path.string();
      copy.study_uid = first.study_uid;
    }
  }
  for (FileState& file : files) {
    if (file.outcome.empty()) {
      file.outcome = "FAILED";
      file.reason = "not sent";
    }
  }

  // Study completion: the gateway says it has sent everything it has of each study.
  nlohmann::json completions = nlohmann::json::array();
  int exit_code = 0;
  if (options.complete) {
    std::map<std::string, std::uint32_t> counts;
    for (const FileState& f : files) {
      if ((f.outcome == "STORED" || f.outcome == "ALREADY_STORED") && !f.study_uid.empty())
        ++counts[f.study_uid];
    }
    for (const auto& [study, count] : counts) {
      v1::CompleteStudyRequest request;
      request.set_study_instance_uid(study);
      request.set_expected_instance_count(count);
      v1::CompleteStudyResponse response;
      grpc::Status status = WithRetries([&] {
        grpc::ClientContext context;
        PrepareContext(context, options.client, std::chrono::seconds(30));
        return stub->CompleteStudy(&context, request, &response);
      });
      nlohmann::json entry{{"study_instance_uid", study}, {"expected", count}};
      if (status.ok()) {
        entry["stored"] = response.stored_instance_count();
        entry["complete"] = response.complete();
        if (!response.complete()) exit_code = 1;
      } else {
        entry["error"] = status.error_message();
        exit_code = 1;
      }
      completions.push_back(entry);
    }
  }

  std::map<std::string, std::size_t> totals;
  for (const FileState& f : files) ++totals[f.outcome];
  for (const char* bad : {"REJECTED", "CONFLICT", "FAILED"}) {
    if (totals[bad] > 0) exit_code = 1;
  }
  if (options.client.json) {
    nlohmann::json report;
    report["files"] = nlohmann::json::array();
    for (const FileState& f : files) {
      nlohmann::json entry{{"path", f.path.string()}, {"outcome", f.outcome}};
      if (!f.reason.empty()) entry["reason"] = f.reason;
      if (!f.sha256.empty()) entry["sha256"] = f.sha256;
      if (!f.study_uid.empty()) entry["study_instance_uid"] = f.study_uid;
      report["files"].push_back(entry);
    }
    report["summary"] = totals;
    report["seconds"] = seconds;
    report["bytes_sent"] = work.bytes_sent.load();
    if (options.complete) report["studies"] = completions;
    std::cout << report.dump(2) << "\n";
    return exit_code;
  }
  for (const FileState& f : files) {
    if (f.outcome == "STORED" || f.outcome == "ALREADY_STORED") continue;
    std::cout << std::left << std::setw(15) << f.outcome << f.path.string() << ": " << f.reason
              << "\n";
  }
  std::cout << "\n"
            << std::left << std::setw(16) << "OUTCOME"
            << "FILES\n";
  for (const char* name :
       {"STORED", "ALREADY_STORED", "CONFLICT", "REJECTED", "SKIPPED", "FAILED"}) {
    std::cout << std::setw(16) << name << totals[name] << "\n";
  }
  std::cout << "sent " << Megabytes(static_cast<double>(work.bytes_sent.load())) << " in "
            << std::fixed << std::setprecision(1) << seconds << " s\n";
  for (const auto& c : completions) {
    std::cout << "study " << c["study_instance_uid"].get<std::string>() << ": "
              << (c.contains("error")
                      ? "completion failed: " + c["error"].get<std::string>()
                      : (c["complete"].get<bool>() ? "complete" : "INCOMPLETE") +
                            std::string(" (") + std::to_string(c["stored"].get<unsigned>()) +
                            " stored, " + std::to_string(c["expected"].get<unsigned>()) +
                            " expected)")
              << "\n";
  }
  return exit_code;
}

}  // namespace

void AddUploadCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("upload", RemoteCommandDescription("upload"));
  command->add_option("paths", options->inputs, "DICOM files or folders (searched recursively)")
      ->required();
  AddClientOptions(*command, options->client);
  command->add_option("--parallel", options->parallel, "Concurrent upload streams")
      ->capture_default_str();
  command->add_flag(
      "--complete", options->complete,
      "After uploading, mark every study of the upload complete with its instance count");
  command->add_option(
      "--request-id", options->request_id,
      "Idempotency id of this upload (default: random); rerunning with the same id continues it");
  command->callback([options, &exit_code] { exit_code = Run(*options); });
}

}  // namespace tributary::cli
