// The gRPC glue on its own terms (MakeGrpcServices, GrpcChannel), with
// hand-built registry methods over google.protobuf.BytesValue, served by
// GrpcServer on a real loopback socket.

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/grpc/grpc_channel.h"
#include "dualrpc/grpc/grpc_server.h"
#include "dualrpc/grpc/registry_grpc_service.h"
#include "dualrpc/rpc/client_call.h"
#include "dualrpc/rpc/service_registry.h"
#include "gmock/gmock.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/unary_method.h"
#include "testing/wait.h"

namespace dualrpc::rpc {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;

using ::google::protobuf::BytesValue;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::StartsWith;

constexpr char kEcho[] = "/dualrpc.testing.Glue/Echo";
constexpr char kDropDone[] = "/dualrpc.testing.Glue/DropDone";
constexpr char kBadTrailer[] = "/dualrpc.testing.Glue/BadTrailer";

// What the Echo method saw of its last call.
struct SeenCall {
  absl::Time deadline;
  std::string peer;
  Metadata metadata;
};

// A method over BytesValue whose body is `body`.
Method BytesMethod(
    std::string path, dualrpc_testing::UnaryBody<BytesValue, BytesValue> body) {
  return dualrpc_testing::UnaryMethodFrom<BytesValue, BytesValue>(
      std::move(path), std::move(body));
}

BytesValue Bytes(std::string value) {
  BytesValue message;
  message.set_value(std::move(value));
  return message;
}

class GrpcGlueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<Method> methods;
    methods.push_back(BytesMethod(
        kEcho, [this](ServerCallContext* context, const BytesValue& request,
                      BytesValue* response, UnaryDone done) {
          {
            absl::MutexLock lock(&mutex_);
            seen_.push_back({context->deadline(), context->peer(),
                             context->request_metadata()});
          }
          response->set_value(request.value());
          std::move(done)(absl::OkStatus());
        }));
    methods.push_back(BytesMethod(
        kDropDone,
        [](ServerCallContext*, const BytesValue&, BytesValue*, UnaryDone) {}));
    methods.push_back(BytesMethod(
        kBadTrailer, [](ServerCallContext* context, const BytesValue&,
                        BytesValue*, UnaryDone done) {
          context->AddResponseMetadata("Not A Key", "x");
          std::move(done)(absl::OkStatus());
        }));
    ASSERT_THAT(registry_.AddMethods(std::move(methods)), IsOk());

    absl::StatusOr<std::vector<std::unique_ptr<::grpc::Service>>> services =
        grpc::MakeGrpcServices(registry_);
    ASSERT_THAT(services, IsOk());
    grpc_services_ = *std::move(services);
    ASSERT_THAT(grpc_services_, SizeIs(1));
    grpc::GrpcServerOptions options;
    options.listen_address = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<grpc::GrpcServer>> server =
        grpc::GrpcServer::Start(options, {grpc_services_[0].get()});
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
  }

  std::shared_ptr<grpc::GrpcChannel> NewChannel(
      grpc::GrpcChannelOptions options = {}) {
    absl::StatusOr<std::shared_ptr<grpc::GrpcChannel>> channel =
        grpc::GrpcChannel::Create(server_->address(), options);
    EXPECT_THAT(channel, IsOk());
    return channel.ok() ? *std::move(channel) : nullptr;
  }

  std::vector<SeenCall> Seen() {
    absl::MutexLock lock(&mutex_);
    return seen_;
  }

  absl::Mutex mutex_;
  std::vector<SeenCall> seen_ ABSL_GUARDED_BY(mutex_);
  ServiceRegistry registry_;
  std::vector<std::unique_ptr<::grpc::Service>> grpc_services_;
  std::unique_ptr<grpc::GrpcServer> server_;
};

TEST_F(GrpcGlueTest, EchoesThroughTypedHelpers) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  absl::StatusOr<BytesValue> echoed =
      CallUnaryAndWait<BytesValue>(*channel, kEcho, Bytes("abc"), {});
  ASSERT_THAT(echoed, IsOk());
  EXPECT_EQ(echoed->value(), "abc");
}

TEST_F(GrpcGlueTest, ContextReportsDeadlinePeerAndMetadata) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  CallOptions with_deadline;
  with_deadline.timeout = absl::Seconds(30);
  with_deadline.metadata = {{"k", "v1"}, {"k", "v2"}};
  const absl::Time before = absl::Now();
  ASSERT_TRUE(
      CallUnaryAndWait<BytesValue>(*channel, kEcho, Bytes(""), with_deadline)
          .ok());
  ASSERT_TRUE(
      CallUnaryAndWait<BytesValue>(*channel, kEcho, Bytes(""), {}).ok());

  std::vector<SeenCall> seen = Seen();
  ASSERT_THAT(seen, SizeIs(2));
  EXPECT_GT(seen[0].deadline, before + absl::Seconds(25));
  EXPECT_LE(seen[0].deadline, absl::Now() + absl::Seconds(31));
  EXPECT_EQ(seen[1].deadline, absl::InfiniteFuture());
  EXPECT_THAT(seen[0].peer, StartsWith("ipv4:127.0.0.1:"));
  EXPECT_THAT(seen[0].metadata, Contains(Pair("k", "v1")));
  EXPECT_THAT(seen[0].metadata, Contains(Pair("k", "v2")));
  for (const auto& [key, value] : seen[0].metadata) {
    EXPECT_THAT(key, ::testing::Not(StartsWith("grpc-")));
  }
}

TEST_F(GrpcGlueTest, UnparsableRequestIsInvalidArgument) {
  ::grpc::GenericStub stub(::grpc::CreateChannel(
      server_->address(), ::grpc::InsecureChannelCredentials()));
  ::grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  const std::string garbage = "\xff\xff\xff\xff";
  ::grpc::Slice slice(garbage);
  ::grpc::ByteBuffer request(&slice, 1);
  ::grpc::ByteBuffer response;
  absl::Notification done;
  ::grpc::Status status;
  stub.UnaryCall(&context, kEcho, ::grpc::StubOptions(), &request, &response,
                 [&](::grpc::Status call_status) {
                   status = std::move(call_status);
                   done.Notify();
                 });
  ASSERT_TRUE(
      done.WaitForNotificationWithTimeout(dualrpc_testing::kWaitTimeout));
  EXPECT_EQ(status.error_code(), ::grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(Seen(), SizeIs(0)) << "the method must not run";
}

TEST_F(GrpcGlueTest, DroppedDoneFinishesTheCallAsInternal) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  absl::StatusOr<BytesValue> result =
      CallUnaryAndWait<BytesValue>(*channel, kDropDone, Bytes(""), {});
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(result.status().message(), HasSubstr("dropped"));
}

TEST_F(GrpcGlueTest, BadResponseMetadataIsInternal) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  absl::StatusOr<BytesValue> result =
      CallUnaryAndWait<BytesValue>(*channel, kBadTrailer, Bytes(""), {});
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(result.status().message(), HasSubstr("Not A Key"));
}

TEST_F(GrpcGlueTest, UnknownMethodIsUnimplemented) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  EXPECT_THAT(CallUnaryAndWait<BytesValue>(
                  *channel, "/dualrpc.testing.Glue/Nope", Bytes(""), {})
                  .status(),
              StatusIs(absl::StatusCode::kUnimplemented));
  EXPECT_THAT(
      CallUnaryAndWait<BytesValue>(*channel, "/no.Such/Service", Bytes(""), {})
          .status(),
      StatusIs(absl::StatusCode::kUnimplemented));
}

TEST_F(GrpcGlueTest, ResponseAboveReceiveLimitIsResourceExhausted) {
  grpc::GrpcChannelOptions options;
  options.max_receive_message_bytes = 1024;
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel(options);
  EXPECT_TRUE(CallUnaryAndWait<BytesValue>(*channel, kEcho,
                                           Bytes(std::string(512, 'x')), {})
                  .ok());
  EXPECT_EQ(CallUnaryAndWait<BytesValue>(*channel, kEcho,
                                         Bytes(std::string(2048, 'x')), {})
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
}

// Each grpc::Channel has its own connection, so the server sees one client
// port per channel.
TEST_F(GrpcGlueTest, CallsAreSpreadOverChannelConnections) {
  for (int channel_count : {1, 3}) {
    grpc::GrpcChannelOptions options;
    options.channel_count = channel_count;
    std::shared_ptr<grpc::GrpcChannel> channel = NewChannel(options);
    const size_t first = Seen().size();
    for (int i = 0; i < 2 * channel_count; ++i) {
      ASSERT_TRUE(
          CallUnaryAndWait<BytesValue>(*channel, kEcho, Bytes(""), {}).ok());
    }
    std::vector<SeenCall> seen = Seen();
    std::set<std::string> peers;
    for (size_t i = first; i < seen.size(); ++i) peers.insert(seen[i].peer);
    EXPECT_THAT(peers, SizeIs(channel_count));
  }
}

TEST(GrpcChannelTest, CreateRejectsBadOptions) {
  grpc::GrpcChannelOptions no_channels;
  no_channels.channel_count = 0;
  grpc::GrpcChannelOptions too_many;
  too_many.channel_count = grpc::kMaxGrpcChannelCount + 1;
  grpc::GrpcChannelOptions no_receive;
  no_receive.max_receive_message_bytes = 0;
  for (const grpc::GrpcChannelOptions& options :
       {no_channels, too_many, no_receive}) {
    EXPECT_THAT(grpc::GrpcChannel::Create("127.0.0.1:1", options),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_THAT(grpc::GrpcChannel::Create(""),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace dualrpc::rpc
