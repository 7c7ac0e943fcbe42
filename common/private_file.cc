#include "common/private_file.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tributary {

absl::Status WriteNewPrivateFile(const std::string& path, std::string_view content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return absl::AlreadyExistsError(path + " already exists; refusing to overwrite it");
    return absl::PermissionDeniedError("cannot create " + path + ": " + std::strerror(errno));
  }
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
            ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok) {
    int error = errno;
    ::unlink(path.c_str());
    return absl::InternalError("cannot write " + path + ": " + std::strerror(error));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadPrivateFile(const std::string& path, std::string_view what,
                                            std::size_t max_bytes) {
  std::string name = std::string(what) + " " + path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return absl::NotFoundError("cannot read " + name + ": " + std::strerror(errno));
  struct stat info {};
  absl::Status checked = absl::OkStatus();
  if (::fstat(fd, &info) != 0) {
    checked = absl::PermissionDeniedError("cannot stat " + name + ": " + std::strerror(errno));
  } else if (!S_ISREG(info.st_mode)) {
    checked = absl::PermissionDeniedError(name + " is not a regular file");
  } else if (info.st_uid != ::geteuid()) {
    checked = absl::PermissionDeniedError(name + " belongs to uid " + std::to_string(info.st_uid) +
                                          ", not to this process's user (uid " +
                                          std::to_string(::geteuid()) + ")");
  } else if ((info.st_mode & 077) != 0) {
    checked = absl::PermissionDeniedError(
        name + " is accessible by group or others; run: chmod 600 " + path);
  } else if (static_cast<std::size_t>(info.st_size) > max_bytes) {
    checked = absl::InvalidArgumentError(name + " is larger than " + std::to_string(max_bytes) +
                                         " bytes");
  }
  if (!checked.ok()) {
    ::close(fd);
    return checked;
  }
  std::string content(max_bytes + 1, '\0');
  std::size_t length = 0;
  while (length < content.size()) {
    ssize_t n = ::read(fd, content.data() + length, content.size() - length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n < 0) checked = absl::InternalError("cannot read " + name + ": " + std::strerror(errno));
      break;
    }
    length += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (checked.ok() && length > max_bytes)
    checked = absl::InvalidArgumentError(name + " is larger than " + std::to_string(max_bytes) +
                                         " bytes");
  if (!checked.ok()) {
    WipeSecret(content);
    return checked;
  }
  // Shrink in place (no copy of the secret is left behind in a reallocated buffer).
  OPENSSL_cleanse(content.data() + length, content.size() - length);
  content.resize(length);
  return content;
}

void WipeSecret(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

}  // namespace tributary
