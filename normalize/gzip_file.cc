#include "normalize/gzip_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "common/parallel.h"

namespace tributary::normalize {
namespace {

constexpr std::size_t kBlock = 128 * 1024;      // input bytes per deflate job (pigz's default)
constexpr std::size_t kDictionary = 32 * 1024;  // deflate's window: each block sees the last 32 KiB
constexpr std::size_t kBlocksPerRound = 64;     // compressed blocks held before being written

struct Compressed {
  std::string bytes;
  std::uint32_t crc = 0;
  bool ok = false;
};

// Raw deflate of input[begin, end), primed with the 32 KiB of `input` before `begin`; a sync
// flush ends it on a byte boundary unless it is the last block, which finishes the stream.
Compressed DeflateBlock(std::string_view input, std::size_t begin, std::size_t end, int level,
                        bool last) {
  Compressed out;
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return out;
  if (begin > 0) {
    std::size_t from = begin > kDictionary ? begin - kDictionary : 0;
    deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(input.data() + from),
                         static_cast<uInt>(begin - from));
  }
  out.bytes.resize(deflateBound(&z, static_cast<uLong>(end - begin)) + 16);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data() + begin));
  z.avail_in = static_cast<uInt>(end - begin);
  std::size_t produced = 0;
  int rc = Z_OK;
  do {  // deflateBound plus the flush marker is enough; grow anyway rather than cut the block
    if (produced == out.bytes.size()) out.bytes.resize(out.bytes.size() * 2);
    z.next_out = reinterpret_cast<Bytef*>(out.bytes.data() + produced);
    z.avail_out = static_cast<uInt>(out.bytes.size() - produced);
    rc = deflate(&z, last ? Z_FINISH : Z_SYNC_FLUSH);
    produced = out.bytes.size() - z.avail_out;
  } while ((rc == Z_OK || rc == Z_BUF_ERROR) && z.avail_out == 0);
  out.ok = last ? rc == Z_STREAM_END : (rc == Z_OK && z.avail_in == 0);
  out.bytes.resize(produced);
  deflateEnd(&z);
  out.crc = static_cast<std::uint32_t>(crc32(
      0, reinterpret_cast<const Bytef*>(input.data() + begin), static_cast<uInt>(end - begin)));
  return out;
}

absl::Status ErrnoError(const std::string& what) {
  return absl::InternalError(what + ": " + std::strerror(errno));
}

bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void PutLittleEndian32(std::string& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

// Reads input[offset, offset + length) into `out`; false on a read error or a short file.
bool ReadAt(int fd, std::size_t offset, std::size_t length, std::string& out) {
  out.resize(length);
  std::size_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, out.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

absl::Status GzipFile(const std::string& input, const std::string& output, unsigned threads,
                      int level) {
  int in = ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return ErrnoError("cannot read " + input);
  struct stat info {};
  if (::fstat(in, &info) != 0) {
    absl::Status status = ErrnoError("cannot read " + input);
    ::close(in);
    return status;
  }
  const std::size_t size = static_cast<std::size_t>(info.st_size);
  int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    absl::Status status = ErrnoError("cannot create " + output);
    ::close(in);
    return status;
  }
  auto fail = [&](absl::Status status) {
    ::close(in);
    ::close(fd);
    ::unlink(output.c_str());
    return status;
  };
  // Header: magic, deflate, no flags, no modification time, no extra flags, OS Unix (3).
  const char header[10] = {'\x1f', '\x8b', 8, 0, 0, 0, 0, 0, 0, 3};
  if (!WriteAll(fd, std::string_view(header, sizeof header)))
    return fail(ErrnoError("write " + output));

  // A round at a time: its blocks plus the 32 KiB before them are read into `window`, so memory
  // stays near 2 x 8 MiB whatever the file size.
  const std::size_t blocks = std::max<std::size_t>(1, (size + kBlock - 1) / kBlock);
  std::uint32_t crc = static_cast<std::uint32_t>(crc32(0, nullptr, 0));
  std::string window;
  for (std::size_t first = 0; first < blocks; first += kBlocksPerRound) {
    const std::size_t count = std::min(kBlocksPerRound, blocks - first);
    const std::size_t round_begin = std::min(first * kBlock, size);
    const std::size_t round_end = std::min((first + count) * kBlock, size);
    const std::size_t window_begin = round_begin > kDictionary ? round_begin - kDictionary : 0;
    if (!ReadAt(in, window_begin, round_end - window_begin, window)) {
      return fail(ErrnoError("cannot read " + input));
    }
    std::vector<Compressed> round(count);
    common::ParallelFor(count, threads, [&](std::size_t i) {
      const std::size_t block = first + i;
      const std::size_t begin = std::min(block * kBlock, size);
      const std::size_t end = std::min(begin + kBlock, size);
      round[i] = DeflateBlock(window, begin - window_begin, end - window_begin, level,
                              block + 1 == blocks);
    });
    for (std::size_t i = 0; i < count; ++i) {
      if (!round[i].ok) return fail(absl::InternalError("deflate failed for " + output));
      if (!WriteAll(fd, round[i].bytes)) return fail(ErrnoError("write " + output));
      const std::size_t block = first + i;
      const std::size_t length =
          std::min(size, (block + 1) * kBlock) - std::min(size, block * kBlock);
      crc = static_cast<std::uint32_t>(
          crc32_combine(crc, round[i].crc, static_cast<z_off_t>(length)));
    }
  }
  std::string trailer;
  PutLittleEndian32(trailer, crc);
  PutLittleEndian32(trailer, static_cast<std::uint32_t>(size & 0xFFFFFFFFu));
  if (!WriteAll(fd, trailer)) return fail(ErrnoError("write " + output));
  ::close(in);
  if (::close(fd) != 0) {
    ::unlink(output.c_str());
    return ErrnoError("close " + output);
  }
  return absl::OkStatus();
}

}  // namespace tributary::normalize
