#pragma once

#include <map>
#include <string>

namespace tributary::storage {

// AWS Signature Version 4 for S3 requests (AWS General Reference, "Signature Version 4 signing
// process"; S3 API Reference, "Authenticating Requests: Using the Authorization Header").
struct SigV4Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless temporary credentials
};

struct SigV4Request {
  std::string method;                          // GET, PUT, POST, HEAD, DELETE
  std::string host;                            // as in the Host header (host[:port])
  std::string path;                            // absolute, not yet URI-encoded: "/bucket/key"
  std::map<std::string, std::string> query;    // decoded names and values
  std::map<std::string, std::string> headers;  // extra headers to sign (e.g. range, content-type)
  std::string payload_sha256;                  // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
  std::string amz_date;                        // YYYYMMDD'T'HHMMSS'Z'
};

struct SigV4Signed {
  std::string authorization;  // the Authorization header's value
  // Every header the request must carry as signed (host, x-amz-date, x-amz-content-sha256, the
  // extra ones, x-amz-security-token), lower-case names.
  std::map<std::string, std::string> headers;
  std::string canonical_request;  // for diagnostics and tests
  std::string string_to_sign;
};

SigV4Signed SignV4(const SigV4Request& request, const SigV4Credentials& credentials,
                   const std::string& region, const std::string& service = "s3");

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters kept, everything else %XX
// (upper-case hex); '/' kept when `keep_slash`.
std::string UriEncode(const std::string& text, bool keep_slash);

// The canonical query string of `query` (sorted by encoded name, then value).
std::string CanonicalQuery(const std::map<std::string, std::string>& query);

}  // namespace tributary::storage
