// GrpcServer::AdoptConnection: a server without a port of its own serves a
// socket handed to it (the shared port's way), gives the calls on it the
// client-certificate subject it was handed with, and refuses one once its
// shutdown has begun.

#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <sys/socket.h>

#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/rpc_method.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/grpc/grpc_server.h"
#include "dualrpc/grpc/registry_grpc_service.h"
#include "dualrpc/rpc/service_registry.h"
#include "google/protobuf/wrappers.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/unary_method.h"

namespace dualrpc::grpc {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;

struct SocketPair {
  base::ScopedFd server_end;
  base::ScopedFd client_end;
};

SocketPair MakeSocketPair() {
  int fds[2] = {-1, -1};
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  return {base::ScopedFd(fds[0]), base::ScopedFd(fds[1])};
}

::grpc::Status CheckHealth(base::ScopedFd client_end) {
  std::shared_ptr<::grpc::Channel> channel = ::grpc::CreateInsecureChannelFromFd(
      "adopted", client_end.Release());
  auto health = ::grpc::health::v1::Health::NewStub(channel);
  ::grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  ::grpc::health::v1::HealthCheckRequest request;
  ::grpc::health::v1::HealthCheckResponse response;
  ::grpc::Status status = health->Check(&context, request, &response);
  if (status.ok()) {
    EXPECT_EQ(response.status(),
              ::grpc::health::v1::HealthCheckResponse::SERVING);
  }
  return status;
}

TEST(GrpcServerAdoptTest, ServesAnAdoptedSocketWithoutAPortOfItsOwn) {
  GrpcServerOptions options;
  options.listen_address = "";
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Start(options, {});
  ASSERT_THAT(server, IsOk());
  EXPECT_EQ((*server)->address(), "");
  for (int i = 0; i < 2; ++i) {
    SocketPair pair = MakeSocketPair();
    ASSERT_THAT((*server)->AdoptConnection(std::move(pair.server_end)),
                IsOk());
    ::grpc::Status status = CheckHealth(std::move(pair.client_end));
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
}

TEST(GrpcServerAdoptTest, RefusesOnceShutdownBegan) {
  GrpcServerOptions options;
  options.listen_address = "";
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Start(options, {});
  ASSERT_THAT(server, IsOk());
  (*server)->Shutdown(absl::ZeroDuration());
  SocketPair pair = MakeSocketPair();
  EXPECT_THAT((*server)->AdoptConnection(std::move(pair.server_end)),
              StatusIs(absl::StatusCode::kUnavailable));
  // The refused socket was closed: its peer reads the end of the stream.
  char byte;
  EXPECT_EQ(::recv(pair.client_end.get(), &byte, 1, 0), 0);
}

TEST(AdoptedPeerSubjectsTest, FindsBySocketNumberAndAnEmptySubjectClears) {
  AdoptedPeerSubjects subjects;
  subjects.Set(7, "CN=alice,O=dualrpc");
  EXPECT_EQ(subjects.Find("fd:7"), "CN=alice,O=dualrpc");
  EXPECT_EQ(subjects.Find("fd:8"), "");
  EXPECT_EQ(subjects.Find("fd:7x"), "");
  EXPECT_EQ(subjects.Find("ipv4:127.0.0.1:7"), "");
  // A later socket with the same number, adopted without a subject.
  subjects.Set(7, "");
  EXPECT_EQ(subjects.Find("fd:7"), "");
}

constexpr char kWhoAmI[] = "/t.Who/AmI";

// The subject a call on `client_end` sees (ServerCallContext).
std::string SubjectSeenOn(base::ScopedFd client_end) {
  std::shared_ptr<::grpc::Channel> channel =
      ::grpc::CreateInsecureChannelFromFd("adopted", client_end.Release());
  ::grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  google::protobuf::StringValue request;
  google::protobuf::StringValue response;
  ::grpc::Status status = ::grpc::internal::BlockingUnaryCall(
      channel.get(),
      ::grpc::internal::RpcMethod(kWhoAmI,
                                  ::grpc::internal::RpcMethod::NORMAL_RPC),
      &context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.value();
}

TEST(GrpcServerAdoptTest, CallsSeeTheSubjectTheSocketWasAdoptedWith) {
  rpc::ServiceRegistry registry;
  ASSERT_THAT(
      registry.AddMethod(dualrpc_testing::UnaryMethodFrom<
                         google::protobuf::StringValue,
                         google::protobuf::StringValue>(
          kWhoAmI, [](rpc::ServerCallContext* context,
                      const google::protobuf::StringValue&,
                      google::protobuf::StringValue* response,
                      rpc::UnaryDone done) {
            response->set_value(context->peer_certificate_subject());
            std::move(done)(absl::OkStatus());
          })),
      IsOk());
  auto subjects = std::make_shared<AdoptedPeerSubjects>();
  absl::StatusOr<std::vector<std::unique_ptr<::grpc::Service>>> services =
      MakeGrpcServices(registry, subjects.get());
  ASSERT_THAT(services, IsOk());
  GrpcServerOptions options;
  options.listen_address = "";
  options.builtin_inspection = false;
  options.adopted_subjects = subjects;
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Start(options, {(*services)[0].get()});
  ASSERT_THAT(server, IsOk());

  SocketPair with = MakeSocketPair();
  ASSERT_THAT((*server)->AdoptConnection(std::move(with.server_end),
                                         "CN=alice,O=dualrpc"),
              IsOk());
  SocketPair without = MakeSocketPair();
  ASSERT_THAT((*server)->AdoptConnection(std::move(without.server_end)),
              IsOk());
  EXPECT_EQ(SubjectSeenOn(std::move(with.client_end)), "CN=alice,O=dualrpc");
  EXPECT_EQ(SubjectSeenOn(std::move(without.client_end)), "");
}

}  // namespace
}  // namespace dualrpc::grpc
