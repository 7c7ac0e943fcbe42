// storage/: AWS Signature V4 against the examples AWS publishes, the S3 location and credential
// parsing, and the local blob store.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/hash.h"
#include "storage/file_blob_store.h"
#include "storage/s3_blob_store.h"
#include "storage/sigv4.h"

namespace tributary::storage {
namespace {

namespace fs = std::filesystem;

// The credentials of AWS's examples (S3 API Reference, "Examples: Signature Calculations").
SigV4Credentials Example() {
  return {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
}
const std::string kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

TEST(SigV4, AwsExampleGetObjectWithRange) {
  SigV4Request request{"GET",
                       "examplebucket.s3.amazonaws.com",
                       "/test.txt",
                       {},
                       {{"Range", "bytes=0-9"}},
                       kEmptySha256,
                       "20130524T000000Z"};
  SigV4Signed s = SignV4(request, Example(), "us-east-1");
  EXPECT_EQ(s.canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:" +
                kEmptySha256 +
                "\nx-amz-date:20130524T000000Z\n\n"
                "host;range;x-amz-content-sha256;x-amz-date\n" +
                kEmptySha256);
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, AwsExampleListObjectsQueryIsCanonical) {
  SigV4Request request{"GET",
                       "examplebucket.s3.amazonaws.com",
                       "/",
                       {{"prefix", "J"}, {"max-keys", "2"}},
                       {},
                       kEmptySha256,
                       "20130524T000000Z"};
  SigV4Signed s = SignV4(request, Example(), "us-east-1");
  EXPECT_NE(s.canonical_request.find("\n/\nmax-keys=2&prefix=J\n"), std::string::npos)
      << s.canonical_request;
  EXPECT_NE(s.authorization.find(
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
            std::string::npos)
      << s.authorization;
}

TEST(SigV4, EveryExtraHeaderAndTheSessionTokenAreSigned) {
  SigV4Credentials temporary = Example();
  temporary.session_token = "token-value";
  SigV4Request request{
      "PUT",        "127.0.0.1:8080",  "/b/k", {}, {{"Content-Type", " text/plain  "}},
      kEmptySha256, "20240101T000000Z"};
  SigV4Signed s = SignV4(request, temporary, "us-east-1");
  EXPECT_EQ(s.headers.at("content-type"), "text/plain");
  EXPECT_EQ(s.headers.at("x-amz-security-token"), "token-value");
  EXPECT_NE(s.authorization.find("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;"
                                 "x-amz-security-token,"),
            std::string::npos)
      << s.authorization;
  // Another secret, another signature.
  SigV4Credentials other = temporary;
  other.secret_access_key += "x";
  EXPECT_NE(SignV4(request, other, "us-east-1").authorization, s.authorization);
}

TEST(SigV4, UriEncodingFollowsRfc3986) {
  EXPECT_EQ(UriEncode("a-b_c.d~e/f g+h=i&j", true), "a-b_c.d~e/f%20g%2Bh%3Di%26j");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(CanonicalQuery({{"uploads", ""}}), "uploads=");
  EXPECT_EQ(CanonicalQuery({{"uploadId", "x y"}, {"partNumber", "2"}}),
            "partNumber=2&uploadId=x%20y");
}

TEST(S3Location, UrlsAndTheirErrors) {
  struct Case {
    std::string url, bucket, prefix;
    bool ok;
  };
  for (const Case& c :
       std::vector<Case>{{"s3://tributary", "tributary", "", true},
                         {"s3://tributary/", "tributary", "", true},
                         {"s3://tributary/site-a/blobs", "tributary", "site-a/blobs/", true},
                         {"s3://Tributary", "", "", false},
                         {"s3://ab", "", "", false},
                         {"s3://bucket/a//b", "", "", false},
                         {"s3://bucket/../x", "", "", false},
                         {"https://bucket", "", "", false}}) {
    auto parsed = ParseS3Url(c.url);
    ASSERT_EQ(parsed.ok(), c.ok) << c.url;
    if (!c.ok) {
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
      continue;
    }
    EXPECT_EQ(parsed->first, c.bucket) << c.url;
    EXPECT_EQ(parsed->second, c.prefix) << c.url;
  }
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("trib_storage_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

using S3Credentials = TempDir;

TEST_F(S3Credentials, FromAnOwnerOnlyFileDefaultProfileFirst) {
  fs::path file = dir_ / "credentials";
  std::ofstream(file) << "[other]\naws_access_key_id = OTHER\naws_secret_access_key = o\n\n"
                         "[default]\naws_access_key_id = AKID\naws_secret_access_key = "
                         "se/cret+key\naws_session_token=tok\n";
  ::chmod(file.c_str(), 0644);
  auto refused = LoadS3Credentials(file.string());
  EXPECT_FALSE(refused.ok()) << "a file others can read is refused";
  ::chmod(file.c_str(), 0600);
  auto loaded = LoadS3Credentials(file.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->access_key_id, "AKID");
  EXPECT_EQ(loaded->secret_access_key, "se/cret+key");
  EXPECT_EQ(loaded->session_token, "tok");
  std::ofstream(file, std::ios::trunc) << "[default]\naws_access_key_id = ONLY\n";
  EXPECT_EQ(LoadS3Credentials(file.string()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(S3CredentialsEnvironment, FromTheEnvironment) {
  ::setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
  auto loaded = LoadS3Credentials("");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->access_key_id, "ENVKEY");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  auto missing = LoadS3Credentials("");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("AWS_SECRET_ACCESS_KEY"), std::string_view::npos);
  ::unsetenv("AWS_ACCESS_KEY_ID");
}

using FileBlobs = TempDir;

TEST_F(FileBlobs, PutReadStreamAndDamage) {
  auto store = FileBlobStore::Open((dir_ / "blobs").string());
  ASSERT_TRUE(store.ok()) << store.status();
  std::string bytes(3 << 20, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7 % 251);
  auto put = (*store)->Put(bytes);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->sha256, ToHex(Sha256(bytes)));  // content addressing
  EXPECT_FALSE(put->existed);
  EXPECT_TRUE((*store)->Put(bytes)->existed);
  // A caller that hashed the bytes itself: the same name, found present.
  auto known = (*store)->PutWithSha256(bytes, put->sha256);
  ASSERT_TRUE(known.ok()) << known.status();
  EXPECT_EQ(known->sha256, put->sha256);
  EXPECT_TRUE(known->existed);
  std::string other = bytes + "x";
  auto fresh = (*store)->PutWithSha256(other, ToHex(Sha256(other)));
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_FALSE(fresh->existed);
  EXPECT_EQ((*store)->Read(fresh->sha256).value(), other);  // Read checks the name
  fs::path path =
      dir_ / "blobs" / "sha256" / put->sha256.substr(0, 2) / put->sha256.substr(2, 2) / put->sha256;
  ASSERT_TRUE(fs::exists(path)) << "the layout ROOT/sha256/ab/cd/<sha256>";
  EXPECT_EQ((*store)->Read(put->sha256).value(), bytes);

  auto reader = (*store)->OpenReader(put->sha256);
  ASSERT_TRUE(reader.ok());
  std::string streamed, buffer(1 << 20, '\0');
  for (;;) {
    auto n = (*reader)->Read(buffer.data(), buffer.size());
    ASSERT_TRUE(n.ok());
    if (*n == 0) break;
    streamed.append(buffer.data(), *n);
  }
  EXPECT_EQ(streamed, bytes);

  EXPECT_EQ((*store)->Read(std::string(64, 'a')).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*store)->OpenReader(std::string(64, 'a')).status().code(),
            absl::StatusCode::kNotFound);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "damaged";
  EXPECT_EQ((*store)->Read(put->sha256).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(FileBlobs, OpenBlobStoreChoosesTheBackendAndRefusesHalfAnS3Setup) {
  BlobStoreOptions options;
  options.location = (dir_ / "blobs").string();
  auto local = OpenBlobStore(options);
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ((*local)->Describe(), options.location);
  options.s3_endpoint = "http://127.0.0.1:1";
  EXPECT_EQ(OpenBlobStore(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.location = "s3://bucket";
  options.s3_endpoint = "";
  auto no_endpoint = OpenBlobStore(options);
  EXPECT_EQ(no_endpoint.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_endpoint.status().message().find("--s3-endpoint"), std::string_view::npos);
}

}  // namespace
}  // namespace tributary::storage
