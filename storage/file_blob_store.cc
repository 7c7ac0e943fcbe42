#include "storage/file_blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <unordered_set>

#include "common/direct_file_writer.h"
#include "common/hash.h"

namespace tributary::storage {
namespace {

namespace fs = std::filesystem;

absl::Status SyncDirectory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return absl::InternalError("cannot open " + dir.string() + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::InternalError("fsync " + dir.string() + ": " + std::strerror(errno));
  return absl::OkStatus();
}

absl::Status ErrnoStatus(const std::string& what) {
  if (errno == ENOSPC || errno == EDQUOT) return absl::ResourceExhaustedError(what + ": disk full");
  return absl::InternalError(what + ": " + std::strerror(errno));
}

}  // namespace

// A blob is acknowledged only once the folder entries leading to it are durable too. A fan-out
// folder is used once its parent has been fsynced after its creation, in this process (a folder
// found on disk may come from a run that crashed before syncing it). One lock per top-level folder.
struct FileBlobStore::Folders {
  std::array<std::mutex, 256> creating;
  std::mutex mutex;
  std::unordered_set<std::string> durable;  // "ab" and "ab/cd"

  bool IsDurable(const std::string& key) {
    std::lock_guard lock(mutex);
    return durable.count(key) > 0;
  }
  void SetDurable(const std::string& key) {
    std::lock_guard lock(mutex);
    durable.insert(key);
  }
};

FileBlobStore::FileBlobStore(std::string root)
    : root_(std::move(root)), folders_(std::make_shared<Folders>()) {}

absl::Status FileBlobStore::EnsureFolders(const std::string& sha256) const {
  std::string top = sha256.substr(0, 2);
  std::string leaf = top + "/" + sha256.substr(2, 2);
  if (folders_->IsDurable(leaf)) return absl::OkStatus();
  std::lock_guard lock(folders_->creating[std::stoi(top, nullptr, 16)]);
  if (folders_->IsDurable(leaf)) return absl::OkStatus();
  fs::path sha_root = fs::path(root_) / "sha256";
  std::error_code error;
  if (!folders_->IsDurable(top)) {
    fs::create_directory(sha_root / top, error);
    if (error) return absl::InternalError("cannot create " + top + ": " + error.message());
    TRIB_RETURN_IF_ERROR(SyncDirectory(sha_root));
    folders_->SetDurable(top);
  }
  fs::create_directory(sha_root / leaf, error);
  if (error) return absl::InternalError("cannot create " + leaf + ": " + error.message());
  TRIB_RETURN_IF_ERROR(SyncDirectory(sha_root / top));
  folders_->SetDurable(leaf);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<FileBlobStore>> FileBlobStore::Open(const std::string& root) {
  std::error_code error;
  fs::create_directories(fs::path(root) / "tmp", error);
  if (error)
    return absl::PermissionDeniedError("cannot create blob store " + root + ": " + error.message());
  fs::create_directories(fs::path(root) / "sha256", error);
  if (error) {
    return absl::PermissionDeniedError("cannot create blob store " + root +
                                       "/sha256: " + error.message());
  }
  // Leftovers of writes interrupted by a crash are never referenced: clear them.
  for (const auto& entry : fs::directory_iterator(fs::path(root) / "tmp", error))
    fs::remove(entry.path(), error);
  return std::unique_ptr<FileBlobStore>(new FileBlobStore(root));
}

std::string FileBlobStore::PathOf(const std::string& sha256) const {
  return (fs::path(root_) / "sha256" / sha256.substr(0, 2) / sha256.substr(2, 2) / sha256).string();
}

absl::StatusOr<BlobStore::Stored> FileBlobStore::Put(std::string_view bytes) const {
  return PutWithSha256(bytes, ToHex(Sha256(bytes)));
}

absl::StatusOr<BlobStore::Stored> FileBlobStore::PutWithSha256(std::string_view bytes,
                                                               const std::string& sha256) const {
  static std::atomic<std::uint64_t> counter{0};
  Stored stored{sha256, false};
  fs::path final_path = PathOf(stored.sha256);
  struct stat info {};
  if (::stat(final_path.c_str(), &info) == 0 &&
      static_cast<std::size_t>(info.st_size) == bytes.size()) {
    // Written before, or by a concurrent Put that may not have synced its folders yet.
    TRIB_RETURN_IF_ERROR(EnsureFolders(stored.sha256));
    TRIB_RETURN_IF_ERROR(SyncDirectory(final_path.parent_path()));
    stored.existed = true;
    return stored;
  }
  fs::path temp =
      fs::path(root_) / "tmp" /
      (stored.sha256 + "." + std::to_string(::getpid()) + "." + std::to_string(counter++));
  // Durability is fdatasync's, direct or not: it makes the data, the size and the extents durable.
  auto writer = DirectFileWriter::Create(temp.string(), O_CREAT | O_EXCL, 0640, bytes.size());
  if (!writer.ok()) return writer.status();
  if (absl::Status written = (*writer)->Append(bytes); !written.ok()) {
    ::unlink(temp.c_str());
    return written;
  }
  if (absl::Status finished = (*writer)->Finish(); !finished.ok()) {
    ::unlink(temp.c_str());
    return finished;
  }
  if (absl::Status folders = EnsureFolders(stored.sha256); !folders.ok()) {
    ::unlink(temp.c_str());
    return folders;
  }
  if (::rename(temp.c_str(), final_path.c_str()) != 0) {
    absl::Status status = ErrnoStatus("rename into " + final_path.string());
    ::unlink(temp.c_str());
    return status;
  }
  TRIB_RETURN_IF_ERROR(SyncDirectory(final_path.parent_path()));
  return stored;
}

absl::StatusOr<std::string> FileBlobStore::Read(const std::string& sha256) const {
  std::ifstream in(PathOf(sha256), std::ios::binary);
  if (!in) return absl::NotFoundError("blob " + sha256 + " not found");
  std::stringstream content;
  content << in.rdbuf();
  std::string bytes = content.str();
  if (ToHex(Sha256(bytes)) != sha256)
    return absl::DataLossError("blob " + sha256 + " does not match its SHA-256");
  return bytes;
}

namespace {

class FileReader final : public BlobReader {
 public:
  explicit FileReader(const std::string& path) : in_(path, std::ios::binary) {}
  bool ok() const { return static_cast<bool>(in_); }
  absl::StatusOr<std::size_t> Read(char* buffer, std::size_t max) override {
    in_.read(buffer, static_cast<std::streamsize>(max));
    if (in_.bad()) return absl::InternalError("cannot read a blob file");
    return static_cast<std::size_t>(in_.gcount());
  }

 private:
  std::ifstream in_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<BlobReader>> FileBlobStore::OpenReader(
    const std::string& sha256) const {
  auto reader = std::make_unique<FileReader>(PathOf(sha256));
  if (!reader->ok()) return absl::NotFoundError("blob " + sha256 + " not found");
  return reader;
}

}  // namespace tributary::storage
