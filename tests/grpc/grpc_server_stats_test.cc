// GrpcServer::GetStats over real connections: channels to the server's own
// loopback port (seen through channelz) and sockets handed to
// AdoptConnection (counted by the server itself), and two servers of one
// process kept apart.

#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/grpc/grpc_server.h"
#include "dualrpc/rpc/transport_stats.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/transport_stats.h"
#include "testing/wait.h"

namespace dualrpc::grpc {
namespace {

using ::dualrpc_testing::Eventually;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::RefusedCount;
using ::dualrpc_testing::RefusedTotal;

std::unique_ptr<GrpcServer> StartServer(const std::string& listen_address) {
  GrpcServerOptions options;
  options.listen_address = listen_address;
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Start(options, {});
  EXPECT_THAT(server, IsOk());
  return server.ok() ? *std::move(server) : nullptr;
}

// A health check over `channel`: the connection is up and served.
void ExpectServing(::grpc::Channel* channel) {
  auto health = ::grpc::health::v1::Health::NewStub(
      std::shared_ptr<::grpc::Channel>(channel, [](::grpc::Channel*) {}));
  ::grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  ::grpc::health::v1::HealthCheckRequest request;
  ::grpc::health::v1::HealthCheckResponse response;
  const ::grpc::Status status = health->Check(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// A channel with a connection of its own (not shared through grpc's
// process-wide subchannel pool), connected.
std::shared_ptr<::grpc::Channel> ConnectedChannel(const std::string& address) {
  ::grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<::grpc::Channel> channel = ::grpc::CreateCustomChannel(
      address, ::grpc::InsecureChannelCredentials(), args);
  ExpectServing(channel.get());
  return channel;
}

TEST(GrpcServerStatsTest, CountsConnectionsToItsOwnPort) {
  std::unique_ptr<GrpcServer> server = StartServer("127.0.0.1:0");
  ASSERT_NE(server, nullptr);
  // Another server of the process, whose connections are not ours.
  std::unique_ptr<GrpcServer> other = StartServer("127.0.0.1:0");
  ASSERT_NE(other, nullptr);
  std::shared_ptr<::grpc::Channel> elsewhere =
      ConnectedChannel(other->address());

  rpc::TransportStats stats = server->GetStats();
  EXPECT_EQ(stats.connections_open, 0);
  EXPECT_EQ(stats.connections_accepted_total, 0);

  constexpr int kChannels = 3;
  std::vector<std::shared_ptr<::grpc::Channel>> channels;
  for (int i = 0; i < kChannels; ++i) {
    channels.push_back(ConnectedChannel(server->address()));
  }
  // channelz registers a socket asynchronously.
  EXPECT_TRUE(Eventually([&] {
    return server->GetStats().connections_open == kChannels;
  })) << server->GetStats().connections_open;
  EXPECT_EQ(server->GetStats().connections_accepted_total, kChannels);
  EXPECT_EQ(other->GetStats().connections_open, 1);

  channels.clear();
  EXPECT_TRUE(Eventually([&] {
    return server->GetStats().connections_open == 0;
  })) << server->GetStats().connections_open;
  stats = server->GetStats();
  EXPECT_EQ(stats.connections_accepted_total, kChannels);
  EXPECT_EQ(RefusedTotal(stats), 0);
  EXPECT_EQ(stats.tls_handshakes_total, 0);
  EXPECT_EQ(other->GetStats().connections_open, 1);
}

TEST(GrpcServerStatsTest, CountsAdoptedConnectionsUntilGrpcClosesThem) {
  std::unique_ptr<GrpcServer> server = StartServer("");
  ASSERT_NE(server, nullptr);
  constexpr int kAdopted = 2;
  std::vector<std::shared_ptr<::grpc::Channel>> channels;
  for (int i = 0; i < kAdopted; ++i) {
    int fds[2] = {-1, -1};
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    ASSERT_THAT(server->AdoptConnection(base::ScopedFd(fds[0])), IsOk());
    channels.push_back(::grpc::CreateInsecureChannelFromFd("adopted", fds[1]));
    ExpectServing(channels.back().get());
  }
  rpc::TransportStats stats = server->GetStats();
  EXPECT_EQ(stats.connections_open, kAdopted);
  EXPECT_EQ(stats.connections_accepted_total, kAdopted);

  // The client's end closes: grpc++ closes the adopted socket.
  channels.pop_back();
  EXPECT_TRUE(Eventually([&] {
    return server->GetStats().connections_open == kAdopted - 1;
  })) << server->GetStats().connections_open;
  EXPECT_EQ(server->GetStats().connections_accepted_total, kAdopted);
  EXPECT_EQ(RefusedTotal(server->GetStats()), 0);
}

TEST(GrpcServerStatsTest, CountsAdoptionsRefusedOnceShutdownBegan) {
  std::unique_ptr<GrpcServer> server = StartServer("");
  ASSERT_NE(server, nullptr);
  server->Shutdown(absl::ZeroDuration());
  int fds[2] = {-1, -1};
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  base::ScopedFd client_end(fds[1]);
  EXPECT_FALSE(server->AdoptConnection(base::ScopedFd(fds[0])).ok());
  const rpc::TransportStats stats = server->GetStats();
  EXPECT_EQ(RefusedCount(stats, rpc::kRefusedDraining), 1);
  EXPECT_EQ(stats.connections_accepted_total, 1);
  EXPECT_EQ(stats.connections_open, 0);
}

}  // namespace
}  // namespace dualrpc::grpc
