// Upload streams that clients cancel at once, while the server still has work queued for them
// (authentication, files): the server outlives every one of them and goes on serving.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <thread>

#include "common/hash.h"
#include "tests/e2e/server_process.h"
#include "tests/unit/synthetic_dicom.h"
#include "tributary/v1/ingest.grpc.pb.h"

namespace tributary {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::ServerProcess;

bool Healthy(const std::string& address) {
  grpc::GenericStub stub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status status) { done.set_value(status); });
  return done.get_future().get().ok();
}

void SendFile(grpc::ClientReaderWriter<v1::UploadRequest, v1::UploadResponse>& stream,
              const std::string& id, const std::string& bytes) {
  v1::UploadRequest header;
  header.mutable_header()->set_file_id(id);
  header.mutable_header()->set_size(bytes.size());
  header.mutable_header()->set_sha256(ToHex(Sha256(bytes)));
  stream.Write(header);
  v1::UploadRequest chunk;
  chunk.set_chunk(bytes);
  stream.Write(chunk);
}

TEST(UploadCancelE2E, StreamsCancelledAtOnceNeverBringTheServerDown) {
  fs::path dir = fs::temp_directory_path() / ("trib_cancel_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    // Several workers, so a stream's queued authentication and its answer can run at once.
    ServerProcess server(dir / "data", {"--workers", "8", "--harmonization-workers", "0"});
    ASSERT_TRUE(server.Start()) << ReadFile(server.log());
    std::string token = server.AddCentre("cancel-centre");
    std::string good = tributary::testing::Encode(*tributary::testing::MakeCtSlice());

    auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
    auto stub = v1::Ingest::NewStub(channel);
    constexpr int kThreads = 4;
    constexpr int kRounds = 200;  // per thread
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int round = 0; round < kRounds; ++round) {
          grpc::ClientContext context;
          // Every other stream with a token the server has not cached: its authentication asks
          // the database, so the cancellation overtakes it.
          context.AddMetadata("authorization",
                              "Bearer " + (round % 2 == 0 ? token
                                                          : "trb_unknown_" + std::to_string(t) +
                                                                "_" + std::to_string(round)));
          context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
          auto stream = stub->Upload(&context);
          switch ((round / 2 + t) % 4) {
            case 0:  // cancelled before anything was sent
              break;
            case 1:  // cancelled with a file on its way
              SendFile(*stream, "f", good);
              break;
            case 2: {  // cancelled after a start and a header, bytes still owed
              v1::UploadRequest start;
              start.mutable_start()->set_request_id("cancel-" + std::to_string(t) + "-" +
                                                    std::to_string(round));
              stream->Write(start);
              v1::UploadRequest header;
              header.mutable_header()->set_file_id("g");
              header.mutable_header()->set_size(good.size());
              header.mutable_header()->set_sha256(ToHex(Sha256(good)));
              stream->Write(header);
              break;
            }
            case 3:  // cancelled after the client said it was done sending
              SendFile(*stream, "h", good);
              stream->WritesDone();
              break;
          }
          context.TryCancel();
          stream->Finish();
        }
      });
    }
    for (auto& thread : threads) thread.join();

    ASSERT_TRUE(Healthy(server.address())) << ReadFile(server.log());
    // An upload after all that is answered whole.
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    auto stream = stub->Upload(&context);
    SendFile(*stream, "after", good);
    stream->WritesDone();
    v1::UploadResponse response;
    std::vector<v1::FileOutcome> outcomes;
    while (stream->Read(&response)) outcomes.push_back(response.outcome());
    grpc::Status status = stream->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message() << "\n" << ReadFile(server.log());
    ASSERT_EQ(outcomes.size(), 1u);
    EXPECT_TRUE(outcomes[0].status() == v1::STORED || outcomes[0].status() == v1::ALREADY_STORED)
        << v1::OutcomeStatus_Name(outcomes[0].status()) << " " << outcomes[0].detail();
    EXPECT_TRUE(server.Stop()) << "the server stops cleanly\n" << ReadFile(server.log());
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tributary
