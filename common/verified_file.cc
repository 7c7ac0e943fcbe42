#include "common/verified_file.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <vector>

#include "common/hash.h"

namespace tributary {

namespace fs = std::filesystem;

absl::StatusOr<FileDigest> DigestFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + path);
  Sha256Hasher hasher;
  std::vector<char> buffer(1 << 20);
  FileDigest digest;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    std::streamsize n = in.gcount();
    if (n <= 0) break;
    hasher.Update(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    digest.size += static_cast<std::uint64_t>(n);
  }
  if (in.bad()) return absl::DataLossError("read error on " + path);
  digest.sha256 = ToHex(hasher.Finish());
  return digest;
}

absl::StatusOr<FileDigest> WriteFileVerified(const std::string& path, std::string_view bytes) {
  static std::atomic<unsigned> counter{0};
  fs::path target(path);
  std::error_code error;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), error);
  if (error) {
    return absl::PermissionDeniedError("cannot create " + target.parent_path().string() + ": " +
                                       error.message());
  }
  fs::path temp = target;
  temp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      fs::remove(temp, error);
      return absl::ResourceExhaustedError("cannot write " + temp.string());
    }
  }
  absl::StatusOr<FileDigest> written = DigestFile(temp.string());
  FileDigest expected{ToHex(Sha256(bytes)), bytes.size()};
  if (!written.ok() || written->sha256 != expected.sha256 || written->size != expected.size) {
    fs::remove(temp, error);
    return absl::DataLossError("what was written to " + temp.string() + " does not read back");
  }
  fs::rename(temp, target, error);
  if (error) {
    fs::remove(temp, error);
    return absl::InternalError("cannot rename into " + path + ": " + error.message());
  }
  return expected;
}

}  // namespace tributary
