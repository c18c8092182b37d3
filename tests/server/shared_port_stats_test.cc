// SharedPort::GetStats over real loopback sockets: a port started in-process
// on 127.0.0.1:0 whose handlers keep what they are handed, and blocking
// clients that send exact first bytes.

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/byte_stream.h"
#include "dualrpc/net/tls.h"
#include "dualrpc/rpc/transport_stats.h"
#include "dualrpc/server/shared_port.h"
#include "gtest/gtest.h"
#include "testing/loopback.h"
#include "testing/status_matchers.h"
#include "testing/test_certs.h"
#include "testing/transport_stats.h"
#include "testing/wait.h"

namespace dualrpc::server {
namespace {

using ::dualrpc_testing::PortOf;
using ::dualrpc_testing::ConnectLoopbackTcp;

using ::dualrpc_testing::Eventually;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::kWaitTimeout;
using ::dualrpc_testing::RefusedCount;
using ::dualrpc_testing::RefusedTotal;

void SendAll(int fd, const std::string& bytes) {
  ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
}

// True once the port has closed `fd` (EOF or reset) within `timeout`.
bool ClosedByPort(int fd, absl::Duration timeout = kWaitTimeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    pollfd readable{fd, POLLIN, 0};
    if (::poll(&readable, 1, 50) != 1) continue;
    char bytes[256];
    if (::recv(fd, bytes, sizeof bytes, MSG_DONTWAIT) <= 0) return true;
  }
  return false;
}

class SharedPortStatsTest : public ::testing::Test {
 protected:
  void Start(SharedPort::Options options) {
    options.listen_address = "127.0.0.1:0";
    SharedPort::Handlers handlers;
    handlers.raw = [this](std::unique_ptr<net::ByteStream> stream,
                          const net::SocketAddress&) {
      absl::MutexLock lock(&mu_);
      raw_.push_back(std::move(stream));
    };
    handlers.grpc = [this](base::ScopedFd socket, std::string) {
      absl::MutexLock lock(&mu_);
      grpc_.push_back(std::move(socket));
    };
    absl::StatusOr<std::unique_ptr<SharedPort>> port =
        SharedPort::Start(std::move(options), std::move(handlers));
    ASSERT_THAT(port, IsOk());
    port_ = *std::move(port);
  }

  int port() const { return PortOf(port_->address()); }
  rpc::TransportStats Stats() const { return port_->GetStats(); }

  static std::int64_t HandedOver(const rpc::TransportStats& stats,
                                 const std::string& to) {
    for (const auto& [name, count] : stats.handed_over_total) {
      if (name == to) return count;
    }
    return -1;
  }

  // Declared before port_: the port's handlers write them until it is
  // destroyed.
  absl::Mutex mu_;
  std::vector<std::unique_ptr<net::ByteStream>> raw_ ABSL_GUARDED_BY(mu_);
  std::vector<base::ScopedFd> grpc_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<SharedPort> port_;
};

// Open counts connections while they are detected; each leaves it when it
// is handed over (counted per handler) or refused (counted per reason).
TEST_F(SharedPortStatsTest, CountsDetectingHandedOverAndUnknown) {
  Start({});
  rpc::TransportStats stats = Stats();
  EXPECT_EQ(stats.connections_open, 0);
  EXPECT_EQ(HandedOver(stats, "raw"), 0);
  EXPECT_EQ(HandedOver(stats, "grpc"), 0);

  base::ScopedFd raw = ConnectLoopbackTcp(port());
  base::ScopedFd grpc = ConnectLoopbackTcp(port());
  base::ScopedFd garbage = ConnectLoopbackTcp(port());
  EXPECT_TRUE(Eventually([&] { return Stats().connections_open == 3; }))
      << Stats().connections_open;
  EXPECT_EQ(Stats().connections_accepted_total, 3);

  SendAll(raw.get(), std::string("DRPC\x01\x01\x00\x00", 8));
  EXPECT_TRUE(Eventually([&] { return HandedOver(Stats(), "raw") == 1; }));
  SendAll(grpc.get(), std::string(kHttp2ClientPreface));
  EXPECT_TRUE(Eventually([&] { return HandedOver(Stats(), "grpc") == 1; }));
  EXPECT_EQ(Stats().connections_open, 1);
  SendAll(garbage.get(), "GET / HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(ClosedByPort(garbage.get()));
  EXPECT_TRUE(Eventually([&] { return Stats().connections_open == 0; }));

  stats = Stats();
  EXPECT_EQ(RefusedCount(stats, rpc::kRefusedUnknownProtocol), 1);
  EXPECT_EQ(RefusedTotal(stats), 1);
  EXPECT_EQ(HandedOver(stats, "raw"), 1);
  EXPECT_EQ(HandedOver(stats, "grpc"), 1);
  EXPECT_EQ(stats.connections_accepted_total, 3);
  EXPECT_EQ(stats.tls_handshakes_total, 0);
  EXPECT_EQ(stats.tls_handshake_failures_total, 0);
}

// A peer that leaves before its protocol is known was not refused.
TEST_F(SharedPortStatsTest, APeerThatLeavesIsNotARefusal) {
  Start({});
  {
    base::ScopedFd leaving = ConnectLoopbackTcp(port());
    SendAll(leaving.get(), "D");
    EXPECT_TRUE(Eventually([&] { return Stats().connections_open == 1; }));
  }
  EXPECT_TRUE(Eventually([&] { return Stats().connections_open == 0; }));
  EXPECT_EQ(RefusedTotal(Stats()), 0);
  EXPECT_EQ(Stats().connections_accepted_total, 1);
}

TEST_F(SharedPortStatsTest, CountsDetectTimeouts) {
  SharedPort::Options options;
  options.detect_timeout = absl::Milliseconds(100);
  Start(std::move(options));
  base::ScopedFd silent = ConnectLoopbackTcp(port());
  base::ScopedFd one_byte = ConnectLoopbackTcp(port());
  SendAll(one_byte.get(), "P");
  EXPECT_TRUE(ClosedByPort(silent.get()));
  EXPECT_TRUE(ClosedByPort(one_byte.get()));
  EXPECT_TRUE(Eventually([&] {
    return RefusedCount(Stats(), rpc::kRefusedDetectTimeout) == 2;
  })) << RefusedCount(Stats(), rpc::kRefusedDetectTimeout);
  EXPECT_EQ(RefusedTotal(Stats()), 2);
  EXPECT_EQ(Stats().connections_open, 0);
}

TEST_F(SharedPortStatsTest, CountsConnectionsOverMaxDetecting) {
  SharedPort::Options options;
  options.max_detecting = 2;
  Start(std::move(options));
  std::vector<base::ScopedFd> silent;
  for (int i = 0; i < 2; ++i) silent.push_back(ConnectLoopbackTcp(port()));
  EXPECT_TRUE(Eventually([&] { return Stats().connections_open == 2; }));
  base::ScopedFd over = ConnectLoopbackTcp(port());
  EXPECT_TRUE(ClosedByPort(over.get()));
  EXPECT_TRUE(Eventually(
      [&] { return RefusedCount(Stats(), rpc::kRefusedMaxDetecting) == 1; }));
  EXPECT_EQ(Stats().connections_open, 2);
  EXPECT_EQ(Stats().connections_accepted_total, 3);
}

TEST_F(SharedPortStatsTest, StopAcceptingRefusesWhatIsDetecting) {
  Start({});
  base::ScopedFd silent = ConnectLoopbackTcp(port());
  EXPECT_TRUE(Eventually([&] { return Stats().connections_open == 1; }));
  port_->StopAccepting();
  EXPECT_EQ(RefusedCount(Stats(), rpc::kRefusedDraining), 1);
  EXPECT_EQ(Stats().connections_open, 0);
}

class SharedPortTlsStatsTest : public SharedPortStatsTest {
 protected:
  static void SetUpTestSuite() {
    ASSERT_THAT(dualrpc_testing::ProcessTestCerts(), IsOk());
  }
  static const dualrpc_testing::TestCerts& certs() {
    return *dualrpc_testing::ProcessTestCerts();
  }

  void StartTls() {
    net::TlsServerOptions tls;
    tls.cert_file = certs().server_cert;
    tls.key_file = certs().server_key;
    tls.alpn_protocols = {"h2", "dualrpc/1"};
    absl::StatusOr<std::shared_ptr<net::TlsServerContext>> context =
        net::TlsServerContext::Create(tls);
    ASSERT_THAT(context, IsOk());
    SharedPort::Options options;
    options.tls = *context;
    Start(std::move(options));
  }

  // Runs a client handshake offering `alpn` to completion (or failure);
  // the stream, non-blocking, stays open.
  std::unique_ptr<net::TlsStream> Handshake(const std::string& alpn) {
    net::TlsClientOptions options;
    options.ca_file = certs().ca_cert;
    options.alpn_protocols = {alpn};
    absl::StatusOr<std::shared_ptr<net::TlsClientContext>> context =
        net::TlsClientContext::Create(options);
    EXPECT_THAT(context, IsOk());
    if (!context.ok()) return nullptr;
    base::ScopedFd socket = ConnectLoopbackTcp(port());
    ::fcntl(socket.get(), F_SETFL, ::fcntl(socket.get(), F_GETFL) | O_NONBLOCK);
    const int fd = socket.get();
    std::unique_ptr<net::TlsStream> stream =
        (*context)->WrapClient(std::move(socket), "localhost");
    const absl::Time deadline = absl::Now() + kWaitTimeout;
    while (absl::Now() < deadline) {
      net::Readiness resume_on = net::Readiness::kReadable;
      absl::StatusOr<bool> complete = stream->ContinueHandshake(&resume_on);
      EXPECT_THAT(complete, IsOk());
      if (!complete.ok() || *complete) return stream;
      pollfd ready{
          fd,
          static_cast<short>(resume_on == net::Readiness::kReadable ? POLLIN
                                                                    : POLLOUT),
          0};
      ::poll(&ready, 1, 50);
    }
    ADD_FAILURE() << "TLS handshake not complete in time";
    return stream;
  }
};

TEST_F(SharedPortTlsStatsTest, CountsHandshakesAndFailures) {
  StartTls();
  std::unique_ptr<net::TlsStream> raw = Handshake("dualrpc/1");
  ASSERT_NE(raw, nullptr);
  EXPECT_TRUE(Eventually([&] { return HandedOver(Stats(), "raw") == 1; }));
  std::unique_ptr<net::TlsStream> h2 = Handshake("h2");
  ASSERT_NE(h2, nullptr);
  EXPECT_TRUE(Eventually([&] { return HandedOver(Stats(), "grpc") == 1; }));
  EXPECT_EQ(Stats().tls_handshakes_total, 2);
  EXPECT_EQ(Stats().tls_handshake_failures_total, 0);

  // Plaintext HTTP/2 on the TLS port: the handshake fails. The port lingers
  // after its alert until the peer closes.
  base::ScopedFd plaintext = ConnectLoopbackTcp(port());
  SendAll(plaintext.get(),
          std::string(kHttp2ClientPreface) + std::string(64, '\0'));
  EXPECT_TRUE(ClosedByPort(plaintext.get()));
  plaintext.Reset();
  EXPECT_TRUE(Eventually([&] {
    return Stats().tls_handshake_failures_total == 1;
  })) << Stats().tls_handshake_failures_total;
  const rpc::TransportStats stats = Stats();
  EXPECT_EQ(stats.tls_handshakes_total, 2);
  EXPECT_EQ(stats.connections_accepted_total, 3);
  EXPECT_EQ(stats.connections_open, 0);
  // A failed handshake is not a refusal.
  EXPECT_EQ(RefusedTotal(stats), 0);
}

}  // namespace
}  // namespace dualrpc::server
