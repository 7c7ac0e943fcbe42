// The S3 test server (tests/support/swift_s3_server.h) is a real, signature-checking S3 API:
// checked with independent tools only (curl's own AWS SigV4 signing, OpenSSL's SHA-256), none of
// Tributary's code.
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <strings.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>

#include "tests/support/swift_s3_server.h"

namespace tributary::test_support {
namespace {

namespace fs = std::filesystem;

std::string RandomBytes(size_t size, unsigned seed) {
  std::mt19937 generator(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(generator() & 0xff);
  return bytes;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static const char* hex = "0123456789abcdef";
  std::string text;
  for (unsigned char byte : digest) {
    text += hex[byte >> 4];
    text += hex[byte & 15];
  }
  return text;
}

// A response header's value (case-insensitive name), or "".
std::string Header(const std::string& headers, const std::string& name) {
  std::istringstream in(headers);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() > name.size() && line[name.size()] == ':' &&
        ::strncasecmp(line.c_str(), name.c_str(), name.size()) == 0) {
      size_t start = line.find_first_not_of(' ', name.size() + 1);
      return start == std::string::npos ? "" : line.substr(start);
    }
  }
  return "";
}

// The text of the first <tag>...</tag>, or "".
std::string XmlElement(const std::string& xml, const std::string& tag) {
  size_t start = xml.find("<" + tag + ">");
  if (start == std::string::npos) return "";
  start += tag.size() + 2;
  size_t end = xml.find("</" + tag + ">", start);
  return end == std::string::npos ? "" : xml.substr(start, end - start);
}

std::string Describe(const CurlResult& result) {
  return "curl exit " + std::to_string(result.exit_code) + ", HTTP " +
         std::to_string(result.http_status) + "\n" + result.headers + result.body + result.error;
}

class SwiftS3Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = SwiftS3Server::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    files_ = fs::path(server_->directory()) / "test-files";
    fs::create_directories(files_);
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    if (server_ == nullptr) GTEST_SKIP() << "the Swift S3 server did not start";
  }
  void TearDown() override {
    if (HasFailure() && server_ != nullptr) std::cerr << server_->LogTail();
  }

  static std::string WriteFile(const std::string& name, const std::string& content) {
    fs::path path = files_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }

  static std::unique_ptr<SwiftS3Server> server_;
  static fs::path files_;
};

std::unique_ptr<SwiftS3Server> SwiftS3Test::server_;
fs::path SwiftS3Test::files_;

TEST_F(SwiftS3Test, ReportsItsEndpointCredentialsAndRegion) {
  EXPECT_EQ(server_->endpoint().rfind("http://127.0.0.1:", 0), 0u) << server_->endpoint();
  EXPECT_EQ(server_->access_key(), "test:tester");
  EXPECT_EQ(server_->secret_key(), "testing");
  EXPECT_EQ(server_->region(), "us-east-1");
  EXPECT_NE(server_->other_tenant().access_key, server_->access_key());
}

TEST_F(SwiftS3Test, StoresAnObjectByteIdenticalAndListsIt) {
  ASSERT_TRUE(server_->CreateBucket("round-trip").ok());
  const std::string content = RandomBytes(1024 * 1024 + 7, 1);
  const std::string file = WriteFile("round-trip.bin", content);

  // The payload's real SHA-256 in x-amz-content-sha256 (signed by curl along with the request).
  CurlResult put = server_->Curl(
      "/round-trip/blobs/ab/object.bin",
      {"--upload-file", file, "--header", "x-amz-content-sha256: " + Sha256Hex(content)});
  ASSERT_EQ(put.exit_code, 0) << Describe(put);
  ASSERT_EQ(put.http_status, 200) << Describe(put);
  EXPECT_FALSE(Header(put.headers, "ETag").empty()) << put.headers;

  CurlResult get = server_->Curl("/round-trip/blobs/ab/object.bin", {});
  ASSERT_EQ(get.http_status, 200) << Describe(get);
  EXPECT_EQ(get.body.size(), content.size());
  EXPECT_TRUE(get.body == content) << "the object came back different";

  CurlResult head = server_->Curl("/round-trip/blobs/ab/object.bin", {"--head"});
  EXPECT_EQ(head.http_status, 200) << Describe(head);
  EXPECT_EQ(Header(head.headers, "Content-Length"), std::to_string(content.size()));

  CurlResult list = server_->Curl("/round-trip?list-type=2&prefix=blobs%2F", {});
  ASSERT_EQ(list.http_status, 200) << Describe(list);
  EXPECT_EQ(XmlElement(list.body, "Key"), "blobs/ab/object.bin") << list.body;
  EXPECT_EQ(XmlElement(list.body, "Size"), std::to_string(content.size())) << list.body;
  EXPECT_EQ(XmlElement(list.body, "KeyCount"), "1") << list.body;

  CurlResult buckets = server_->Curl("/", {});
  ASSERT_EQ(buckets.http_status, 200) << Describe(buckets);
  EXPECT_NE(buckets.body.find("<Name>round-trip</Name>"), std::string::npos) << buckets.body;

  CurlResult missing = server_->Curl("/round-trip/blobs/none", {});
  EXPECT_EQ(missing.http_status, 404) << Describe(missing);
  EXPECT_EQ(XmlElement(missing.body, "Code"), "NoSuchKey") << missing.body;
}

TEST_F(SwiftS3Test, RefusesAWrongSecretAnUnknownKeyAndUnsignedRequests) {
  ASSERT_TRUE(server_->CreateBucket("refusals").ok());
  const std::string file = WriteFile("refused.bin", RandomBytes(4096, 2));

  CurlResult wrong_secret = server_->Curl("/refusals/object", {"--upload-file", file},
                                          {server_->access_key(), "not-the-secret"});
  ASSERT_EQ(wrong_secret.exit_code, 0) << Describe(wrong_secret);
  EXPECT_EQ(wrong_secret.http_status, 403) << Describe(wrong_secret);
  EXPECT_EQ(XmlElement(wrong_secret.body, "Code"), "SignatureDoesNotMatch") << wrong_secret.body;

  CurlResult unknown_key =
      server_->Curl("/refusals/object", {"--upload-file", file}, {"nobody:tester", "testing"});
  EXPECT_EQ(unknown_key.http_status, 403) << Describe(unknown_key);
  // Swift's tempauth answers as for a wrong secret; AWS says InvalidAccessKeyId.
  std::string code = XmlElement(unknown_key.body, "Code");
  EXPECT_TRUE(code == "SignatureDoesNotMatch" || code == "InvalidAccessKeyId") << unknown_key.body;

  // A signed request whose payload is not the one its x-amz-content-sha256 names.
  CurlResult wrong_hash = server_->Curl(
      "/refusals/object",
      {"--upload-file", file, "--header", "x-amz-content-sha256: " + Sha256Hex("other bytes")});
  EXPECT_EQ(wrong_hash.http_status, 400) << Describe(wrong_hash);
  // Swift 2.30 says BadDigest; AWS says XAmzContentSHA256Mismatch.
  code = XmlElement(wrong_hash.body, "Code");
  EXPECT_TRUE(code == "BadDigest" || code == "XAmzContentSHA256Mismatch") << wrong_hash.body;

  // No signature at all: not an S3 request for s3api, and no Swift token for tempauth.
  std::string command = "/usr/bin/curl -s -w '\\n%{http_code}' -X PUT --data x '" +
                        server_->endpoint() + "/refusals/object'";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string unsigned_response;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;)
    unsigned_response.append(buffer, n);
  ::pclose(pipe);
  std::string unsigned_status = unsigned_response.substr(unsigned_response.rfind('\n') + 1);
  // Swift answers 400: neither an S3 request nor a /v1/ path with a Swift token.
  EXPECT_EQ(unsigned_status.size(), 3u) << unsigned_response;
  EXPECT_EQ(unsigned_status[0], '4') << unsigned_response;

  // None of them stored anything.
  CurlResult get = server_->Curl("/refusals/object", {});
  EXPECT_EQ(get.http_status, 404) << Describe(get);
}

TEST_F(SwiftS3Test, KeepsTenantsApart) {
  ASSERT_TRUE(server_->CreateBucket("first-tenant").ok());
  const std::string file = WriteFile("tenant.bin", "first tenant's bytes");
  ASSERT_EQ(server_->Curl("/first-tenant/object", {"--upload-file", file}).http_status, 200);

  const S3Credentials& other = server_->other_tenant();
  CurlResult get = server_->Curl("/first-tenant/object", {}, other);
  EXPECT_NE(get.http_status, 200) << Describe(get);
  EXPECT_NE(get.body, "first tenant's bytes");
  CurlResult buckets = server_->Curl("/", {}, other);
  EXPECT_EQ(buckets.http_status, 200) << Describe(buckets);
  EXPECT_EQ(buckets.body.find("first-tenant"), std::string::npos) << buckets.body;
  EXPECT_TRUE(server_->CreateBucket("second-tenant", other).ok());
}

TEST_F(SwiftS3Test, CompletesAMultipartUpload) {
  ASSERT_TRUE(server_->CreateBucket("multipart").ok());
  const std::string part1 = RandomBytes(5 * 1024 * 1024, 3);  // S3's smallest part but the last
  const std::string part2 = RandomBytes(1024 * 1024 + 3, 4);
  const std::string file1 = WriteFile("part1.bin", part1);
  const std::string file2 = WriteFile("part2.bin", part2);

  // "?uploads=", not "?uploads": curl 7.88 signs the latter as "uploads" where S3 expects
  // "uploads=".
  CurlResult initiate = server_->Curl("/multipart/large/object?uploads=", {"-X", "POST"});
  ASSERT_EQ(initiate.http_status, 200) << Describe(initiate);
  const std::string upload = XmlElement(initiate.body, "UploadId");
  ASSERT_FALSE(upload.empty()) << initiate.body;

  std::string etags[2];
  const std::string* files[2] = {&file1, &file2};
  for (int i = 0; i < 2; ++i) {
    CurlResult part = server_->Curl(
        "/multipart/large/object?partNumber=" + std::to_string(i + 1) + "&uploadId=" + upload,
        {"--upload-file", *files[i]});
    ASSERT_EQ(part.http_status, 200) << Describe(part);
    etags[i] = Header(part.headers, "ETag");
    ASSERT_FALSE(etags[i].empty()) << part.headers;
  }

  // Until completed, the object does not exist.
  EXPECT_EQ(server_->Curl("/multipart/large/object", {"--head"}).http_status, 404);

  const std::string complete = WriteFile(
      "complete.xml", "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + etags[0] +
                          "</ETag></Part><Part><PartNumber>2</PartNumber><ETag>" + etags[1] +
                          "</ETag></Part></CompleteMultipartUpload>");
  CurlResult done = server_->Curl("/multipart/large/object?uploadId=" + upload,
                                  {"-X", "POST", "--data-binary", "@" + complete});
  ASSERT_EQ(done.http_status, 200) << Describe(done);
  EXPECT_NE(done.body.find("CompleteMultipartUploadResult"), std::string::npos) << done.body;
  // S3's multipart ETag: "<md5 of the parts' md5s>-<parts>".
  EXPECT_NE(XmlElement(done.body, "ETag").find("-2"), std::string::npos) << done.body;

  CurlResult get = server_->Curl("/multipart/large/object", {});
  ASSERT_EQ(get.http_status, 200) << Describe(get);
  EXPECT_EQ(get.body.size(), part1.size() + part2.size());
  EXPECT_TRUE(get.body == part1 + part2) << "the assembled object differs from its parts";

  // The upload is gone once completed.
  CurlResult uploads = server_->Curl("/multipart?uploads=", {});
  EXPECT_EQ(uploads.http_status, 200) << Describe(uploads);
  EXPECT_EQ(uploads.body.find(upload), std::string::npos) << uploads.body;
}

TEST_F(SwiftS3Test, RefusesMultipartPartsSmallerThanFiveMebibytesButTheLast) {
  ASSERT_TRUE(server_->CreateBucket("small-parts").ok());
  CurlResult initiate = server_->Curl("/small-parts/object?uploads=", {"-X", "POST"});
  ASSERT_EQ(initiate.http_status, 200) << Describe(initiate);
  const std::string upload = XmlElement(initiate.body, "UploadId");
  std::string parts;
  for (int i = 1; i <= 2; ++i) {
    const std::string file = WriteFile("small" + std::to_string(i), RandomBytes(1024, 10 + i));
    CurlResult part =
        server_->Curl("/small-parts/object?partNumber=" + std::to_string(i) + "&uploadId=" + upload,
                      {"--upload-file", file});
    ASSERT_EQ(part.http_status, 200) << Describe(part);
    parts += "<Part><PartNumber>" + std::to_string(i) + "</PartNumber><ETag>" +
             Header(part.headers, "ETag") + "</ETag></Part>";
  }
  const std::string complete = WriteFile(
      "small-complete.xml", "<CompleteMultipartUpload>" + parts + "</CompleteMultipartUpload>");
  CurlResult done = server_->Curl("/small-parts/object?uploadId=" + upload,
                                  {"-X", "POST", "--data-binary", "@" + complete});
  EXPECT_EQ(done.http_status, 400) << Describe(done);
  EXPECT_EQ(XmlElement(done.body, "Code"), "EntityTooSmall") << done.body;
  // Aborted, it leaves nothing behind.
  CurlResult abort = server_->Curl("/small-parts/object?uploadId=" + upload, {"-X", "DELETE"});
  EXPECT_EQ(abort.http_status, 204) << Describe(abort);
}

}  // namespace
}  // namespace tributary::test_support
