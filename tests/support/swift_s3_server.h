#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tributary::test_support {

// An access key and its secret. Swift's tempauth names a user "account:user": the access key holds
// a colon (which is why Curl() hands curl its credentials in a netrc file, not with --user).
struct S3Credentials {
  std::string access_key;
  std::string secret_key;
};

// One curl run. `exit_code` is curl's (0: an HTTP response arrived, whatever its status).
struct CurlResult {
  int exit_code = -1;
  int http_status = 0;  // 0: no response
  std::string body;
  std::string headers;  // the response's header block, as received
  std::string error;    // curl's standard error
};

// A real S3 API on loopback for tests: Debian's OpenStack Swift (proxy, account, container and
// object servers, 2.30) with its s3api middleware, which checks AWS Signature V4 signatures against
// tempauth's users. Everything lives in a fresh folder under the system temporary folder:
// swift.conf, the four servers' configurations, the rings (1 replica, one device each), the
// objects and each server's log (<directory>/<server>.log). Nothing under /etc is read or written.
// As root the servers run as Debian's `swift` user (created by the swift package), otherwise as
// the current user. Start from the thread that will destroy it (the servers get SIGTERM when that
// thread ends).
class SwiftS3Server {
 public:
  struct Options {
    // s3api's `location`: the only region its SigV4 credential scopes accept.
    std::string region = "us-east-1";
    // Leave the folder (configurations, logs, objects) behind for a look afterwards.
    bool keep_directory = false;
  };

  // Writes the configuration, builds the rings, starts the four servers and returns once the proxy
  // answers GET /healthcheck and the others accept connections (about 2 s). Fails, with the logs'
  // last lines, when Swift is not installed or a server does not come up within a minute.
  static absl::StatusOr<std::unique_ptr<SwiftS3Server>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<SwiftS3Server>> Start() { return Start(Options{}); }

  // Stop(), then removes the folder (unless keep_directory).
  ~SwiftS3Server();
  SwiftS3Server(const SwiftS3Server&) = delete;
  SwiftS3Server& operator=(const SwiftS3Server&) = delete;

  // SIGTERM to the four servers and waits for them (SIGKILL after 10 s). Idempotent.
  void Stop();

  // "http://127.0.0.1:PORT" (no trailing slash); path-style: ENDPOINT/BUCKET/KEY.
  const std::string& endpoint() const { return endpoint_; }
  // tempauth's `user_test_tester = testing .admin`: "test:tester", "testing".
  const std::string& access_key() const { return tenant_.access_key; }
  const std::string& secret_key() const { return tenant_.secret_key; }
  const S3Credentials& credentials() const { return tenant_; }
  // A second Swift account ("other:tester", "testing2"): another tenant, which sees none of the
  // first one's buckets.
  const S3Credentials& other_tenant() const { return other_; }
  // The SigV4 region (Options::region, "us-east-1" by default).
  const std::string& region() const { return region_; }
  const std::string& directory() const { return directory_; }

  // PUT ENDPOINT/BUCKET with curl's own SigV4 (independent of the code under test); OK when Swift
  // answers 200.
  absl::Status CreateBucket(const std::string& bucket) const {
    return CreateBucket(bucket, tenant_);
  }
  absl::Status CreateBucket(const std::string& bucket, const S3Credentials& as) const;

  // Runs /usr/bin/curl on ENDPOINT + `path` ("/bucket/key?partNumber=1&uploadId=..."), signed by
  // curl itself (--aws-sigv4 "aws:amz:REGION:s3") with `as`, plus `arguments` (-X POST, -T FILE,
  // --data-binary @FILE, -H ...). curl does not send x-amz-content-sha256, which Swift requires:
  // "x-amz-content-sha256: UNSIGNED-PAYLOAD" is added unless `arguments` carry one. curl 7.88
  // signs the query as written, where S3 (and Swift) canonicalise it: write it canonical, a
  // valueless parameter with its "=" ("?uploads=") and values percent-encoded ("prefix=a%2Fb").
  CurlResult Curl(const std::string& path, const std::vector<std::string>& arguments,
                  const S3Credentials& as) const;
  CurlResult Curl(const std::string& path, const std::vector<std::string>& arguments) const {
    return Curl(path, arguments, tenant_);
  }

  // The last `lines` lines of each server's log, for failure messages.
  std::string LogTail(int lines = 15) const;

 private:
  SwiftS3Server() = default;
  absl::Status Launch();
  absl::Status WaitUntilReady();

  Options options_;
  std::string directory_;
  std::string endpoint_;
  std::string region_;
  S3Credentials tenant_{"test:tester", "testing"};
  S3Credentials other_{"other:tester", "testing2"};
  bool drop_privileges_ = false;  // root: the servers run as `swift`
  uid_t server_uid_ = 0;
  gid_t server_gid_ = 0;
  int proxy_port_ = 0;
  int account_port_ = 0;
  int container_port_ = 0;
  int object_port_ = 0;
  struct Child {
    std::string name;
    pid_t pid = -1;
  };
  std::vector<Child> children_;
  mutable std::atomic<int> curl_runs_{0};
};

}  // namespace tributary::test_support
