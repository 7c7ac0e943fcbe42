// storage::S3BlobStore against a real S3 API: Debian's OpenStack Swift with s3api, which checks
// every SigV4 signature (test_support::SwiftS3Server). What the store wrote is read back with
// curl's own SigV4, independently of the code under test.
#include "storage/s3_blob_store.h"

#include <gtest/gtest.h>

#include <thread>

#include "common/hash.h"
#include "storage/blob_store.h"
#include "tests/support/swift_s3_server.h"

namespace tributary::storage {
namespace {

class S3BlobStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto started = test_support::SwiftS3Server::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    swift_ = started->release();
    ASSERT_TRUE(swift_->CreateBucket("tributary").ok()) << swift_->LogTail();
  }
  static void TearDownTestSuite() {
    delete swift_;
    swift_ = nullptr;
  }
  absl::StatusOr<std::unique_ptr<S3BlobStore>> Open(SigV4Credentials credentials,
                                                    std::string prefix = "site/",
                                                    std::size_t threshold = 64u << 20) {
    return S3BlobStore::Open({swift_->endpoint(), "tributary", prefix, swift_->region()},
                             std::move(credentials), threshold, 5u << 20);
  }
  static SigV4Credentials Good() { return {swift_->access_key(), swift_->secret_key(), ""}; }
  static std::string Bytes(std::size_t n, int seed) {
    std::string bytes(n, '\0');
    for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>((i * 131 + seed) % 256);
    return bytes;
  }
  static test_support::SwiftS3Server* swift_;
};
test_support::SwiftS3Server* S3BlobStoreTest::swift_ = nullptr;

TEST_F(S3BlobStoreTest, PutReadAndStreamUnderTheContentAddress) {
  auto store = Open(Good());
  ASSERT_TRUE(store.ok()) << store.status() << swift_->LogTail();
  std::string bytes = Bytes(700000, 1);
  auto put = (*store)->Put(bytes);
  ASSERT_TRUE(put.ok()) << put.status() << swift_->LogTail();
  EXPECT_EQ(put->sha256, ToHex(Sha256(bytes)));
  EXPECT_FALSE(put->existed);
  auto again = (*store)->Put(bytes);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->existed) << "a blob stored before is not sent again";

  // curl reads the object at PREFIX/sha256/ab/cd/<sha256>: the layout the folder store uses.
  auto curl = swift_->Curl("/tributary/site/sha256/" + put->sha256.substr(0, 2) + "/" +
                               put->sha256.substr(2, 2) + "/" + put->sha256,
                           {});
  ASSERT_EQ(curl.http_status, 200) << curl.error << curl.body;
  EXPECT_EQ(ToHex(Sha256(curl.body)), put->sha256);

  EXPECT_EQ((*store)->Read(put->sha256).value(), bytes);
  auto reader = (*store)->OpenReader(put->sha256);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::string streamed, buffer(256 << 10, '\0');
  for (;;) {
    auto n = (*reader)->Read(buffer.data(), buffer.size());
    ASSERT_TRUE(n.ok()) << n.status();
    if (*n == 0) break;
    streamed.append(buffer.data(), *n);
  }
  EXPECT_EQ(streamed, bytes);
  EXPECT_EQ((*store)->Read(std::string(64, 'a')).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*store)->OpenReader(std::string(64, 'b')).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(S3BlobStoreTest, LargeBlobsGoUpInParts) {
  auto store = Open(Good(), "parts/", /*threshold=*/6u << 20);
  ASSERT_TRUE(store.ok()) << store.status();
  std::string bytes = Bytes((12u << 20) + 12345, 2);  // three parts of 5 MiB, 5 MiB and the rest
  auto put = (*store)->Put(bytes);
  ASSERT_TRUE(put.ok()) << put.status() << swift_->LogTail();
  auto head = swift_->Curl("/tributary/parts/sha256/" + put->sha256.substr(0, 2) + "/" +
                               put->sha256.substr(2, 2) + "/" + put->sha256,
                           {"-I"});
  EXPECT_EQ(head.http_status, 200) << head.headers;
  // A multipart object's ETag is "<md5 of the parts' md5s>-<part count>".
  EXPECT_NE(head.headers.find("-3\""), std::string::npos) << head.headers;
  EXPECT_EQ((*store)->Read(put->sha256).value(), bytes);
}

TEST_F(S3BlobStoreTest, AWrongSecretIsRefusedAtOpen) {
  SigV4Credentials wrong = Good();
  wrong.secret_access_key += "-wrong";
  auto store = Open(wrong);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(store.status().message().find("SignatureDoesNotMatch"), std::string_view::npos)
      << store.status();
  EXPECT_EQ(store.status().message().find(wrong.secret_access_key), std::string_view::npos)
      << "the secret never appears in a message";
  SigV4Credentials unknown{"nobody:none", "x", ""};
  EXPECT_EQ(Open(unknown).status().code(), absl::StatusCode::kPermissionDenied);
  // Another tenant does not see this tenant's bucket.
  SigV4Credentials other{swift_->other_tenant().access_key, swift_->other_tenant().secret_key, ""};
  EXPECT_FALSE(Open(other).ok());
}

TEST_F(S3BlobStoreTest, AnUnreachableStoreIsUnavailableAfterRetries) {
  auto store = S3BlobStore::Open({"http://127.0.0.1:1", "tributary", "", "us-east-1"}, Good(),
                                 64u << 20, 16u << 20);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
}

TEST_F(S3BlobStoreTest, ConcurrentPutsFromManyThreads) {
  auto store = Open(Good(), "threads/");
  ASSERT_TRUE(store.ok()) << store.status();
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<BlobStore::Stored>> results(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] { results[t] = (*store)->Put(Bytes(100000 + t, t)); });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 8; ++t) {
    ASSERT_TRUE(results[t].ok()) << results[t].status();
    EXPECT_EQ((*store)->Read(results[t]->sha256).value(), Bytes(100000 + t, t));
  }
}

}  // namespace
}  // namespace tributary::storage
