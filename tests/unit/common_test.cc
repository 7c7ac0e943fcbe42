#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/direct_file_writer.h"
#include "common/hash.h"
#include "common/parallel.h"
#include "common/secret_key.h"
#include "common/volume.h"

namespace tributary {
namespace {

TEST(Sha256, MatchesKnownVectors) {
  EXPECT_EQ(ToHex(Sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(ToHex(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Hasher, IncrementalEqualsOneShot) {
  Sha256Hasher hasher;
  hasher.Update("a");
  hasher.Update("bc");
  EXPECT_EQ(ToHex(hasher.Finish()), ToHex(Sha256("abc")));
}

TEST(HmacSha256, MatchesRfc4231Case2) {
  EXPECT_EQ(ToHex(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// A fresh folder per test, named after it.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("trib_common_" + std::to_string(::getpid()) + "_" + test->test_suite_name() + "_" +
            test->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

class SecretKeyFile : public TempDirTest {};

TEST_F(SecretKeyFile, WriteNewFileIsOwnerOnlyAndReadsBack) {
  SecretKey key = SecretKey::Generate();
  std::string path = (dir_ / "key").string();
  ASSERT_TRUE(key.WriteNewFile(path).ok());
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  auto loaded = SecretKey::FromFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->bytes(), key.bytes());
  EXPECT_EQ(loaded->bytes().size(), SecretKey::kBytes);
}

TEST_F(SecretKeyFile, RefusesToOverwrite) {
  std::string path = (dir_ / "key").string();
  ASSERT_TRUE(SecretKey::Generate().WriteNewFile(path).ok());
  absl::Status second = SecretKey::Generate().WriteNewFile(path);
  EXPECT_EQ(second.code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(SecretKeyFile, RefusesGroupReadableFile) {
  std::string path = (dir_ / "key").string();
  ASSERT_TRUE(SecretKey::Generate().WriteNewFile(path).ok());
  ::chmod(path.c_str(), 0640);
  EXPECT_EQ(SecretKey::FromFile(path).status().code(), absl::StatusCode::kPermissionDenied);
}

class DirectFileWriterTest : public TempDirTest {
 protected:
  static std::string ReadBack(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

// Sizes around the block (4096) and buffer (1 MiB) boundaries, appended in pieces of odd sizes:
// what reads back through an ordinary stream is exactly what was appended.
TEST_F(DirectFileWriterTest, WhatReadsBackIsWhatWasAppended) {
  const std::vector<std::size_t> sizes = {0,
                                          1,
                                          4095,
                                          4096,
                                          4097,
                                          65536 + 17,
                                          (1u << 20) - 1,
                                          1u << 20,
                                          (1u << 20) + 1,
                                          3 * (1u << 20) + 4096 * 3 + 5};
  const std::vector<std::size_t> pieces = {1, 1000, 4096, 333333, 1u << 20, 5u << 20};
  std::uint32_t seed = 1;
  for (std::size_t size : sizes) {
    for (std::size_t piece : pieces) {
      std::string bytes(size, '\0');
      for (char& c : bytes) c = static_cast<char>((seed = seed * 1103515245u + 12345u) >> 24);
      auto path = dir_ / ("f" + std::to_string(size) + "_" + std::to_string(piece));
      auto writer = DirectFileWriter::Create(path.string(), O_CREAT | O_EXCL, 0600, size);
      ASSERT_TRUE(writer.ok()) << writer.status();
      for (std::size_t at = 0; at < size; at += piece)
        ASSERT_TRUE((*writer)->Append(std::string_view(bytes).substr(at, piece)).ok());
      EXPECT_EQ((*writer)->size(), size);
      ASSERT_TRUE((*writer)->Finish().ok());
      EXPECT_EQ(std::filesystem::file_size(path), size) << path;
      EXPECT_TRUE(ReadBack(path) == bytes) << path;
    }
  }
}

// The size announced is only a hint: a file larger than announced is still written whole.
TEST_F(DirectFileWriterTest, MoreThanAnnouncedIsWrittenWhole) {
  std::string bytes(3 * 4096 + 7, 'x');
  auto path = dir_ / "small_hint";
  auto writer = DirectFileWriter::Create(path.string(), O_CREAT | O_EXCL, 0600, 10);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append(bytes).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  EXPECT_EQ(ReadBack(path), bytes);
}

TEST_F(DirectFileWriterTest, ErrorsNameThePath) {
  auto missing = dir_ / "no" / "such" / "folder" / "f";
  auto writer = DirectFileWriter::Create(missing.string(), O_CREAT, 0600, 1 << 20);
  ASSERT_FALSE(writer.ok());
  EXPECT_NE(std::string(writer.status().message()).find(missing.string()), std::string::npos);

  auto existing = dir_ / "exists";
  std::ofstream(existing) << "keep";
  auto refused = DirectFileWriter::Create(existing.string(), O_CREAT | O_EXCL, 0600, 1 << 20);
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(ReadBack(existing), "keep");
}

TEST_F(DirectFileWriterTest, NothingMoreAfterFinish) {
  auto path = dir_ / "once";
  auto writer = DirectFileWriter::Create(path.string(), O_CREAT | O_EXCL, 0600, 8192);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append(std::string(8192, 'a')).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  EXPECT_EQ((*writer)->Append("more").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*writer)->Finish().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(std::filesystem::file_size(path), 8192u);
}

TEST(SecretKey, RejectsShortOrNonHexKeys) {
  EXPECT_FALSE(SecretKey::FromHex("abcd").ok());
  EXPECT_FALSE(SecretKey::FromHex(std::string(64, 'g')).ok());
  EXPECT_TRUE(SecretKey::FromHex(std::string(64, 'a') + "\n").ok());
}

TEST(SecretKey, GeneratedKeysDiffer) {
  EXPECT_NE(SecretKey::Generate().bytes(), SecretKey::Generate().bytes());
}

TEST(SecretKey, FromEnvironment) {
  ::setenv("TRIB_TEST_KEY", std::string(64, 'b').c_str(), 1);
  auto key = SecretKey::FromEnvironment("TRIB_TEST_KEY");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->bytes(), std::string(32, '\xbb'));
  ::unsetenv("TRIB_TEST_KEY");
  EXPECT_EQ(SecretKey::FromEnvironment("TRIB_TEST_KEY").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tributary

namespace tributary::common {
namespace {

TEST(ParallelFor, CallsEveryIndexExactlyOnce) {
  for (unsigned threads : {1u, 2u, 7u}) {
    for (std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{1000}}) {
      std::vector<std::atomic<int>> calls(count);
      ParallelFor(count, threads, [&](std::size_t i) { ++calls[i]; });
      for (std::size_t i = 0; i < count; ++i) {
        EXPECT_EQ(calls[i].load(), 1) << "index " << i << " of " << count << ", " << threads;
      }
    }
  }
}

TEST(ParallelFor, UsesSeveralThreadsWhenAsked) {
  std::mutex mutex;
  std::set<std::thread::id> seen;
  std::atomic<int> waiting{0};
  ParallelFor(2, 2, [&](std::size_t) {
    {
      std::lock_guard lock(mutex);
      seen.insert(std::this_thread::get_id());
    }
    // Each call waits until both have started: with one thread this would never return, so
    // give up after a while and let the expectation below fail instead.
    ++waiting;
    for (int spin = 0; waiting.load() < 2 && spin < 2000; ++spin) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  EXPECT_EQ(seen.size(), 2u);
}

TEST(VoxelBuffer, ResizeKeepsWhatWasWritten) {
  VoxelBuffer buffer;
  buffer.resize(3);
  buffer[0] = std::byte{1};
  buffer[1] = std::byte{2};
  buffer[2] = std::byte{3};
  buffer.resize(1000);
  EXPECT_EQ(buffer[0], std::byte{1});
  EXPECT_EQ(buffer[2], std::byte{3});
  VoxelBuffer copy = buffer;
  EXPECT_EQ(copy, buffer);
}

}  // namespace
}  // namespace tributary::common
