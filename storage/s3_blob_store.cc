#include "storage/s3_blob_store.h"

#include <curl/curl.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "common/hash.h"
#include "common/private_file.h"

namespace tributary::storage {
namespace {

constexpr int kAttempts = 6;

std::string AmzDate() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
  return text;
}

// The text of <name>...</name> in an S3 XML answer, or "".
std::string XmlValue(const std::string& xml, const std::string& name) {
  std::size_t start = xml.find("<" + name + ">");
  if (start == std::string::npos) return "";
  start += name.size() + 2;
  std::size_t end = xml.find("</" + name + ">", start);
  return end == std::string::npos ? "" : xml.substr(start, end - start);
}

std::string StoreError(const S3BlobStore::Response& r) {
  std::string code = XmlValue(r.body, "Code");
  std::string message = XmlValue(r.body, "Message");
  std::string out = "HTTP " + std::to_string(r.status);
  if (!code.empty()) out += " " + code;
  if (!message.empty()) out += ": " + message;
  return out;
}

bool Retryable(long status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504;
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// One easy handle per thread: its connection to the store is reused from request to request.
CURL* ThreadHandle() {
  struct Handle {
    CURL* curl = nullptr;
    ~Handle() {
      if (curl) curl_easy_cleanup(curl);
    }
  };
  thread_local Handle handle;
  if (!handle.curl) handle.curl = curl_easy_init();
  return handle.curl;
}

std::size_t AppendBody(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

std::size_t ReadHeader(char* data, std::size_t size, std::size_t count, void* out) {
  auto* response = static_cast<S3BlobStore::Response*>(out);
  std::string line(data, size * count);
  std::size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t\r\n") + 1);
    if (name == "etag") response->etag = value;
    if (name == "content-length") response->content_length = std::atoll(value.c_str());
  }
  return size * count;
}

struct Upload {
  std::string_view body;
  std::size_t offset = 0;
};

std::size_t SendBody(char* buffer, std::size_t size, std::size_t count, void* in) {
  auto* upload = static_cast<Upload*>(in);
  std::size_t n = std::min(size * count, upload->body.size() - upload->offset);
  std::memcpy(buffer, upload->body.data() + upload->offset, n);
  upload->offset += n;
  return n;
}

absl::Status FromStatus(const S3BlobStore::Response& r, const std::string& what) {
  if (r.status == 404) return absl::NotFoundError(what + ": not in the object store");
  if (r.status == 403 || r.status == 401)
    return absl::PermissionDeniedError(what + ": the object store refused the request (" +
                                       StoreError(r) + "); check the S3 credentials and region");
  if (Retryable(r.status))
    return absl::UnavailableError(what + ": the object store is unavailable (" + StoreError(r) +
                                  ")");
  return absl::InternalError(what + ": the object store answered " + StoreError(r));
}

}  // namespace

absl::StatusOr<std::pair<std::string, std::string>> ParseS3Url(const std::string& url) {
  static const std::regex kUrl("s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/(.*))?");
  std::smatch m;
  if (!std::regex_match(url, m, kUrl))
    return absl::InvalidArgumentError("'" + url +
                                      "' is no s3://BUCKET[/PREFIX] (bucket: 3-63 of a-z 0-9 . -)");
  std::string prefix = m[3].str();
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (prefix.find("//") != std::string::npos || prefix.find("..") != std::string::npos)
    return absl::InvalidArgumentError("the prefix of '" + url + "' has an empty or '..' part");
  if (!prefix.empty()) prefix += '/';
  return std::make_pair(m[1].str(), prefix);
}

absl::StatusOr<SigV4Credentials> LoadS3Credentials(const std::string& credentials_file) {
  SigV4Credentials credentials;
  if (credentials_file.empty()) {
    const char* id = std::getenv("AWS_ACCESS_KEY_ID");
    const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
    const char* token = std::getenv("AWS_SESSION_TOKEN");
    if (!id || !secret || !*id || !*secret)
      return absl::InvalidArgumentError(
          "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give "
          "--s3-credentials-file FILE (AWS shared-credentials format, mode 0600)");
    credentials.access_key_id = id;
    credentials.secret_access_key = secret;
    if (token) credentials.session_token = token;
    return credentials;
  }
  TRIB_ASSIGN_OR_RETURN(std::string text,
                        ReadPrivateFile(credentials_file, "S3 credentials file", 16384));
  // profile -> name -> value; the [default] profile, else the first one.
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> profiles = {{"", {}}};
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    line.erase(0, line.find_first_not_of(" \t"));
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      profiles.push_back({line, {}});
      continue;
    }
    std::size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string name = line.substr(0, eq), value = line.substr(eq + 1);
    name.erase(name.find_last_not_of(" \t") + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    profiles.back().second[name] = value;
  }
  const std::map<std::string, std::string>* chosen = nullptr;
  for (const auto& [name, values] : profiles) {
    if (name == "[default]") chosen = &values;
  }
  for (const auto& [name, values] : profiles) {
    if (!chosen && values.count("aws_access_key_id")) chosen = &values;
  }
  if (chosen) {
    auto get = [&](const char* name) {
      auto it = chosen->find(name);
      return it == chosen->end() ? std::string() : it->second;
    };
    credentials.access_key_id = get("aws_access_key_id");
    credentials.secret_access_key = get("aws_secret_access_key");
    credentials.session_token = get("aws_session_token");
  }
  for (auto& [name, values] : profiles) {
    for (auto& [key, value] : values) WipeSecret(value);
  }
  WipeSecret(text);
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty())
    return absl::InvalidArgumentError(credentials_file +
                                      ": no aws_access_key_id and aws_secret_access_key");
  return credentials;
}

S3BlobStore::S3BlobStore(Location location, SigV4Credentials credentials,
                         std::size_t multipart_threshold, std::size_t part_size)
    : location_(std::move(location)),
      credentials_(std::move(credentials)),
      multipart_threshold_(multipart_threshold),
      part_size_(std::max<std::size_t>(part_size, 5u << 20)) {
  std::string rest = location_.endpoint.substr(location_.endpoint.find("://") + 3);
  host_ = rest.substr(0, rest.find('/'));
}

S3BlobStore::~S3BlobStore() {
  WipeSecret(credentials_.secret_access_key);
  WipeSecret(credentials_.session_token);
}

absl::StatusOr<std::unique_ptr<S3BlobStore>> S3BlobStore::Open(Location location,
                                                               SigV4Credentials credentials,
                                                               std::size_t multipart_threshold,
                                                               std::size_t part_size) {
  static const std::regex kEndpoint("https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?");
  while (!location.endpoint.empty() && location.endpoint.back() == '/')
    location.endpoint.pop_back();
  if (!std::regex_match(location.endpoint, kEndpoint))
    return absl::InvalidArgumentError("--s3-endpoint '" + location.endpoint +
                                      "' is no http(s)://host[:port]");
  if (location.region.empty()) return absl::InvalidArgumentError("--s3-region is empty");
  GlobalInit();
  std::unique_ptr<S3BlobStore> store(
      new S3BlobStore(std::move(location), std::move(credentials), multipart_threshold, part_size));
  // Fail at start, with the store's reason, rather than at the first upload.
  TRIB_ASSIGN_OR_RETURN(
      Response probe,
      store->Request("GET", "", {{"list-type", "2"}, {"max-keys", "1"}}, "", ToHex(Sha256(""))));
  if (probe.status != 200) return FromStatus(probe, "bucket " + store->location_.bucket);
  return store;
}

std::string S3BlobStore::Describe() const {
  return "s3://" + location_.bucket + "/" + location_.prefix + " at " + location_.endpoint;
}

std::string S3BlobStore::KeyOf(const std::string& sha256) const {
  return location_.prefix + "sha256/" + sha256.substr(0, 2) + "/" + sha256.substr(2, 2) + "/" +
         sha256;
}

absl::StatusOr<S3BlobStore::Response> S3BlobStore::Request(
    const std::string& method, const std::string& key,
    const std::map<std::string, std::string>& query, std::string_view body,
    const std::string& body_sha256, const std::map<std::string, std::string>& headers) const {
  const std::string path = "/" + location_.bucket + (key.empty() ? "" : "/" + key);
  std::string url = location_.endpoint + UriEncode(path, true);
  std::string query_text = CanonicalQuery(query);
  if (!query_text.empty()) url += "?" + query_text;
  std::mt19937 random(std::random_device{}());
  std::string last_error;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    if (attempt > 1) {  // 100 ms, 200 ms, ... up to 3.2 s, with jitter
      int base = 100 << std::min(attempt - 2, 5);
      std::this_thread::sleep_for(
          std::chrono::milliseconds(base / 2 + static_cast<int>(random() % (base / 2 + 1))));
    }
    SigV4Request request{method, host_, path, query, headers, body_sha256, AmzDate()};
    SigV4Signed signed_request = SignV4(request, credentials_, location_.region);
    CURL* curl = ThreadHandle();
    if (!curl) return absl::InternalError("libcurl cannot make a handle");
    curl_easy_reset(curl);
    Response response;
    curl_slist* list = nullptr;
    for (const auto& [name, value] : signed_request.headers) {
      if (name == "host") continue;  // curl sends it from the URL
      list = curl_slist_append(list, (name + ": " + value).c_str());
    }
    list = curl_slist_append(list, ("Authorization: " + signed_request.authorization).c_str());
    list = curl_slist_append(list, "Expect:");
    list = curl_slist_append(list, "Content-Type:");
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);  // stalled for 60 s: give up
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ReadHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response);
    Upload upload{body, 0};
    if (method == "HEAD") {
      curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (method == "PUT") {
      curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(curl, CURLOPT_READFUNCTION, SendBody);
      curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
      curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.size()));
    } else if (method == "POST") {
      curl_easy_setopt(curl, CURLOPT_POST, 1L);
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    } else if (method != "GET") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    CURLcode code = curl_easy_perform(curl);
    curl_slist_free_all(list);
    if (code != CURLE_OK) {
      last_error = curl_easy_strerror(code);
      continue;  // connection refused, reset, timeout: worth another try
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    if (Retryable(response.status) && attempt < kAttempts) {
      last_error = StoreError(response);
      continue;
    }
    return response;
  }
  return absl::UnavailableError("object store " + location_.endpoint + " unreachable after " +
                                std::to_string(kAttempts) + " attempts: " + last_error);
}

absl::StatusOr<BlobStore::Stored> S3BlobStore::Put(std::string_view bytes) const {
  Stored stored{ToHex(Sha256(bytes)), false};
  const std::string key = KeyOf(stored.sha256);
  TRIB_ASSIGN_OR_RETURN(Response head, Request("HEAD", key, {}, "", ToHex(Sha256(""))));
  if (head.status == 200 && head.content_length == static_cast<long long>(bytes.size())) {
    stored.existed = true;
    return stored;
  }
  if (head.status != 200 && head.status != 404) return FromStatus(head, "blob " + stored.sha256);
  if (bytes.size() > multipart_threshold_) return PutMultipart(key, bytes, stored);
  // The store checks the payload against the signed x-amz-content-sha256 (the blob's name).
  TRIB_ASSIGN_OR_RETURN(Response put, Request("PUT", key, {}, bytes, stored.sha256));
  if (put.status != 200) return FromStatus(put, "blob " + stored.sha256);
  return stored;
}

absl::StatusOr<BlobStore::Stored> S3BlobStore::PutMultipart(const std::string& key,
                                                            std::string_view bytes,
                                                            Stored stored) const {
  const std::string empty_sha = ToHex(Sha256(""));
  TRIB_ASSIGN_OR_RETURN(Response started, Request("POST", key, {{"uploads", ""}}, "", empty_sha));
  std::string upload_id = XmlValue(started.body, "UploadId");
  if (started.status != 200 || upload_id.empty())
    return FromStatus(started, "multipart upload of blob " + stored.sha256);
  auto abort = [&](absl::Status why) {
    (void)Request("DELETE", key, {{"uploadId", upload_id}}, "", empty_sha);
    return why;
  };
  std::string complete = "<CompleteMultipartUpload>";
  int number = 1;
  for (std::size_t offset = 0; offset < bytes.size(); offset += part_size_, ++number) {
    std::string_view part = bytes.substr(offset, part_size_);
    auto sent =
        Request("PUT", key, {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}}, part,
                ToHex(Sha256(part)));
    if (!sent.ok()) return abort(sent.status());
    if (sent->status != 200 || sent->etag.empty())
      return abort(FromStatus(*sent, "part " + std::to_string(number) + " of " + stored.sha256));
    complete += "<Part><PartNumber>" + std::to_string(number) + "</PartNumber><ETag>" + sent->etag +
                "</ETag></Part>";
  }
  complete += "</CompleteMultipartUpload>";
  auto done = Request("POST", key, {{"uploadId", upload_id}}, complete, ToHex(Sha256(complete)));
  if (!done.ok()) return abort(done.status());
  // S3 may answer 200 with an <Error> in the body when completing.
  if (done->status != 200 || done->body.find("<Error>") != std::string::npos)
    return abort(FromStatus(*done, "completing blob " + stored.sha256));
  TRIB_ASSIGN_OR_RETURN(Response head, Request("HEAD", key, {}, "", empty_sha));
  if (head.status != 200 || head.content_length != static_cast<long long>(bytes.size()))
    return absl::DataLossError("blob " + stored.sha256 +
                               " does not read back with its size after a multipart upload");
  return stored;
}

absl::StatusOr<std::string> S3BlobStore::Read(const std::string& sha256) const {
  TRIB_ASSIGN_OR_RETURN(Response got, Request("GET", KeyOf(sha256), {}, "", ToHex(Sha256(""))));
  if (got.status != 200) return FromStatus(got, "blob " + sha256);
  if (ToHex(Sha256(got.body)) != sha256)
    return absl::DataLossError("blob " + sha256 + " does not match its SHA-256");
  return std::move(got.body);
}

namespace {

// Ranges of the object, one request per Read (the caller's buffer size).
class S3Reader final : public BlobReader {
 public:
  S3Reader(const S3BlobStore& store, std::string key, long long size)
      : store_(store), key_(std::move(key)), size_(size) {}
  absl::StatusOr<std::size_t> Read(char* buffer, std::size_t max) override {
    if (offset_ >= size_ || max == 0) return 0;
    long long last = std::min(size_, offset_ + static_cast<long long>(max)) - 1;
    TRIB_ASSIGN_OR_RETURN(S3BlobStore::Response got,
                          store_.Request("GET", key_, {}, "", ToHex(Sha256("")),
                                         {{"range", "bytes=" + std::to_string(offset_) + "-" +
                                                        std::to_string(last)}}));
    if (got.status != 206 && got.status != 200) return FromStatus(got, key_);
    if (got.status == 200) got.body = got.body.substr(static_cast<std::size_t>(offset_));
    std::size_t n = std::min(got.body.size(), static_cast<std::size_t>(last - offset_ + 1));
    if (n == 0) return absl::DataLossError(key_ + ": the object ended early");
    std::memcpy(buffer, got.body.data(), n);
    offset_ += static_cast<long long>(n);
    return n;
  }

 private:
  const S3BlobStore& store_;
  std::string key_;
  long long size_;
  long long offset_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<BlobReader>> S3BlobStore::OpenReader(
    const std::string& sha256) const {
  TRIB_ASSIGN_OR_RETURN(Response head, Request("HEAD", KeyOf(sha256), {}, "", ToHex(Sha256(""))));
  if (head.status != 200) return FromStatus(head, "blob " + sha256);
  return std::make_unique<S3Reader>(*this, KeyOf(sha256), head.content_length);
}

}  // namespace tributary::storage
