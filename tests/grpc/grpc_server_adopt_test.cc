// GrpcServer::AdoptConnection: a server without a port of its own serves a
// socket handed to it (the shared port's way), and refuses one once its
// shutdown has begun.

#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>

#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/grpc/grpc_server.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

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

}  // namespace
}  // namespace dualrpc::grpc
