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

class SecretKeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("trib_key_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

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
