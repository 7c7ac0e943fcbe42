#include "common/private_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tributary {

absl::Status WriteNewPrivateFile(const std::string& path, std::string_view content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
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

}  // namespace tributary
