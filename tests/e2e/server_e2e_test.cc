// tributary-server and the tributary CLI as users run them: a real server process with its own
// embedded PostgreSQL, the CLI binary, and a raw gRPC client for what the CLI never sends.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>
#include <set>

#include "common/hash.h"
#include "tests/e2e/server_process.h"
#include "tests/unit/synthetic_dicom.h"
#include "tributary/v1/ingest.grpc.pb.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::Quote;
using testing::ReadFile;
using testing::ServerProcess;
using testing::Shell;
using testing::WriteFile;

const fs::path kShared = TRIBUTARY_SHARED_DIR;

class ServerE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("trib_srv_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }
  void StartServer(std::vector<std::string> args = {}) {
    server_ = std::make_unique<ServerProcess>(dir_ / "data", args);
    ASSERT_TRUE(server_->Start()) << ReadFile(server_->log());
  }
  // `count` slices of one study per patient, written by DCMTK.
  std::vector<fs::path> WriteStudy(const std::string& patient, int count,
                                   const std::string& uid_root) {
    std::vector<fs::path> paths;
    for (int i = 0; i < count; ++i) {
      tributary::testing::CtSliceSpec spec;
      spec.patient_id = patient;
      spec.patient_name = "PATIENT^" + patient;
      spec.study_uid = uid_root + ".1";
      spec.series_uid = uid_root + ".2";
      spec.sop_uid = uid_root + ".3." + std::to_string(i);
      spec.slice_position = i;
      auto file = tributary::testing::MakeCtSlice(spec);
      fs::path path = dir_ / "in" / patient / ("IM" + std::to_string(i));
      WriteFile(path, tributary::testing::Encode(*file));
      paths.push_back(path);
    }
    return paths;
  }
  nlohmann::json Upload(const std::string& token, const std::string& args, int expected_exit = 0) {
    CommandResult r = Shell(server_->Cli("upload " + args + " --json --token " + token));
    EXPECT_EQ(r.exit_code, expected_exit) << r.out;
    try {
      return nlohmann::json::parse(r.out);
    } catch (...) {
      ADD_FAILURE() << "not JSON: " << r.out;
      return {};
    }
  }

  fs::path dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ServerE2E, UploadStoresEachFileOnceResumesAndCompletesStudies) {
  StartServer({"--harmonization-workers", "0"});  // the blob count below is instances only
  std::string token = server_->AddCentre("st-elsewhere");
  ASSERT_EQ(token.rfind("trb_", 0), 0u) << token;
  WriteStudy("PID-A", 12, "1.2.826.0.1.3680043.2.1125.50");
  WriteStudy("PID-B", 5, "1.2.826.0.1.3680043.2.1125.51");
  WriteFile(dir_ / "in" / "README.txt", "export notes\n");

  nlohmann::json first = Upload(token, Quote(dir_ / "in") + " --parallel 2 --complete");
  EXPECT_EQ(first["summary"]["STORED"], 17);
  EXPECT_EQ(first["summary"]["SKIPPED"], 1);
  ASSERT_EQ(first["studies"].size(), 2u);
  for (const auto& study : first["studies"]) {
    EXPECT_TRUE(study["complete"].get<bool>()) << study;
    EXPECT_EQ(study["stored"], study["expected"]);
  }

  nlohmann::json again = Upload(token, Quote(dir_ / "in"));
  EXPECT_EQ(again["summary"]["ALREADY_STORED"], 17);
  EXPECT_EQ(again["bytes_sent"], 0) << "resume sends nothing that is stored";

  CommandResult list =
      Shell(server_->Cli("studies list --json --token " + server_->operator_token()));
  ASSERT_EQ(list.exit_code, 0) << list.out;
  auto studies = nlohmann::json::parse(list.out);
  ASSERT_EQ(studies.size(), 2u);
  std::set<std::int64_t> counts;
  for (const auto& s : studies) {
    counts.insert(s["instances"].get<std::int64_t>());
    EXPECT_EQ(s["centre"], "st-elsewhere");
    EXPECT_FALSE(s["completed_at"].get<std::string>().empty());
  }
  EXPECT_EQ(counts, (std::set<std::int64_t>{12, 5}));
  CommandResult show = Shell(server_->Cli(
      "studies show " + std::to_string(studies[0]["id"].get<int>()) + " --token " + token));
  EXPECT_EQ(show.exit_code, 0) << show.out;
  EXPECT_NE(show.out.find("CT"), std::string::npos) << show.out;

  // Every blob is whole, named by its content, and readable by an independent DICOM reader.
  int blobs = 0;
  for (const auto& e : fs::recursive_directory_iterator(server_->data_dir() / "blobs" / "sha256")) {
    if (!e.is_regular_file()) continue;
    ++blobs;
    std::string bytes = ReadFile(e.path());
    EXPECT_EQ(ToHex(Sha256(bytes)), e.path().filename().string());
    EXPECT_EQ(bytes.find("PID-A"), std::string::npos);
    if (blobs == 1) {
      EXPECT_EQ(Shell("dcmdump -q " + Quote(e.path())).exit_code, 0);
    }
  }
  EXPECT_EQ(blobs, 17);
  EXPECT_TRUE(fs::is_empty(server_->data_dir() / "blobs" / "tmp"));

  CommandResult centres =
      Shell(server_->Cli("centres list --json --token " + server_->operator_token()));
  ASSERT_EQ(centres.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(centres.out)[0]["instances"], 17);
  EXPECT_TRUE(server_->Stop());
}

// grpc.health.v1.Health/Check, called generically: the response is HealthCheckResponse{status:
// SERVING}, encoded as field 1 = 1.
TEST_F(ServerE2E, ServesHealthChecks) {
  StartServer();
  grpc::GenericStub stub(
      grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status status) { done.set_value(status); });
  grpc::Status status = done.get_future().get();
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const auto& slice : slices)
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2)) << "SERVING";
}

// grpc.reflection.v1alpha list_services, called generically: the API's services are listed.
TEST_F(ServerE2E, ServesReflection) {
  StartServer();
  grpc::GenericStub stub(
      grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &queue);
  auto step = [&](auto start) {
    start();
    void* tag = nullptr;
    bool ok = false;
    return queue.Next(&tag, &ok) && ok;
  };
  grpc::Slice list_services(std::string("\x3a\x01*", 3));  // field 7 (list_services) = "*"
  grpc::ByteBuffer request(&list_services, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  ASSERT_TRUE(step([&] { call->StartCall(nullptr); }));
  ASSERT_TRUE(step([&] { call->Write(request, nullptr); }));
  ASSERT_TRUE(step([&] { call->WritesDone(nullptr); }));
  ASSERT_TRUE(step([&] { call->Read(&response, nullptr); }));
  step([&] { call->Finish(&status, nullptr); });
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const auto& slice : slices)
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  EXPECT_NE(bytes.find("tributary.v1.Ingest"), std::string::npos);
  EXPECT_NE(bytes.find("tributary.v1.Admin"), std::string::npos);
  EXPECT_NE(bytes.find("grpc.health.v1.Health"), std::string::npos);
}

TEST_F(ServerE2E, ReferenceDataUploads) {
  fs::path ct = kShared / "data/dicom/dcm_qa_ct_subset/In";
  if (!fs::exists(ct))
    GTEST_SKIP() << "reference data not found at " << ct << " (../shared absent)";
  StartServer();
  std::string token = server_->AddCentre("philips-site");
  nlohmann::json report = Upload(token, Quote(ct) + " --parallel 4 --complete");
  EXPECT_EQ(report["summary"]["STORED"], 28);
  EXPECT_EQ(report["summary"]["SKIPPED"], 1);  // the DIRFILE
  EXPECT_TRUE(report["studies"][0]["complete"].get<bool>());
}

// What the server stores is what everything downstream is built from: the blobs of an uploaded
// Siemens MR set (mosaics, JPEG and JPEG 2000 variants), converted as they lie in the blob store,
// give the originals' volumes: every voxel equal and the same affine, read back with nibabel.
TEST_F(ServerE2E, StoredInstancesRebuildIntoTheOriginalsVolumes) {
  fs::path originals = kShared / "data/dicom/dcm_qa/In";
  if (!fs::exists(originals))
    GTEST_SKIP() << "reference data not found at " << originals << " (../shared absent)";
  if (Shell("/usr/bin/python3 -c 'import nibabel'", false).exit_code != 0)
    GTEST_SKIP() << "python3-nibabel is not installed for /usr/bin/python3";
  StartServer();
  std::string token = server_->AddCentre("siemens-site");
  nlohmann::json report = Upload(token, Quote(originals) + " --parallel 2");
  ASSERT_GT(report["summary"]["STORED"].get<int>(), 100);

  auto convert = [&](const fs::path& in, const fs::path& out) {
    CommandResult r = Shell(std::string(TRIBUTARY_CLI) + " convert " + Quote(in) + " --out " +
                                Quote(out) + " --no-compress --json",
                            false);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return nlohmann::json::parse(r.out, nullptr, false);
  };
  nlohmann::json from_originals = convert(originals, dir_ / "from_originals");
  nlohmann::json from_store =
      convert(server_->data_dir() / "blobs" / "sha256", dir_ / "from_store");
  ASSERT_EQ(from_originals["summary"]["failed"], 0);
  EXPECT_EQ(from_store["summary"]["failed"], 0) << from_store.dump(1);
  EXPECT_EQ(from_store["summary"]["converted"], from_originals["summary"]["converted"]);

  // Stored copies carry no protocol names: each volume is identified by what it holds (shape,
  // data type, affine to 1e-4 mm, a digest of its voxels), and both sets must be equal.
  WriteFile(dir_ / "compare.py", R"(
import collections, glob, hashlib, os, sys, nibabel, numpy
def volumes(folder):
    found = collections.Counter()
    for path in glob.glob(os.path.join(folder, '*.nii')):
        img = nibabel.load(path)
        data = numpy.asanyarray(img.dataobj)
        affine = tuple(numpy.round(img.affine, 4).ravel().tolist())
        found[(data.shape, str(data.dtype), affine, hashlib.sha256(data.tobytes()).hexdigest())] += 1
    return found
a, b = volumes(sys.argv[1]), volumes(sys.argv[2])
if a != b:
    sys.exit('%d volumes differ' % sum(((a - b) + (b - a)).values()))
print(sum(a.values()))
)");
  CommandResult compared = Shell("/usr/bin/python3 " + Quote(dir_ / "compare.py") + " " +
                                 Quote(dir_ / "from_originals") + " " + Quote(dir_ / "from_store"));
  EXPECT_EQ(compared.exit_code, 0) << compared.out;
  EXPECT_EQ(compared.out, std::to_string(from_originals["summary"]["converted"].get<int>()) + "\n")
      << "volumes compared";
}

// A raw client for what the CLI never sends: wrong digests, oversize files, bare bytes.
class RawUpload {
 public:
  RawUpload(const std::string& address, const std::string& token) {
    stub_ = v1::Ingest::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    if (!token.empty()) context_.AddMetadata("authorization", "Bearer " + token);
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    stream_ = stub_->Upload(&context_);
  }
  // Announces `declared` bytes but sends only `bytes`.
  void SendShort(const std::string& id, const std::string& bytes, std::uint64_t declared) {
    v1::UploadRequest header;
    header.mutable_header()->set_file_id(id);
    header.mutable_header()->set_size(declared);
    header.mutable_header()->set_sha256(ToHex(Sha256(bytes)));
    stream_->Write(header);
    v1::UploadRequest chunk;
    chunk.set_chunk(bytes);
    stream_->Write(chunk);
  }
  void Send(const std::string& id, const std::string& bytes, std::string sha256 = "",
            std::uint64_t size = 0) {
    v1::UploadRequest header;
    header.mutable_header()->set_file_id(id);
    header.mutable_header()->set_size(size != 0 ? size : bytes.size());
    header.mutable_header()->set_sha256(sha256.empty() ? ToHex(Sha256(bytes)) : sha256);
    stream_->Write(header);
    std::uint64_t total = size != 0 ? size : bytes.size();
    for (std::uint64_t at = 0; at < total; at += 512 * 1024) {
      v1::UploadRequest chunk;
      std::uint64_t n = std::min<std::uint64_t>(512 * 1024, total - at);
      chunk.set_chunk(at < bytes.size() ? bytes.substr(at, n) : std::string(n, '\0'));
      stream_->Write(chunk);
    }
  }
  std::map<std::string, v1::FileOutcome> Finish(grpc::Status* status) {
    stream_->WritesDone();
    std::map<std::string, v1::FileOutcome> outcomes;
    v1::UploadResponse response;
    while (stream_->Read(&response)) outcomes[response.outcome().file_id()] = response.outcome();
    *status = stream_->Finish();
    return outcomes;
  }

 private:
  std::unique_ptr<v1::Ingest::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::UploadRequest, v1::UploadResponse>> stream_;
};

// Corrupted values bound for the database (bytes that are not UTF-8 in a recorded attribute or a
// rejection's detail) cost their own file a clear rejection and nothing else: the stream goes on.
// In every transfer syntax the project reads, what the server stores is exactly the de-identified
// data set: each stored blob, dumped by DCMTK's dcmdump, equals the dump of the same instance
// de-identified offline with the server's key for the same centre, element by element.
TEST_F(ServerE2E, StoredIsDeidentifiedInEverySyntax) {
  StartServer();
  std::string token = server_->AddCentre("epsilon");
  const E_TransferSyntax syntaxes[] = {EXS_LittleEndianImplicit, EXS_LittleEndianExplicit,
                                       EXS_BigEndianExplicit,    EXS_DeflatedLittleEndianExplicit,
                                       EXS_RLELossless,          EXS_JPEGProcess1,
                                       EXS_JPEGProcess14SV1,     EXS_JPEGLSLossless};
  int n = 0;
  for (E_TransferSyntax xfer : syntaxes) {
    tributary::testing::CtSliceSpec spec;
    spec.sop_uid = "1.2.826.0.1.3680043.2.1125.90." + std::to_string(++n);
    spec.bits_allocated = xfer == EXS_JPEGProcess1 ? 8 : 16;
    auto file = tributary::testing::MakeCtSlice(spec);
    std::string bytes = tributary::testing::Encode(*file, xfer);
    ASSERT_FALSE(bytes.empty()) << DcmXfer(xfer).getXferName();
    WriteFile(dir_ / "in" / ("IM" + std::to_string(n)), bytes);
  }
  nlohmann::json report = Upload(token, Quote(dir_ / "in"));
  ASSERT_EQ(report["summary"]["STORED"], n) << report.dump(1);
  CommandResult offline =
      Shell(std::string(TRIBUTARY_CLI) + " deidentify " + Quote(dir_ / "in") + " --out " +
            Quote(dir_ / "offline") + " --centre epsilon --key-file " +
            Quote(server_->data_dir() / "deid.key"));
  ASSERT_EQ(offline.exit_code, 0) << offline.out;
  // The dumps of the stored blobs, by SOP Instance UID; the transfer syntax of each must be kept.
  auto dump = [](const fs::path& path) { return Shell("dcmdump -q " + Quote(path), false).out; };
  auto sop_of = [](const std::string& text) {
    std::size_t at = text.find("(0008,0018) UI [");
    return at == std::string::npos ? std::string()
                                   : text.substr(at + 16, text.find(']', at) - at - 16);
  };
  std::map<std::string, std::string> stored;
  for (const auto& e : fs::recursive_directory_iterator(server_->data_dir() / "blobs" / "sha256")) {
    if (!e.is_regular_file()) continue;
    std::string text = dump(e.path());
    stored[sop_of(text)] = text;
  }
  int compared = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "offline")) {
    if (!e.is_regular_file()) continue;
    std::string text = dump(e.path());
    auto it = stored.find(sop_of(text));
    ASSERT_NE(it, stored.end()) << "no stored instance for " << e.path();
    EXPECT_EQ(it->second, text) << e.path();
    EXPECT_NE(text.find("(7fe0,0010)"), std::string::npos) << "no pixel data in " << e.path();
    ++compared;
  }
  EXPECT_EQ(compared, n);
}

TEST_F(ServerE2E, OneCorruptFileNeverEndsTheStream) {
  StartServer();
  std::string token = server_->AddCentre("delta");
  auto variant = [](const std::string& sop, auto edit) {
    tributary::testing::CtSliceSpec spec;
    spec.sop_uid = sop;
    auto file = tributary::testing::MakeCtSlice(spec);
    edit(*file->getDataset());
    return tributary::testing::Encode(*file);
  };
  std::string bad_modality = variant("1.2.3.4.5.7.1", [](DcmDataset& d) {
    d.putAndInsertString(DCM_Modality, "C\xC3\x28");  // not UTF-8
  });
  std::string bad_class = variant("1.2.3.4.5.7.2", [](DcmDataset& d) {
    d.putAndInsertString(DCM_SOPClassUID, "1.2.840.\xFF\xFE");
  });
  std::string good = variant("1.2.3.4.5.7.3", [](DcmDataset&) {});
  grpc::Status status;
  std::map<std::string, v1::FileOutcome> outcomes;
  {
    RawUpload upload(server_->address(), token);
    upload.Send("modality", bad_modality);
    upload.Send("class", bad_class);
    upload.Send("good", good);
    outcomes = upload.Finish(&status);
  }
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(v1::RejectReason_Name(outcomes["modality"].reject_reason()), "MALFORMED")
      << outcomes["modality"].detail();
  EXPECT_NE(outcomes["modality"].detail().find("Modality"), std::string::npos);
  EXPECT_EQ(v1::RejectReason_Name(outcomes["class"].reject_reason()), "NOT_STORAGE_CLASS");
  EXPECT_EQ(outcomes["class"].detail().find('\xFF'), std::string::npos);
  EXPECT_EQ(v1::OutcomeStatus_Name(outcomes["good"].status()), "STORED");
}

TEST_F(ServerE2E, EveryOutcomeAndRejectionReason) {
  StartServer({"--max-file-mb", "1"});
  std::string token = server_->AddCentre("gamma");
  std::string good = tributary::testing::Encode(*tributary::testing::MakeCtSlice());
  auto variant = [](auto edit) {
    auto file = tributary::testing::MakeCtSlice();
    edit(*file->getDataset());
    return tributary::testing::Encode(*file);
  };
  std::string conflicting =
      variant([](DcmDataset& d) { d.putAndInsertString(DCM_StudyDescription, "CHANGED"); });
  std::string burned = variant([](DcmDataset& d) {
    d.putAndInsertString(DCM_SOPInstanceUID, "1.2.3.4.5.6.1");
    d.putAndInsertString(DCM_BurnedInAnnotation, "YES");
  });
  std::string not_storage = variant([](DcmDataset& d) {
    d.putAndInsertString(DCM_SOPInstanceUID, "1.2.3.4.5.6.2");
    d.putAndInsertString(DCM_SOPClassUID, UID_VerificationSOPClass);
  });
  std::string missing = variant([](DcmDataset& d) { d.findAndDeleteElement(DCM_SOPInstanceUID); });

  grpc::Status status;
  std::map<std::string, v1::FileOutcome> outcomes;
  {
    RawUpload upload(server_->address(), token);
    upload.SendShort("short", good.substr(0, 1000), good.size());
    upload.Send("stored", good);
    upload.Send("again", good);
    upload.Send("digest", good, std::string(64, 'a'));
    upload.Send("large", std::string(), std::string(64, 'b'), 3u << 20);
    upload.Send("text", "this is not DICOM at all, just some text\n");
    upload.Send("truncated", good.substr(0, good.size() / 2));
    upload.Send("storage", not_storage);
    upload.Send("missing", missing);
    upload.Send("burned", burned);
    upload.SendShort("cut", good.substr(0, 2000), good.size());  // the stream ends inside it
    outcomes = upload.Finish(&status);
  }
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(outcomes.size(), 11u);
  auto expect = [&](const std::string& id, v1::OutcomeStatus s,
                    v1::RejectReason r = v1::REJECT_REASON_UNSPECIFIED) {
    EXPECT_EQ(v1::OutcomeStatus_Name(outcomes[id].status()), v1::OutcomeStatus_Name(s)) << id;
    EXPECT_EQ(v1::RejectReason_Name(outcomes[id].reject_reason()), v1::RejectReason_Name(r)) << id;
    if (r != v1::REJECT_REASON_UNSPECIFIED) {
      EXPECT_FALSE(outcomes[id].detail().empty()) << id;
    }
  };
  // "stored" and "again" race on the worker pool; one stores, the other finds it stored.
  std::multiset<std::string> pair = {v1::OutcomeStatus_Name(outcomes["stored"].status()),
                                     v1::OutcomeStatus_Name(outcomes["again"].status())};
  EXPECT_EQ(pair, (std::multiset<std::string>{"ALREADY_STORED", "STORED"}));
  EXPECT_EQ(outcomes["stored"].sop_instance_uid(), outcomes["again"].sop_instance_uid());
  EXPECT_EQ(outcomes["stored"].sop_instance_uid().rfind("2.25.", 0), 0u);
  expect("digest", v1::REJECTED, v1::DIGEST_MISMATCH);
  // Only keyed digests leave the server: not the plain SHA-256 of what it received.
  EXPECT_EQ(outcomes["digest"].detail().find(ToHex(Sha256(good))), std::string::npos)
      << outcomes["digest"].detail();
  expect("large", v1::REJECTED, v1::TOO_LARGE);
  expect("text", v1::REJECTED, v1::NOT_DICOM);
  expect("truncated", v1::REJECTED, v1::MALFORMED);
  expect("storage", v1::REJECTED, v1::NOT_STORAGE_CLASS);
  expect("missing", v1::REJECTED, v1::MISSING_ATTRIBUTE);
  expect("burned", v1::REJECTED, v1::BURNED_IN_ANNOTATION);
  expect("short", v1::REJECTED, v1::SIZE_MISMATCH);
  expect("cut", v1::REJECTED, v1::SIZE_MISMATCH);

  {
    RawUpload second(server_->address(), token);
    second.Send("conflict", conflicting);
    auto conflict = second.Finish(&status);
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(v1::OutcomeStatus_Name(conflict["conflict"].status()), "CONFLICT");
  }
  {
    RawUpload anonymous(server_->address(), "");
    anonymous.Send("x", good);
    anonymous.Finish(&status);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    RawUpload as_operator(server_->address(), server_->operator_token());
    as_operator.Send("x", good);
    as_operator.Finish(&status);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }

  // The CLI reports a refusal and exits non-zero; with a wrong token it says so.
  WriteFile(dir_ / "cli" / "burned.dcm", burned);
  CommandResult cli = Shell(server_->Cli("upload " + Quote(dir_ / "cli") + " --token " + token));
  EXPECT_EQ(cli.exit_code, 1) << cli.out;
  EXPECT_NE(cli.out.find("BURNED_IN_ANNOTATION"), std::string::npos) << cli.out;
  CommandResult wrong = Shell(server_->Cli("upload " + Quote(dir_ / "cli") + " --token trb_wrong"));
  EXPECT_EQ(wrong.exit_code, 4) << wrong.out;
  EXPECT_NE(wrong.out.find("not authenticated"), std::string::npos) << wrong.out;
  CommandResult centre_as_uploader = Shell(server_->Cli("centres add other --token " + token));
  EXPECT_NE(centre_as_uploader.exit_code, 0);
  EXPECT_TRUE(server_->Stop());
}

// PHI planted in many attributes must appear nowhere: not in any file under the data directory
// (blobs, PostgreSQL's own files and WAL), not in a dump of the database, not in the server log.
TEST_F(ServerE2E, PlantedPhiNeverReachesDiskDatabaseOrLog) {
  StartServer();
  std::string token = server_->AddCentre("delta");
  const std::vector<std::pair<DcmTagKey, std::string>> planted = {
      {DCM_PatientName, "QXPHINAME^QXPHIGIVEN"},
      {DCM_PatientID, "QXPHIPATIENTID"},
      {DCM_RETIRED_OtherPatientIDs, "QXPHIOTHERID"},
      {DCM_PatientAddress, "QXPHIADDRESS 1 Main Street"},
      {DCM_PatientTelephoneNumbers, "QXPHIPHONE555"},
      {DCM_ReferringPhysicianName, "QXPHIREFERRER"},
      {DCM_PerformingPhysicianName, "QXPHIPERFORMER"},
      {DCM_InstitutionName, "QXPHIINSTITUTION"},
      {DCM_InstitutionAddress, "QXPHIINSTADDRESS"},
      {DCM_AccessionNumber, "QXPHIACCESSION"},
      {DCM_StudyDescription, "QXPHISTUDYDESC"},
      {DCM_SeriesDescription, "QXPHISERIESDESC"},
      {DCM_ImageComments, "QXPHICOMMENT"},
      {DCM_StationName, "QXPHISTATION"},
      {DCM_OperatorsName, "QXPHIOPERATOR"},
      {DCM_PatientBirthName, "QXPHIBIRTHNAME"},
      {DCM_PatientMotherBirthName, "QXPHIMOTHER"},
      {DCM_RequestingPhysician, "QXPHIREQUESTER"},
      {DCM_StudyID, "QXPHISTUDYID"},
  };
  for (int i = 0; i < 3; ++i) {
    tributary::testing::CtSliceSpec spec;
    spec.sop_uid = "1.2.826.0.1.3680043.2.1125.60." + std::to_string(i);
    spec.study_uid = "1.2.826.0.1.3680043.2.1125.60.99";
    auto file = tributary::testing::MakeCtSlice(spec);
    for (const auto& [tag, value] : planted)
      file->getDataset()->putAndInsertString(tag, value.c_str());
    DcmItem* nested = nullptr;
    file->getDataset()->findOrCreateSequenceItem(DCM_RequestAttributesSequence, nested, -2);
    nested->putAndInsertString(DCM_RequestedProcedureDescription, "QXPHINESTEDPROCEDURE");
    DcmTag creator(0x0009, 0x0010);
    creator.setVR(DcmVR(EVR_LO));
    file->getDataset()->putAndInsertString(creator, "QXPHI PRIVATE CREATOR");
    DcmTag private_value(0x0009, 0x1001, "QXPHI PRIVATE CREATOR");
    private_value.setVR(DcmVR(EVR_LO));
    file->getDataset()->putAndInsertString(private_value, "QXPHIPRIVATEVALUE");
    WriteFile(dir_ / "in" / ("QXPHINAME_" + std::to_string(i) + ".dcm"),
              tributary::testing::Encode(*file));
  }
  nlohmann::json report = Upload(token, Quote(dir_ / "in") + " --complete");
  ASSERT_EQ(report["summary"]["STORED"], 3);

  fs::path socket = server_->data_dir() / "postgres" / "run";
  std::string pg_dump;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql"))
    pg_dump = (e.path() / "bin" / "pg_dump").string();
  CommandResult dump = Shell(pg_dump + " -h " + Quote(socket) + " -U tributary tributary");
  ASSERT_EQ(dump.exit_code, 0) << dump.out;
  ASSERT_NE(dump.out.find("CREATE TABLE public.instances"), std::string::npos);
  EXPECT_TRUE(server_->Stop());  // flushes PostgreSQL's files too

  std::vector<std::pair<std::string, std::string>> haystacks = {
      {"database dump", dump.out}, {"server log", ReadFile(server_->log())}};
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(server_->data_dir())) {
    if (!e.is_regular_file()) continue;
    ++files;
    haystacks.emplace_back(e.path().string(), ReadFile(e.path()));
  }
  EXPECT_GT(files, 100) << "PostgreSQL's files are searched too";
  std::vector<std::string> needles = {"QXPHINESTEDPROCEDURE",
                                      "QXPHI PRIVATE CREATOR",
                                      "QXPHIPRIVATEVALUE",
                                      "PID-12345",
                                      "DOE^JOHN",
                                      "1.2.826.0.1.3680043.2.1125.60"};
  for (const auto& [tag, value] : planted)
    needles.push_back(value.substr(0, value.find_first_of("^ ")));
  for (const std::string& needle : needles) {
    for (const auto& [where, text] : haystacks) {
      EXPECT_EQ(text.find(needle), std::string::npos) << needle << " found in " << where;
    }
  }
}

}  // namespace
}  // namespace tributary
