#include "common/direct_file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace tributary {
namespace {

// O_DIRECT wants the buffer, the offset and the length aligned to the device's block size (512 or
// 4096 bytes).
constexpr std::size_t kAlignment = 4096;
constexpr std::size_t kBufferBytes = 1u << 20;

absl::Status ErrnoStatus(const std::string& what) {
  if (errno == ENOSPC || errno == EDQUOT) return absl::ResourceExhaustedError(what + ": disk full");
  return absl::InternalError(what + ": " + std::strerror(errno));
}

}  // namespace

// Aligned buffers are kept per thread and reused, so that their pages stay faulted in.
struct DirectFileWriter::Buffer {
  using Memory = std::unique_ptr<char, decltype(&std::free)>;
  Memory memory{nullptr, &std::free};

  static std::vector<Memory>& Spares() {
    thread_local std::vector<Memory> spares;
    return spares;
  }
  static std::unique_ptr<Buffer> Take() {
    auto buffer = std::make_unique<Buffer>();
    auto& spares = Spares();
    if (!spares.empty()) {
      buffer->memory = std::move(spares.back());
      spares.pop_back();
    } else {
      buffer->memory =
          Memory(static_cast<char*>(std::aligned_alloc(kAlignment, kBufferBytes)), &std::free);
    }
    return buffer->memory ? std::move(buffer) : nullptr;
  }
  ~Buffer() {
    auto& spares = Spares();
    if (memory && spares.size() < 2) spares.push_back(std::move(memory));
  }
};

DirectFileWriter::DirectFileWriter(std::string path, int fd, bool direct)
    : path_(std::move(path)), fd_(fd), direct_(direct) {
  if (direct_) buffer_ = Buffer::Take();
  if (!buffer_) direct_ = false;
}

DirectFileWriter::~DirectFileWriter() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::unique_ptr<DirectFileWriter>> DirectFileWriter::Create(
    const std::string& path, int flags, mode_t mode, std::size_t expected_size) {
  flags |= O_WRONLY | O_CLOEXEC;
  bool direct = expected_size >= kAlignment;
  int fd = direct ? ::open(path.c_str(), flags | O_DIRECT, mode) : -1;
  if (fd < 0 && (!direct || errno == EINVAL)) {  // EINVAL: this filesystem has no O_DIRECT
    direct = false;
    fd = ::open(path.c_str(), flags, mode);
  }
  if (fd < 0) return ErrnoStatus("cannot create " + path);
  return std::unique_ptr<DirectFileWriter>(new DirectFileWriter(path, fd, direct));
}

absl::Status DirectFileWriter::Fail(const std::string& what) {
  absl::Status status = ErrnoStatus(what + " " + path_);
  ::close(fd_);
  fd_ = -1;
  return status;
}

// Leaves O_DIRECT: what is in the buffer and all that follows goes through the page cache.
absl::Status DirectFileWriter::WriteBuffered(std::size_t upto) {
  if (direct_) {
    int flags = ::fcntl(fd_, F_GETFL);
    if (flags < 0 || ::fcntl(fd_, F_SETFL, flags & ~O_DIRECT) != 0) return Fail("fcntl");
    direct_ = false;
  }
  std::size_t done = 0;
  while (done < upto) {
    ssize_t n = ::pwrite(fd_, buffer_->memory.get() + done, upto - done, offset_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail("write");
    done += static_cast<std::size_t>(n);
    offset_ += n;
  }
  filled_ = 0;
  return absl::OkStatus();
}

absl::Status DirectFileWriter::Append(std::string_view bytes) {
  if (fd_ < 0) return absl::FailedPreconditionError(path_ + " is closed");
  size_ += bytes.size();
  if (!direct_ && filled_ == 0) {
    while (!bytes.empty()) {
      ssize_t n = ::pwrite(fd_, bytes.data(), bytes.size(), offset_);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Fail("write");
      bytes.remove_prefix(static_cast<std::size_t>(n));
      offset_ += n;
    }
    return absl::OkStatus();
  }
  while (!bytes.empty()) {
    std::size_t n = std::min(bytes.size(), kBufferBytes - filled_);
    std::memcpy(buffer_->memory.get() + filled_, bytes.data(), n);
    filled_ += n;
    bytes.remove_prefix(n);
    if (filled_ < kBufferBytes) break;
    if (!direct_) {
      TRIB_RETURN_IF_ERROR(WriteBuffered(filled_));
      continue;
    }
    ssize_t done = ::pwrite(fd_, buffer_->memory.get(), filled_, offset_);
    if (done < 0 && errno == EINTR) done = ::pwrite(fd_, buffer_->memory.get(), filled_, offset_);
    if (done == static_cast<ssize_t>(filled_)) {
      offset_ += done;
      filled_ = 0;
      continue;
    }
    if (done < 0 && errno != EINVAL) return Fail("write");
    // Refused (EINVAL: this device wants another alignment) or short: the rest goes buffered,
    // where an error is reported as such.
    if (done > 0) {
      offset_ += done;
      std::memmove(buffer_->memory.get(), buffer_->memory.get() + done, filled_ - done);
      filled_ -= static_cast<std::size_t>(done);
    }
    TRIB_RETURN_IF_ERROR(WriteBuffered(filled_));
  }
  return absl::OkStatus();
}

absl::Status DirectFileWriter::Finish() {
  if (fd_ < 0) return absl::FailedPreconditionError(path_ + " is closed");
  if (direct_ && filled_ >= kAlignment) {
    std::size_t aligned = filled_ / kAlignment * kAlignment;
    ssize_t done = ::pwrite(fd_, buffer_->memory.get(), aligned, offset_);
    if (done < 0 && errno != EINVAL && errno != EINTR) return Fail("write");
    if (done > 0) {
      offset_ += done;
      std::memmove(buffer_->memory.get(), buffer_->memory.get() + done, filled_ - done);
      filled_ -= static_cast<std::size_t>(done);
    }
  }
  if (filled_ > 0) TRIB_RETURN_IF_ERROR(WriteBuffered(filled_));
  if (::fdatasync(fd_) != 0) return Fail("fdatasync");
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) return ErrnoStatus("close " + path_);
  return absl::OkStatus();
}

}  // namespace tributary
