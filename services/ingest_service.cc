#include "services/ingest_service.h"

#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <deque>
#include <mutex>

#include "common/hash.h"
#include "services/grpc_status.h"
#include "services/tokens.h"

namespace tributary::services {
namespace {

v1::OutcomeStatus ToProto(OutcomeStatus status) {
  switch (status) {
    case OutcomeStatus::kStored:
      return v1::STORED;
    case OutcomeStatus::kAlreadyStored:
      return v1::ALREADY_STORED;
    case OutcomeStatus::kConflict:
      return v1::CONFLICT;
    case OutcomeStatus::kRejected:
      return v1::REJECTED;
  }
  return v1::OUTCOME_STATUS_UNSPECIFIED;
}

v1::RejectReason ToProto(RejectReason reason) {
  switch (reason) {
    case RejectReason::kNone:
      return v1::REJECT_REASON_UNSPECIFIED;
    case RejectReason::kDigestMismatch:
      return v1::DIGEST_MISMATCH;
    case RejectReason::kSizeMismatch:
      return v1::SIZE_MISMATCH;
    case RejectReason::kTooLarge:
      return v1::TOO_LARGE;
    case RejectReason::kNotDicom:
      return v1::NOT_DICOM;
    case RejectReason::kMalformed:
      return v1::MALFORMED;
    case RejectReason::kNotStorageClass:
      return v1::NOT_STORAGE_CLASS;
    case RejectReason::kMissingAttribute:
      return v1::MISSING_ATTRIBUTE;
    case RejectReason::kBurnedInAnnotation:
      return v1::BURNED_IN_ANNOTATION;
    case RejectReason::kInternal:
      return v1::INTERNAL_ERROR;
  }
  return v1::REJECT_REASON_UNSPECIFIED;
}

}  // namespace

// One upload stream. Reads run ahead of the work (pipelining) within a budget of files and bytes in
// flight, so memory is bounded by the budget, not by the study. Outcomes are written as files
// finish.
class UploadReactor final : public grpc::ServerBidiReactor<v1::UploadRequest, v1::UploadResponse>,
                            public std::enable_shared_from_this<UploadReactor> {
 public:
  UploadReactor(IngestService& service, grpc::CallbackServerContext* context)
      : service_(service), context_(context) {}

  // The reactor owns itself until OnDone; every task it queues holds a reference too, so a task
  // that runs after a cancelled stream was answered still finds it. Authentication counts as work
  // in flight, like a file: the stream is not answered (and `context_` stays valid) until it ran.
  static UploadReactor* Start(IngestService& service, grpc::CallbackServerContext* context) {
    auto reactor = std::make_shared<UploadReactor>(service, context);
    reactor->self_ = reactor;
    reactor->authenticating_ = true;
    service.pool_.Submit([reactor] { reactor->Authenticate(); });
    return reactor.get();
  }

  void OnReadDone(bool ok) override {
    // Outside the lock, so that finished files are answered meanwhile: only the read path touches
    // `current_` and `request_`, and one read is pending at a time.
    if (ok) HashChunk();
    std::lock_guard lock(mutex_);
    read_pending_ = false;
    if (failed_) return MaybeFinishLocked();
    if (!ok) {
      reads_done_ = true;
      RejectIncompleteLocked();
      return MaybeFinishLocked();
    }
    absl::Status status = HandleLocked();
    if (!status.ok()) return FailLocked(status);
    if (HasBudgetLocked()) {
      StartReadLocked();
    } else {
      paused_ = true;
    }
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (!ok) {
      pending_writes_.clear();
      failed_ = true;
      final_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }
    StartWriteLocked();
    MaybeFinishLocked();
  }

  void OnCancel() override {
    std::lock_guard lock(mutex_);
    if (!failed_) {
      failed_ = true;
      final_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    MaybeFinishLocked();
  }

  void OnDone() override {
    std::shared_ptr<UploadReactor> self;
    std::lock_guard lock(mutex_);
    self_.swap(self);  // `self` may hold the last reference: released after the lock
  }

 private:
  void Authenticate() {
    provenance::Principal principal;
    absl::Status allowed = service_.authenticator_.Authorize(*context_, kUpload, principal);
    std::lock_guard lock(mutex_);
    authenticating_ = false;
    principal_ = principal;
    if (!allowed.ok()) return FailLocked(allowed);
    if (failed_) return MaybeFinishLocked();  // cancelled while waiting
    StartReadLocked();
  }

  struct PendingFile {
    v1::FileHeader header;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    std::string bytes;
    Sha256Hasher hasher;                              // over the chunks as they arrive
    std::string received_sha256;                      // set when the bytes are complete
    RejectReason early_reject = RejectReason::kNone;  // refused before its bytes were complete
    std::string detail;
  };

  // The chunk's bytes go into its file's digest as they arrive, so the file is not read again for
  // it. A chunk the handler refuses (too many bytes, no header) fails the stream anyway.
  void HashChunk() {
    if (request_.part_case() != v1::UploadRequest::kChunk || !current_ || skip_bytes_ > 0 ||
        current_->early_reject != RejectReason::kNone)
      return;
    current_->hasher.Update(request_.chunk());
  }

  // The previous file's bytes stopped short (a new header, or the end of the stream): refuse it.
  void RejectIncompleteLocked() {
    skip_bytes_ = 0;
    if (!current_) return;
    current_->early_reject = RejectReason::kSizeMismatch;
    current_->detail = "received " + std::to_string(current_->bytes.size()) + " of the " +
                       std::to_string(current_->header.size()) + " bytes the header declared";
    current_->bytes.clear();
    DispatchLocked();
  }

  absl::Status HandleLocked() {
    switch (request_.part_case()) {
      case v1::UploadRequest::kStart:
        if (upload_id_ != 0 || current_ || files_seen_ > 0) {
          return absl::InvalidArgumentError("UploadStart must be the first message");
        }
        request_id_ = request_.start().request_id();
        if (request_id_.size() > 200)
          return absl::InvalidArgumentError("request_id longer than 200 characters");
        return absl::OkStatus();
      case v1::UploadRequest::kHeader: {
        RejectIncompleteLocked();
        const v1::FileHeader& header = request_.header();
        if (!IngestPipeline::IsSha256Hex(header.sha256())) {
          return absl::InvalidArgumentError("FileHeader.sha256 must be 64 lower-case hex digits");
        }
        ++files_seen_;
        if (header.size() > service_.limits_.max_file_bytes) {
          // Refused at once; its bytes are read and dropped, never buffered.
          current_ = std::make_unique<PendingFile>();
          current_->header = header;
          current_->early_reject = RejectReason::kTooLarge;
          current_->detail = "file of " + std::to_string(header.size()) +
                             " bytes exceeds the limit of " +
                             std::to_string(service_.limits_.max_file_bytes);
          DispatchLocked();
          skip_bytes_ = header.size();
          return absl::OkStatus();
        }
        current_ = std::make_unique<PendingFile>();
        current_->header = header;
        if (header.size() == 0) DispatchLocked();
        return absl::OkStatus();
      }
      case v1::UploadRequest::kChunk: {
        const std::string& chunk = request_.chunk();
        service_.metrics_.AddReceivedBytes(principal_.centre_name, chunk.size());
        if (skip_bytes_ > 0) {
          if (chunk.size() > skip_bytes_)
            return absl::InvalidArgumentError("more bytes than the header declared");
          skip_bytes_ -= chunk.size();
          return absl::OkStatus();
        }
        if (!current_) return absl::InvalidArgumentError("a chunk arrived without a FileHeader");
        if (current_->bytes.size() + chunk.size() > current_->header.size()) {
          return absl::InvalidArgumentError("file " + current_->header.file_id() +
                                            ": more bytes than the header declared");
        }
        if (current_->bytes.empty() && chunk.size() == current_->header.size()) {
          current_->bytes.swap(*request_.mutable_chunk());  // a whole file in one chunk: no copy
        } else {
          if (current_->bytes.empty()) current_->bytes.reserve(current_->header.size());
          current_->bytes.append(chunk);
        }
        if (current_->bytes.size() == current_->header.size()) DispatchLocked();
        return absl::OkStatus();
      }
      case v1::UploadRequest::PART_NOT_SET:
        return absl::InvalidArgumentError("empty UploadRequest");
    }
    return absl::OkStatus();
  }

  void DispatchLocked() {
    std::shared_ptr<PendingFile> file(std::move(current_));
    if (file->early_reject == RejectReason::kNone)
      file->received_sha256 = ToHex(file->hasher.Finish());
    ++files_in_flight_;
    bytes_in_flight_ += file->bytes.size();
    service_.pool_.Submit([this, self = shared_from_this(), file] {
      // A serialization failure or deadlock (ABORTED) is cured by running the file again.
      absl::StatusOr<IngestOutcome> outcome = Process(*file);
      for (int retry = 0; retry < 3 && absl::IsAborted(outcome.status()); ++retry)
        outcome = Process(*file);
      std::lock_guard lock(mutex_);
      --files_in_flight_;
      bytes_in_flight_ -= file->bytes.size();
      // One file never ends the stream: a failure on it (other than the database being out of
      // reach, which the whole stream must retry) answers that file, nothing stored. The status
      // message is not passed on: it may quote what the file held.
      if (!outcome.ok() && outcome.status().code() != absl::StatusCode::kUnavailable) {
        spdlog::warn("upload {}: a file failed ({}); answered INTERNAL_ERROR", upload_id_,
                     absl::StatusCodeToString(outcome.status().code()));
        IngestOutcome failed;
        failed.status = OutcomeStatus::kRejected;
        failed.reason = RejectReason::kInternal;
        failed.detail = "the server failed on this file (" +
                        absl::StatusCodeToString(outcome.status().code()) +
                        "); nothing was stored: keep the file and send it again later";
        outcome = std::move(failed);
      }
      if (!outcome.ok()) {
        spdlog::warn("upload {}: file not stored, stream failed: {}", upload_id_,
                     outcome.status().ToString());
        service_.metrics_.FileUnanswered(principal_.centre_name);
        FailLocked(outcome.status());
        return;
      }
      service_.metrics_.FileAnswered(principal_.centre_name, outcome->status, outcome->reason,
                                     std::chrono::steady_clock::now() - file->started);
      v1::UploadResponse response;
      auto* proto = response.mutable_outcome();
      proto->set_file_id(file->header.file_id());
      proto->set_status(ToProto(outcome->status));
      proto->set_reject_reason(ToProto(outcome->reason));
      proto->set_detail(outcome->detail);
      proto->set_study_instance_uid(outcome->study_uid);
      proto->set_series_instance_uid(outcome->series_uid);
      proto->set_sop_instance_uid(outcome->sop_instance_uid);
      proto->set_blob_sha256(outcome->blob_sha256);
      ++outcome_counts_[static_cast<std::size_t>(outcome->status)];
      pending_writes_.push_back(std::move(response));
      StartWriteLocked();
      if (paused_ && !failed_ && HasBudgetLocked()) {
        paused_ = false;
        StartReadLocked();
      }
      MaybeFinishLocked();
    });
  }

  absl::StatusOr<IngestOutcome> Process(const PendingFile& file) {
    std::int64_t upload_id = 0;
    provenance::CentrePolicy centre_policy;
    {
      std::lock_guard lock(upload_mutex_);
      if (upload_id_ == 0) {
        std::string request_id =
            request_id_.empty() ? "server-" + NewToken().substr(4, 32) : request_id_;
        // The centre's policy as it is when the stream starts applies to the whole stream.
        TRIB_ASSIGN_OR_RETURN(centre_policy_,
                              service_.repository_.GetCentrePolicy(principal_.centre_id));
        TRIB_ASSIGN_OR_RETURN(upload_id_, service_.repository_.StartUpload(principal_, request_id));
      }
      upload_id = upload_id_;
      centre_policy = centre_policy_;
    }
    if (file.early_reject != RejectReason::kNone) {
      return service_.pipeline_.Reject(upload_id, file.header.sha256(), file.early_reject,
                                       file.detail);
    }
    return service_.pipeline_.Ingest(principal_, upload_id, file.header.sha256(),
                                     file.received_sha256, file.bytes, centre_policy);
  }

  bool HasBudgetLocked() const {
    return files_in_flight_ < service_.limits_.max_files_in_flight &&
           bytes_in_flight_ < service_.limits_.max_buffered_bytes;
  }

  void StartReadLocked() {
    read_pending_ = true;
    StartRead(&request_);
  }

  void StartWriteLocked() {
    if (writing_ || pending_writes_.empty() || finished_) return;
    writing_ = true;
    write_ = std::move(pending_writes_.front());
    pending_writes_.pop_front();
    StartWrite(&write_);
  }

  void FailLocked(const absl::Status& status) {
    if (!failed_) {
      failed_ = true;
      final_status_ = ToGrpcStatus(status);
    }
    MaybeFinishLocked();
  }

  void MaybeFinishLocked() {
    if (finished_ || authenticating_ || files_in_flight_ > 0 || writing_ ||
        !pending_writes_.empty())
      return;
    if (!failed_ && !reads_done_) return;
    finished_ = true;
    // One line per stream for operators: counts and codes only, never names or identifiers.
    if (files_seen_ > 0) {
      spdlog::info(
          "upload {} from {}: {} files: {} stored, {} already stored, {} conflict, {} rejected{}",
          upload_id_, principal_.centre_name, files_seen_, outcome_counts_[0], outcome_counts_[1],
          outcome_counts_[2], outcome_counts_[3],
          failed_ ? "; stream ended: " + final_status_.error_message() : "");
    }
    // The audit entry is written before the stream is answered (on the pool: it may wait).
    grpc::Status status = failed_ ? final_status_ : grpc::Status::OK;
    std::string object =
        "upload=" + std::to_string(upload_id_) + " files=" + std::to_string(files_seen_);
    service_.pool_.Submit([this, self = shared_from_this(), status, object,
                           principal = principal_] {
      service_.authenticator_.Conclude(
          *context_, kUpload, principal, object,
          absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message()));
      Finish(status);
    });
  }

  static constexpr std::string_view kUpload = "/tributary.v1.Ingest/Upload";
  IngestService& service_;
  grpc::CallbackServerContext* context_;
  std::mutex mutex_;
  std::mutex upload_mutex_;
  provenance::Principal principal_;
  std::string request_id_;
  std::int64_t upload_id_ = 0;
  provenance::CentrePolicy centre_policy_;  // guarded by upload_mutex_
  v1::UploadRequest request_;
  v1::UploadResponse write_;
  std::deque<v1::UploadResponse> pending_writes_;
  std::unique_ptr<PendingFile> current_;
  std::uint64_t skip_bytes_ = 0;
  std::uint64_t files_seen_ = 0;
  std::array<std::uint64_t, 4> outcome_counts_{};  // by OutcomeStatus
  unsigned files_in_flight_ = 0;
  std::uint64_t bytes_in_flight_ = 0;
  bool read_pending_ = false;
  bool reads_done_ = false;
  bool paused_ = false;
  bool writing_ = false;
  bool failed_ = false;
  bool finished_ = false;
  grpc::Status final_status_;
  bool authenticating_ = false;
  std::shared_ptr<UploadReactor> self_;
};

grpc::ServerBidiReactor<v1::UploadRequest, v1::UploadResponse>* IngestService::Upload(
    grpc::CallbackServerContext* context) {
  return UploadReactor::Start(*this, context);
}

template <typename Body>
grpc::ServerUnaryReactor* IngestService::Serve(grpc::CallbackServerContext* context,
                                               std::string_view method, Body body) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  pool_.Submit([this, context, method, body, reactor] {
    provenance::Principal principal;
    std::string object;
    absl::Status status = authenticator_.Authorize(*context, method, principal);
    if (status.ok()) status = body(principal, object);
    reactor->Finish(authenticator_.Conclude(*context, method, principal, object, status));
  });
  return reactor;
}

grpc::ServerUnaryReactor* IngestService::FindStored(grpc::CallbackServerContext* context,
                                                    const v1::FindStoredRequest* request,
                                                    v1::FindStoredResponse* response) {
  return Serve(context, "/tributary.v1.Ingest/FindStored",
               [this, request, response](const provenance::Principal& principal,
                                         std::string& object) -> absl::Status {
                 object = "digests=" + std::to_string(request->sha256_size());
                 if (request->sha256_size() > 10000)
                   return absl::InvalidArgumentError("at most 10000 digests a call");
                 std::map<std::string, std::string> by_keyed;
                 std::vector<std::string> keyed;
                 for (const std::string& digest : request->sha256()) {
                   if (!IngestPipeline::IsSha256Hex(digest))
                     return absl::InvalidArgumentError("not a lower-case SHA-256 hex digest: " +
                                                       digest.substr(0, 80));
                   keyed.push_back(pipeline_.KeyedDigest(digest));
                   by_keyed[keyed.back()] = digest;
                 }
                 TRIB_ASSIGN_OR_RETURN(auto stored,
                                       repository_.FindStored(principal.centre_id, keyed));
                 for (const auto& [k, study] : stored) {
                   v1::StoredFile* file = response->add_stored();
                   file->set_sha256(by_keyed[k]);
                   file->set_study_instance_uid(study);
                 }
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* IngestService::CompleteStudy(grpc::CallbackServerContext* context,
                                                       const v1::CompleteStudyRequest* request,
                                                       v1::CompleteStudyResponse* response) {
  return Serve(context, "/tributary.v1.Ingest/CompleteStudy",
               [this, request, response](const provenance::Principal& principal,
                                         std::string& object) -> absl::Status {
                 if (request->study_instance_uid().empty())
                   return absl::InvalidArgumentError("study_instance_uid is required");
                 TRIB_ASSIGN_OR_RETURN(
                     auto completion,
                     repository_.CompleteStudy(principal, request->study_instance_uid(),
                                               request->expected_instance_count()));
                 object = "study=" + std::to_string(completion.study_id);
                 if (completion.complete) {
                   // Harmonization jobs for the study's series; a failure here is answered as such,
                   // so the gateway completes the study again (idempotent), and the sweeper catches
                   // up after a crash.
                   TRIB_ASSIGN_OR_RETURN(auto queued,
                                         repository_.EnqueueForCompletedStudy(completion.study_id));
                   spdlog::info("study {} complete: {} harmonization jobs queued",
                                completion.study_id, queued.size());
                 }
                 response->set_stored_instance_count(
                     static_cast<std::uint32_t>(completion.stored_instance_count));
                 response->set_complete(completion.complete);
                 return absl::OkStatus();
               });
}

}  // namespace tributary::services
