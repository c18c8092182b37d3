// RawServer::Adopt: a server without a listener of its own serves streams
// handed to it (the shared port's way) like accepted sockets: served,
// counted against max_connections, refused once the drain began.

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/byte_stream.h"
#include "dualrpc/net/socket_address.h"
#include "dualrpc/net/socket_ops.h"
#include "dualrpc/raw/server/raw_server.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/rpc/transport_stats.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/transport_stats.h"
#include "testing/wait.h"

namespace dualrpc::raw {
namespace {

using ::dualrpc_testing::Eventually;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::RefusedCount;
using ::dualrpc_testing::StatusIs;

constexpr absl::string_view kClientPreface("DRPC\x01\x01\x00\x00", 8);

// A stream for the server and the blocking client end (reads time out
// after 10 s).
struct AdoptedPair {
  std::unique_ptr<net::ByteStream> server_stream;
  base::ScopedFd client;
};

AdoptedPair MakePair() {
  absl::StatusOr<std::pair<base::ScopedFd, base::ScopedFd>> pair =
      net::StreamSocketPair();
  EXPECT_THAT(pair, IsOk());
  if (!pair.ok()) return {};
  const int client = pair->second.get();
  ::fcntl(client, F_SETFL, ::fcntl(client, F_GETFL) & ~O_NONBLOCK);
  timeval timeout{};
  timeout.tv_sec = 10;
  ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return {std::make_unique<net::PlainTcpStream>(std::move(pair->first)),
          std::move(pair->second)};
}

// Up to `n` bytes, fewer at EOF or after the 10 s timeout.
std::string Read(int fd, std::size_t n) {
  std::string data(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(fd, data.data() + got, n - got, 0);
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  data.resize(got);
  return data;
}

class RawServerAdoptTest : public ::testing::Test {
 protected:
  std::unique_ptr<RawServer> Start(int max_connections, int threads = 2) {
    RawServer::Options options;
    options.listen_address = "";
    options.event_loop_threads = threads;
    options.max_connections = max_connections;
    absl::StatusOr<std::unique_ptr<RawServer>> server =
        RawServer::Start(options, &registry_);
    EXPECT_THAT(server, IsOk());
    return server.ok() ? *std::move(server) : nullptr;
  }

  rpc::ServiceRegistry registry_;
  const net::SocketAddress peer_{};
};

TEST_F(RawServerAdoptTest, ServesAdoptedStreamsWithoutAListener) {
  std::unique_ptr<RawServer> server = Start(/*max_connections=*/10);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->address(), "");
  // Dealt round-robin: the two land on both loops.
  std::vector<base::ScopedFd> clients;
  for (int i = 0; i < 2; ++i) {
    AdoptedPair pair = MakePair();
    ASSERT_THAT(server->Adopt(std::move(pair.server_stream), peer_), IsOk());
    ASSERT_EQ(::send(pair.client.get(), kClientPreface.data(),
                     kClientPreface.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(kClientPreface.size()));
    EXPECT_EQ(Read(pair.client.get(), 4), "DRPC");
    clients.push_back(std::move(pair.client));
  }
  // Adopted streams count as accepted and open, like accepted sockets.
  const rpc::TransportStats stats = server->GetStats();
  EXPECT_EQ(stats.connections_open, 2);
  EXPECT_EQ(stats.connections_accepted_total, 2);
}

// Over the limit a connection gets the server preface and GOAWAY at once,
// without waiting for the client's preface (PROTOCOL.md §2, §4.3).
TEST_F(RawServerAdoptTest, AdoptedStreamsCountAgainstMaxConnections) {
  // One loop, so that the two are counted in the order they were adopted.
  std::unique_ptr<RawServer> server =
      Start(/*max_connections=*/1, /*threads=*/1);
  ASSERT_NE(server, nullptr);
  // Counted from its preface (§4.3).
  AdoptedPair first = MakePair();
  ASSERT_THAT(server->Adopt(std::move(first.server_stream), peer_), IsOk());
  ASSERT_EQ(::send(first.client.get(), kClientPreface.data(),
                   kClientPreface.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(kClientPreface.size()));
  EXPECT_EQ(Read(first.client.get(), 4), "DRPC");
  // At the limit, the second takes the idle first's place.
  AdoptedPair second = MakePair();
  ASSERT_THAT(server->Adopt(std::move(second.server_stream), peer_), IsOk());
  ASSERT_EQ(::send(second.client.get(), kClientPreface.data(),
                   kClientPreface.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(kClientPreface.size()));
  EXPECT_EQ(Read(second.client.get(), 4), "DRPC");
  EXPECT_EQ(RefusedCount(server->GetStats(), rpc::kRefusedEvicted), 1);
  EXPECT_TRUE(Eventually([&] {
    return server->GetStats().connections_open == 1;
  })) << server->GetStats().connections_open;
}

TEST_F(RawServerAdoptTest, RefusedOnceTheDrainBegan) {
  std::unique_ptr<RawServer> server = Start(/*max_connections=*/10);
  ASSERT_NE(server, nullptr);
  server->Drain(absl::Seconds(5));
  AdoptedPair pair = MakePair();
  EXPECT_THAT(server->Adopt(std::move(pair.server_stream), peer_),
              StatusIs(absl::StatusCode::kUnavailable));
  // Closed with the refusal: the client end reads the end of the stream.
  EXPECT_EQ(Read(pair.client.get(), 1), "");
  const rpc::TransportStats stats = server->GetStats();
  EXPECT_EQ(RefusedCount(stats, rpc::kRefusedDraining), 1);
  EXPECT_EQ(stats.connections_accepted_total, 1);
  EXPECT_EQ(stats.connections_open, 0);
}

}  // namespace
}  // namespace dualrpc::raw
