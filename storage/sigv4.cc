#include "storage/sigv4.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "common/hash.h"

namespace tributary::storage {
namespace {

std::string Trim(const std::string& value) {
  std::size_t begin = value.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  std::size_t end = value.find_last_not_of(" \t");
  std::string out;
  bool space = false;
  for (std::size_t i = begin; i <= end; ++i) {  // sequential spaces become one
    if (value[i] == ' ' || value[i] == '\t') {
      if (!space) out += ' ';
      space = true;
    } else {
      out += value[i];
      space = false;
    }
  }
  return out;
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string Bytes(const Digest& digest) {
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

}  // namespace

std::string UriEncode(const std::string& text, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string CanonicalQuery(const std::map<std::string, std::string>& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  for (const auto& [name, value] : query)
    encoded.emplace_back(UriEncode(name, false), UriEncode(value, false));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name + "=" + value;
  }
  return out;
}

SigV4Signed SignV4(const SigV4Request& request, const SigV4Credentials& credentials,
                   const std::string& region, const std::string& service) {
  SigV4Signed out;
  for (const auto& [name, value] : request.headers) out.headers[Lower(name)] = Trim(value);
  out.headers["host"] = request.host;
  out.headers["x-amz-date"] = request.amz_date;
  out.headers["x-amz-content-sha256"] = request.payload_sha256;
  if (!credentials.session_token.empty())
    out.headers["x-amz-security-token"] = credentials.session_token;

  std::string canonical_headers, signed_headers;
  for (const auto& [name, value] : out.headers) {  // std::map: sorted by lower-case name
    canonical_headers += name + ":" + value + "\n";
    signed_headers += (signed_headers.empty() ? "" : ";") + name;
  }
  out.canonical_request = request.method + "\n" + UriEncode(request.path, true) + "\n" +
                          CanonicalQuery(request.query) + "\n" + canonical_headers + "\n" +
                          signed_headers + "\n" + request.payload_sha256;
  const std::string date = request.amz_date.substr(0, 8);
  const std::string scope = date + "/" + region + "/" + service + "/aws4_request";
  out.string_to_sign = "AWS4-HMAC-SHA256\n" + request.amz_date + "\n" + scope + "\n" +
                       ToHex(Sha256(out.canonical_request));
  std::string key = Bytes(HmacSha256("AWS4" + credentials.secret_access_key, date));
  key = Bytes(HmacSha256(key, region));
  key = Bytes(HmacSha256(key, service));
  key = Bytes(HmacSha256(key, "aws4_request"));
  const std::string signature = ToHex(HmacSha256(key, out.string_to_sign));
  out.authorization = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
                      ", SignedHeaders=" + signed_headers + ", Signature=" + signature;
  return out;
}

}  // namespace tributary::storage
