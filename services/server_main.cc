// tributary-server: the ingest service. See docs/SERVER.md.
#include <fcntl.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "common/hash.h"
#include "common/private_file.h"
#include "common/secret_key.h"
#include "common/version.h"
#include "dicom/deidentifier.h"
#include "dicom/dictionary.h"
#include "provenance/key_fingerprint.h"
#include "provenance/repository.h"
#include "services/admin_service.h"
#include "services/cohort_service.h"
#include "services/harmonization_operations.h"
#include "services/harmonization_service.h"
#include "services/harmonization_worker.h"
#include "services/ingest_service.h"
#include "services/metrics.h"
#include "services/postgres_cluster.h"
#include "services/security_service.h"
#include "services/server_security.h"
#include "services/study_sweeper.h"
#include "services/tokens.h"
#include "storage/blob_store.h"

namespace tributary::services {
namespace {

namespace fs = std::filesystem;

struct ServerOptions {
  std::string data_dir;
  std::string listen = "127.0.0.1:50051";
  std::string database_url;
  std::string key_file;
  std::string profile = "research";
  std::vector<std::string> options;
  bool allow_burned_in = false;
  unsigned workers = 0;
  std::uint64_t max_file_mb = 2048;
  std::string role = "server";
  unsigned harmonization_workers = 1;
  std::chrono::milliseconds quiet_period{std::chrono::minutes(10)};
  std::chrono::milliseconds sweep_interval{std::chrono::minutes(1)};
  std::chrono::milliseconds job_lease{std::chrono::minutes(2)};
  TlsFiles tls;
  bool insecure = false;
  std::string metrics_listen;
  std::string blob_store;  // "": DATA_DIR/blobs
  std::string s3_endpoint;
  std::string s3_region = "us-east-1";
  std::string s3_credentials_file;
  bool rotate_key_fingerprint = false;
  std::string old_key_file;
};

// "90", "90s", "10m", "1h", "500ms" -> a duration; nullopt when it is none of these.
std::optional<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  static const std::regex kDuration("([0-9]+)(ms|s|m|h)?");
  std::smatch match;
  if (!std::regex_match(text, match, kDuration)) return std::nullopt;
  std::int64_t n = std::stoll(match[1].str());
  std::string unit = match[2].str();
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "m") return std::chrono::minutes(n);
  if (unit == "h") return std::chrono::hours(n);
  return std::chrono::seconds(n);
}

// The harmonization workers of this process, each on a thread of its own, and their scratch
// folder DATA_DIR/scratch/<random> (removed on a clean exit).
class HarmonizationWorkers {
 public:
  HarmonizationWorkers(provenance::Repository& repository, const storage::BlobStore& blobs,
                       const ServerOptions& options, Metrics& metrics) {
    if (options.harmonization_workers == 0) return;
    fs::path parent = fs::path(options.data_dir) / "scratch";
    std::error_code error;
    fs::create_directories(parent, error);
    std::string pattern = (parent / "worker-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      spdlog::error("cannot create a scratch folder under {}", parent.string());
      return;
    }
    scratch_ = pattern;
    for (unsigned i = 0; i < options.harmonization_workers; ++i) {
      HarmonizationWorkerOptions worker;
      worker.worker_id = HarmonizationWorker::ProcessWorkerId() + "/" + std::to_string(i + 1);
      worker.lease = options.job_lease;
      worker.scratch_dir = scratch_;
      workers_.push_back(std::make_unique<HarmonizationWorker>(repository, blobs, worker, metrics));
    }
    for (auto& worker : workers_) {
      threads_.emplace_back([w = worker.get()](std::stop_token stop) { w->Run(stop); });
    }
    spdlog::info("{} harmonization workers ({})", workers_.size(),
                 HarmonizationWorker::ProcessWorkerId());
  }
  ~HarmonizationWorkers() {
    for (auto& thread : threads_) thread.request_stop();
    threads_.clear();  // joins: a job under way stops at its next step
    std::error_code error;
    if (!scratch_.empty()) fs::remove_all(scratch_, error);
  }

 private:
  fs::path scratch_;
  std::vector<std::unique_ptr<HarmonizationWorker>> workers_;
  std::vector<std::jthread> threads_;
};

// A key inside the data directory goes into every backup of it, with the pseudonyms it links.
void WarnIfKeyInDataDirectory(const std::string& key_file, const std::string& data_dir) {
  if (!IsInsideDirectory(key_file, data_dir)) return;
  spdlog::warn(
      "the de-identification key {} lies inside the data directory: a backup of {} would carry "
      "the key that links its pseudonyms to patients. In production keep it elsewhere "
      "(--key-file, docs/SERVER.md)",
      key_file, data_dir);
}

absl::StatusOr<SecretKey> LoadOrCreateKey(const ServerOptions& options) {
  if (!options.key_file.empty()) {
    WarnIfKeyInDataDirectory(options.key_file, options.data_dir);
    return SecretKey::FromFile(options.key_file);
  }
  auto from_env = SecretKey::FromEnvironment();
  if (from_env.ok()) return from_env;
  fs::path path = fs::path(options.data_dir) / "deid.key";
  WarnIfKeyInDataDirectory(path.string(), options.data_dir);
  if (fs::exists(path)) return SecretKey::FromFile(path.string());
  SecretKey key = SecretKey::Generate();
  TRIB_RETURN_IF_ERROR(key.WriteNewFile(path.string()));
  spdlog::warn("created a new de-identification key at {}: back it up, pseudonyms depend on it",
               path.string());
  return key;
}

absl::StatusOr<std::string> OperatorToken(const fs::path& path) {
  if (fs::exists(path)) {
    TRIB_ASSIGN_OR_RETURN(std::string token, ReadPrivateFile(path.string(), "operator token file"));
    token.resize(std::min(token.size(), token.find('\n')));
    if (token.empty()) return absl::FailedPreconditionError(path.string() + " is empty");
    return token;
  }
  std::string token = NewToken();
  TRIB_RETURN_IF_ERROR(WriteNewPrivateFile(path.string(), token + "\n"));
  return token;
}

storage::BlobStoreOptions BlobOptions(const ServerOptions& options) {
  storage::BlobStoreOptions out;
  out.location = options.blob_store.empty() ? (fs::path(options.data_dir) / "blobs").string()
                                            : options.blob_store;
  out.s3_endpoint = options.s3_endpoint;
  out.s3_region = options.s3_region;
  out.s3_credentials_file = options.s3_credentials_file;
  return out;
}

absl::StatusOr<dicom::DeidPolicy> MakePolicy(const ServerOptions& options) {
  TRIB_ASSIGN_OR_RETURN(dicom::DeidPolicy policy,
                        dicom::DeidPolicy::FromNames(options.profile, options.options));
  if (options.allow_burned_in) {
    return absl::InvalidArgumentError(
        "--allow-burned-in-annotation is no longer a server switch: burned-in annotation is "
        "accepted per centre, by an operator (`tributary centres policy CENTRE "
        "--accept-burned-in-annotation on`; docs/SERVER.md)");
  }
  // Kept UIDs are the same whichever centre sends a study: a second centre would be answered
  // CONFLICT, which tells it that another centre holds the study.
  if (policy.Has(dicom::ProfileOption::kRetainUids)) {
    return absl::InvalidArgumentError(
        "--option retain-uids is refused by the server: UIDs are keyed by centre so that centres "
        "sending the same study never collide (docs/SERVER.md); `tributary deidentify` offline "
        "may keep them");
  }
  return policy;
}

// Metrics are plain HTTP without authentication: like plaintext gRPC, not on a non-loopback address
// unless --insecure says the network is trusted.
absl::Status CheckMetricsAddress(const ServerOptions& options) {
  if (options.metrics_listen.empty() || options.insecure ||
      IsLoopbackAddress(options.metrics_listen))
    return absl::OkStatus();
  return absl::FailedPreconditionError(
      "refusing to serve metrics on " + options.metrics_listen +
      ": they are plain HTTP without authentication; give a loopback address (127.0.0.1:9464), "
      "or --insecure to accept this on a trusted network");
}

// Reads the queue and the connection pool at every scrape; serves them with --metrics-listen.
absl::Status ServeMetrics(Metrics& metrics, provenance::Repository& repository,
                          const std::string& address) {
  metrics.ObserveRepository(repository);
  if (address.empty()) return absl::OkStatus();
  TRIB_ASSIGN_OR_RETURN(int port, metrics.Listen(address));
  spdlog::info("metrics on http://{}/metrics (port {})", address, port);
  return absl::OkStatus();
}

// --role worker: harmonization workers only, on a shared database and blob folder; no listener.
int ServeWorker(const ServerOptions& options, sigset_t& signals) {
  auto fail = [](const absl::Status& status) {
    spdlog::error("{}", std::string(status.message()));
    return 1;
  };
  if (options.database_url.empty()) {
    spdlog::error("--role worker needs --database-url (the queue it shares with the servers)");
    return 2;
  }
  if (options.harmonization_workers == 0) {
    spdlog::error("--role worker needs --harmonization-workers of at least 1");
    return 2;
  }
  std::error_code error;
  fs::create_directories(options.data_dir, error);
  ::umask(077);
  auto repository = provenance::Repository::Connect(
      options.database_url, static_cast<int>(2 * options.harmonization_workers) + 2);
  if (!repository.ok()) return fail(repository.status());
  auto version = (*repository)->Migrate();
  if (!version.ok()) return fail(version.status());
  auto blobs = storage::OpenBlobStore(BlobOptions(options));
  if (!blobs.ok()) return fail(blobs.status());
  Metrics metrics;
  if (absl::Status served = ServeMetrics(metrics, **repository, options.metrics_listen);
      !served.ok())
    return fail(served);
  {
    HarmonizationWorkers workers(**repository, **blobs, options, metrics);
    spdlog::info("tributary-server {} as a harmonization worker, blobs in {}", kVersion,
                 (*blobs)->Describe());
    int signal = 0;
    sigwait(&signals, &signal);
    spdlog::info("signal {}: stopping the workers", signal);
  }
  return 0;
}

int Serve(const ServerOptions& options) {
  // Handle SIGINT/SIGTERM on a thread of our own: shut down cleanly, stop the embedded cluster.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  if (absl::Status checked = CheckMetricsAddress(options); !checked.ok()) {
    spdlog::error("{}", std::string(checked.message()));
    return 2;
  }
  if (options.role == "worker") return ServeWorker(options, signals);

  std::error_code error;
  fs::create_directories(options.data_dir, error);
  if (error) {
    spdlog::error("cannot create data directory {}: {}", options.data_dir, error.message());
    return 1;
  }
  // Everything the server creates from here on (blobs, scratch, keys, tokens) is its user's alone;
  // missing parents of the data directory were made with the usual modes (the postgres user may
  // need to pass through them).
  ::umask(077);
  // Private to the server; as root with the embedded cluster, the `postgres` group may pass
  // through to DATA_DIR/postgres (it still cannot list the folder or read the 0600 files).
  if (absl::Status secured =
          SecureDataDirectory(options.data_dir, ::geteuid() == 0 && options.database_url.empty());
      !secured.ok()) {
    spdlog::error("{}", std::string(secured.message()));
    return 1;
  }
  if (options.rotate_key_fingerprint &&
      (options.old_key_file.empty() || options.key_file.empty())) {
    spdlog::error("--rotate-key-fingerprint needs --old-key-file and --key-file");
    return 2;
  }
  auto credentials = MakeServerCredentials(options.tls, options.listen, options.insecure);
  if (!credentials.ok()) {
    spdlog::error("{}", std::string(credentials.status().message()));
    return 2;
  }

  auto fail = [](const absl::Status& status) {
    spdlog::error("{}", std::string(status.message()));
    return 1;
  };
  // Options first: a refused option must not leave a new key behind.
  auto policy = MakePolicy(options);
  if (!policy.ok()) {
    spdlog::error("{}", std::string(policy.status().message()));
    return 2;
  }
  auto key = LoadOrCreateKey(options);
  if (!key.ok()) return fail(key.status());

  std::unique_ptr<PostgresCluster> cluster;
  std::string url = options.database_url;
  if (url.empty()) {
    spdlog::info("starting the embedded PostgreSQL cluster under {}/postgres", options.data_dir);
    auto started = PostgresCluster::Start((fs::path(options.data_dir) / "postgres").string());
    if (!started.ok()) return fail(started.status());
    cluster = std::move(*started);
    url = cluster->url();
  }
  // Ingest work mostly waits on fsync and on commits, so there are more workers than cores; with
  // many files in flight the disk and PostgreSQL group their flushes.
  unsigned workers = options.workers != 0 ? options.workers
                                          : std::max(16u, 4 * std::thread::hardware_concurrency());
  auto repository = provenance::Repository::Connect(
      url, static_cast<int>(workers + 2 * options.harmonization_workers) + 6);
  if (!repository.ok()) return fail(repository.status());
  auto version = (*repository)->Migrate();
  if (!version.ok()) return fail(version.status());
  spdlog::info("database schema version {}", *version);
  if (options.rotate_key_fingerprint) {
    auto old_key = SecretKey::FromFile(options.old_key_file);
    if (!old_key.ok()) return fail(old_key.status());
    if (absl::Status rotated =
            provenance::KeyFingerprint::Rotate(url, old_key->Fingerprint(), key->Fingerprint());
        !rotated.ok())
      return fail(rotated);
    spdlog::warn(
        "key fingerprint changed to {} (the key of {}): from now on the same patient gets new "
        "pseudonyms and UIDs; studies stored before keep the old ones",
        key->Fingerprint().substr(0, 16), options.key_file);
    return 0;
  }
  if (absl::Status checked = provenance::KeyFingerprint::Check(url, key->Fingerprint());
      !checked.ok())
    return fail(checked);

  auto token = OperatorToken(fs::path(options.data_dir) / "operator.token");
  if (!token.ok()) return fail(token.status());
  if (absl::Status added = (*repository)->AddOperatorToken(TokenDigest(*token)); !added.ok())
    return fail(added);

  auto blobs = storage::OpenBlobStore(BlobOptions(options));
  if (!blobs.ok()) return fail(blobs.status());
  if (absl::Status installed = HarmonizationOperations(**repository).InstallBuiltinRecipes();
      !installed.ok())
    return fail(installed);
  // The HMAC key for original-file digests is derived from the de-identification key; never stored.
  Digest digest_key = HmacSha256(key->bytes(), "tributary original-file digests");
  auto deidentifier = dicom::Deidentifier::Create(std::move(*key), *policy);
  if (!deidentifier.ok()) return fail(deidentifier.status());
  IngestPipeline pipeline(
      *deidentifier, **blobs, **repository,
      std::string(reinterpret_cast<const char*>(digest_key.data()), digest_key.size()));

  Metrics metrics;
  if (absl::Status served = ServeMetrics(metrics, **repository, options.metrics_listen);
      !served.ok())
    return fail(served);
  WorkerPool pool(workers);
  AuditLog audit(**repository);
  Authenticator authenticator(**repository, audit);
  IngestLimits limits;
  limits.max_file_bytes = options.max_file_mb << 20;
  IngestService ingest(pipeline, authenticator, **repository, pool, limits, metrics);
  AdminService admin(authenticator, **repository, pool);
  HarmonizationService harmonization(authenticator, **repository, **blobs, pool);
  SecurityService security(authenticator, **repository, pool);
  CohortService cohorts(authenticator, **repository, **blobs, pipeline, pool, metrics);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, *credentials, &port);
  builder.RegisterService(&ingest);
  builder.RegisterService(&admin);
  builder.RegisterService(&harmonization);
  builder.RegisterService(&security);
  builder.RegisterService(&cohorts);
  builder.SetMaxReceiveMessageSize(8 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    spdlog::error("cannot listen on {}", options.listen);
    return 1;
  }
  server->GetHealthCheckService()->SetServingStatus(true);
  spdlog::info("tributary-server {} listening on {} (port {}, {}), data in {}, {} workers",
               kVersion, options.listen, port,
               options.tls.cert.empty()        ? "plaintext"
               : options.tls.client_ca.empty() ? "TLS"
                                               : "mutual TLS",
               options.data_dir, workers);
  spdlog::info("operator token in {}", (fs::path(options.data_dir) / "operator.token").string());
  auto sweeper =
      std::make_unique<StudySweeper>(**repository, options.quiet_period, options.sweep_interval);
  auto harmonization_workers =
      std::make_unique<HarmonizationWorkers>(**repository, **blobs, options, metrics);

  int signal = 0;
  sigwait(&signals, &signal);
  spdlog::info("signal {}: shutting down", signal);
  server->GetHealthCheckService()->SetServingStatus(false);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
  server->Wait();
  sweeper.reset();
  harmonization_workers.reset();
  return 0;
}

}  // namespace
}  // namespace tributary::services

int main(int argc, char** argv) {
  tributary::dicom::InstallCompiledDictionary();
  using tributary::services::ServerOptions;
  ServerOptions options;
  CLI::App app{
      "tributary-server: receives DICOM over gRPC, de-identifies it in memory, stores it with "
      "provenance"};
  app.set_version_flag("--version", std::string("tributary-server ") + tributary::kVersion);
  app.add_option("--data-dir", options.data_dir,
                 "Data directory: blobs/, postgres/ (embedded cluster), keys, tokens")
      ->required();
  app.add_option("--listen", options.listen, "gRPC address to listen on")->capture_default_str();
  app.add_option(
      "--database-url", options.database_url,
      "PostgreSQL URL (libpq); without it an embedded cluster runs under DATA_DIR/postgres");
  app.add_option("--key-file", options.key_file,
                 "De-identification key (default: $TRIBUTARY_DEID_KEY, else DATA_DIR/deid.key, "
                 "created if absent)");
  app.add_option("--profile", options.profile, "De-identification profile: research or basic")
      ->capture_default_str();
  app.add_option("--option", options.options,
                 "Add a de-identification profile option (see docs/DEIDENTIFICATION.md)");
  // Former global switch, now per centre: kept (hidden) only to say so instead of "unknown option".
  app.add_flag("--allow-burned-in-annotation", options.allow_burned_in)->group("");
  app.add_option("--workers", options.workers,
                 "Worker threads (default: four per core, at least 16)");
  app.add_option("--max-file-mb", options.max_file_mb, "Largest accepted file in MiB")
      ->capture_default_str();
  app.add_option("--role", options.role,
                 "server (gRPC, ingest, sweeper and workers) or worker (harmonization workers "
                 "only; needs --database-url)")
      ->check(CLI::IsMember({"server", "worker"}))
      ->capture_default_str();
  app.add_option("--harmonization-workers", options.harmonization_workers,
                 "Harmonization worker threads (0: none in this process)")
      ->capture_default_str();
  app.add_option("--tls-cert", options.tls.cert, "Server certificate chain (PEM): serve TLS");
  app.add_option("--tls-key", options.tls.key,
                 "Server private key (PEM; owned by the server's user, mode 0600)");
  app.add_option("--client-ca", options.tls.client_ca,
                 "CA (PEM) client certificates must chain to: mutual TLS, a client certificate "
                 "is required");
  app.add_flag("--insecure", options.insecure,
               "Allow plaintext gRPC on a non-loopback --listen address, and metrics on a "
               "non-loopback --metrics-listen address (trusted networks only)");
  app.add_option("--metrics-listen", options.metrics_listen,
                 "Serve Prometheus metrics over HTTP at ADDR/metrics (IPV4:PORT, e.g. "
                 "127.0.0.1:9464; default: off)");
  app.add_option("--blob-store", options.blob_store,
                 "Where blobs go: a folder (default DATA_DIR/blobs) or s3://BUCKET[/PREFIX], an "
                 "S3-compatible object store (needs --s3-endpoint; credentials from "
                 "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --s3-credentials-file)");
  app.add_option("--s3-endpoint", options.s3_endpoint,
                 "The object store's URL, http(s)://host[:port] (path-style addressing)");
  app.add_option("--s3-region", options.s3_region, "The region requests are signed for")
      ->capture_default_str();
  app.add_option("--s3-credentials-file", options.s3_credentials_file,
                 "AWS shared-credentials file ([default] aws_access_key_id, "
                 "aws_secret_access_key), owner-only (mode 0600)");
  app.add_flag("--rotate-key-fingerprint", options.rotate_key_fingerprint,
               "Record --key-file as the database's key after checking --old-key-file is the "
               "current one, then exit (docs/SERVER.md, \"Changing the key\")");
  app.add_option("--old-key-file", options.old_key_file,
                 "With --rotate-key-fingerprint: the key the database uses now");
  auto duration = [](std::chrono::milliseconds& out) {
    return [&out](const std::string& text) {
      auto parsed = tributary::services::ParseDuration(text);
      if (!parsed) throw CLI::ValidationError("a duration such as 90s, 10m or 1h: " + text);
      out = *parsed;
    };
  };
  app.add_option_function<std::string>(
      "--quiet-period", duration(options.quiet_period),
      "Complete studies that received nothing for this long (default 10m)");
  app.add_option_function<std::string>("--sweep-interval", duration(options.sweep_interval),
                                       "How often the quiet-period sweeper runs (default 1m)");
  app.add_option_function<std::string>(
      "--job-lease", duration(options.job_lease),
      "Harmonization job lease, renewed every third of it (default 2m)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  // Every file passes through a few buffers of its size. Keep them on the heap rather than in fresh
  // mmap()s that are faulted in page by page and unmapped again, file after file; memory stays
  // bounded by the files in flight.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  return tributary::services::Serve(options);
}
