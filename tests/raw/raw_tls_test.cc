// RawServer and RawChannel over TLS, on real loopback sockets: the protocol
// runs unchanged above TLS; handshake failures fail calls with UNAVAILABLE
// and words that say which; a plaintext peer on either side gets a clean
// close and a clear error; the handshake timeout and the cap on handshakes
// in progress close the connections they should. Certificates from
// make_test_certs.sh.

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/net/tls.h"
#include "dualrpc/raw/client/raw_channel.h"
#include "dualrpc/raw/server/raw_server.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/rpc/transport_stats.h"
#include "dualrpc/v1/file_service.pb.h"
#include "echo_methods.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/echo_call.h"
#include "testing/loopback.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"
#include "testing/test_certs.h"
#include "testing/transport_stats.h"
#include "testing/wait.h"

namespace dualrpc::raw {
namespace {

using ::dualrpc_testing::PortOf;
using ::dualrpc_testing::ConnectLoopbackTcp;

using ::dualrpc_testing::Eventually;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::kWaitTimeout;
using ::dualrpc_testing::RefusedCount;
using ::dualrpc_testing::RefusedTotal;
using ::dualrpc_testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kEcho[] = "/test.Tls/Echo";
constexpr char kPeer[] = "/test.Tls/Peer";
// Answers "TRANSPORT|SUBJECT" from the call's ServerCallContext.
constexpr char kWho[] = "/test.Tls/Who";

absl::StatusOr<std::string> Call(rpc::Channel& channel,
                                 const std::string& payload,
                                 const char* method = kEcho) {
  return dualrpc_testing::EchoCall(channel, payload, method);
}

// True once the server has closed `fd` (EOF or reset) within `timeout`.
bool ClosedByServer(int fd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    pollfd readable{fd, POLLIN, 0};
    if (::poll(&readable, 1, 50) != 1) continue;
    char byte[256];
    const ssize_t n = ::recv(fd, byte, sizeof byte, MSG_DONTWAIT);
    if (n <= 0) return true;  // 0: FIN; <0: ECONNRESET.
  }
  return false;
}

class RawTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_THAT(dualrpc_testing::ProcessTestCerts(), IsOk());
  }
  static const dualrpc_testing::TestCerts& certs() {
    return *dualrpc_testing::ProcessTestCerts();
  }

  void SetUp() override {
    AddEchoAndPeerMethods(kEcho, kPeer, &registry_);
    ASSERT_THAT(
        registry_.AddMethod(
            dualrpc_testing::UnaryMethodFrom<v1::EchoRequest,
                                             v1::EchoResponse>(
                kWho,
                [](rpc::ServerCallContext* context, const v1::EchoRequest&,
                   v1::EchoResponse* response, rpc::UnaryDone done) {
                  response->set_payload(
                      std::string(context->transport()) + "|" +
                      context->peer_certificate_subject());
                  std::move(done)(absl::OkStatus());
                })),
        IsOk());
  }

  std::shared_ptr<net::TlsServerContext> ServerTls(
      const std::string& cert, const std::string& key,
      const std::string& client_ca = "") {
    net::TlsServerOptions options;
    options.cert_file = cert;
    options.key_file = key;
    options.client_ca_file = client_ca;
    options.alpn_protocols = {"dualrpc/1"};
    absl::StatusOr<std::shared_ptr<net::TlsServerContext>> context =
        net::TlsServerContext::Create(options);
    EXPECT_THAT(context, IsOk());
    return context.ok() ? *context : nullptr;
  }

  // A one-loop server; `tls` null for plaintext.
  void StartServer(std::shared_ptr<net::TlsServerContext> tls,
                   absl::Duration handshake_timeout = absl::Seconds(10),
                   int max_handshakes = 256) {
    RawServer::Options options;
    options.event_loop_threads = 1;
    options.tls = std::move(tls);
    options.handshake_timeout = handshake_timeout;
    options.max_tls_handshakes = max_handshakes;
    absl::StatusOr<std::unique_ptr<RawServer>> server =
        RawServer::Start(options, &registry_);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
  }

  std::string RawsTarget() const {
    return "raws://localhost:" + std::to_string(PortOf(server_->address()));
  }

  // A channel through the factory, as the CLI and bench make them.
  std::shared_ptr<rpc::Channel> Channel(const std::string& target,
                                        client::TlsChannelOptions tls) {
    client::ChannelFactoryOptions options;
    options.tls = std::move(tls);
    absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
        client::CreateChannel(target, options);
    EXPECT_THAT(channel, IsOk());
    return channel.ok() ? *channel : nullptr;
  }

  client::TlsChannelOptions TrustingCa() const {
    client::TlsChannelOptions tls;
    tls.ca_file = certs().ca_cert;
    return tls;
  }

  rpc::ServiceRegistry registry_;
  std::unique_ptr<RawServer> server_;
};


TEST_F(RawTlsTest, CallsRunOverTlsWithLargeMessages) {
  StartServer(ServerTls(certs().server_cert, certs().server_key));
  std::shared_ptr<rpc::Channel> channel = Channel(RawsTarget(), TrustingCa());
  ASSERT_NE(channel, nullptr);
  EXPECT_THAT(Call(*channel, "hello"), IsOkAndHolds(std::string("hello")));
  EXPECT_THAT(Call(*channel, "", kWho), IsOkAndHolds(std::string("raw|")));
  const std::string big(3 * 1024 * 1024 + 17, 'x');  // Many TLS records.
  EXPECT_THAT(Call(*channel, big), IsOkAndHolds(big));
  // By IP literal: the certificate's IP SAN.
  std::shared_ptr<rpc::Channel> by_ip =
      Channel("raws://" + server_->address(), TrustingCa());
  EXPECT_THAT(Call(*by_ip, "ip"), IsOkAndHolds(std::string("ip")));
}

TEST_F(RawTlsTest, RawChannelTakesATlsContextDirectly) {
  StartServer(ServerTls(certs().server_cert, certs().server_key));
  net::TlsClientOptions tls;
  tls.ca_file = certs().ca_cert;
  tls.alpn_protocols = {"dualrpc/1"};
  absl::StatusOr<std::shared_ptr<net::TlsClientContext>> context =
      net::TlsClientContext::Create(tls);
  ASSERT_THAT(context, IsOk());
  RawChannelOptions options;
  options.tls = *context;
  options.connections = 2;
  absl::StatusOr<std::shared_ptr<RawChannel>> channel =
      RawChannel::Create(server_->address(), options);
  ASSERT_THAT(channel, IsOk());
  for (int i = 0; i < 4; ++i) {
    EXPECT_THAT(Call(**channel, "n" + std::to_string(i)),
                IsOkAndHolds("n" + std::to_string(i)));
  }
}

TEST_F(RawTlsTest, BadServerCertificatesFailCallsWithWhatIsWrong) {
  struct Case {
    std::string cert, key, words;
  };
  const std::vector<Case> cases = {
      {certs().untrusted_cert, certs().untrusted_key,
       "server certificate is not trusted"},
      {certs().expired_cert, certs().expired_key,
       "server certificate has expired"},
      {certs().otherhost_cert, certs().otherhost_key,
       "server certificate does not match host \"localhost\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.words);
    StartServer(ServerTls(c.cert, c.key));
    std::shared_ptr<rpc::Channel> channel = Channel(RawsTarget(), TrustingCa());
    ASSERT_NE(channel, nullptr);
    EXPECT_THAT(Call(*channel, "x"),
                StatusIs(absl::StatusCode::kUnavailable,
                         AllOf(HasSubstr("TLS handshake failed"),
                               HasSubstr(c.words))));
  }
}

TEST_F(RawTlsTest, InsecureAndServerNameOverride) {
  StartServer(ServerTls(certs().otherhost_cert, certs().otherhost_key));
  client::TlsChannelOptions insecure;
  insecure.insecure_skip_verify = true;
  EXPECT_THAT(Call(*Channel(RawsTarget(), insecure), "a"),
              IsOkAndHolds(std::string("a")));
  client::TlsChannelOptions named = TrustingCa();
  named.server_name = "other.example";
  EXPECT_THAT(Call(*Channel(RawsTarget(), named), "b"),
              IsOkAndHolds(std::string("b")));
}

TEST_F(RawTlsTest, MutualTls) {
  StartServer(
      ServerTls(certs().server_cert, certs().server_key, certs().ca_cert));
  client::TlsChannelOptions with_cert = TrustingCa();
  with_cert.cert_file = certs().client_cert;
  with_cert.key_file = certs().client_key;
  std::shared_ptr<rpc::Channel> alice = Channel(RawsTarget(), with_cert);
  EXPECT_THAT(Call(*alice, "in"), IsOkAndHolds(std::string("in")));
  // The verified subject reaches the implementation.
  EXPECT_THAT(Call(*alice, "", kWho),
              IsOkAndHolds(std::string("raw|CN=alice,O=dualrpc")));

  EXPECT_THAT(Call(*Channel(RawsTarget(), TrustingCa()), "no cert"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("client certificate required")));

  client::TlsChannelOptions untrusted = TrustingCa();
  untrusted.cert_file = certs().untrusted_cert;
  untrusted.key_file = certs().untrusted_key;
  EXPECT_THAT(Call(*Channel(RawsTarget(), untrusted), "rogue"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("rejected the client certificate")));
}

TEST_F(RawTlsTest, PlaintextClientOnATlsPortGetsAClearError) {
  StartServer(ServerTls(certs().server_cert, certs().server_key));
  std::shared_ptr<rpc::Channel> channel =
      Channel("raw://" + server_->address(), {});
  EXPECT_THAT(Call(*channel, "x"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("raws://")));
}

// A plaintext client fails its handshake once; a TLS client's completes
// once (its connection then serves several calls without counting again).
TEST_F(RawTlsTest, StatsCountHandshakesAndFailures) {
  StartServer(ServerTls(certs().server_cert, certs().server_key));
  // The raw preface and a frame's worth of bytes, in plaintext on a TLS
  // port (enough for OpenSSL to see a record that is not TLS).
  base::ScopedFd plaintext = ConnectLoopbackTcp(PortOf(server_->address()));
  std::string bytes("DRPC\x01\x01\x00\x00", 8);
  bytes.append(64, '\0');
  ASSERT_EQ(::send(plaintext.get(), bytes.data(), bytes.size(), 0),
            static_cast<ssize_t>(bytes.size()));
  EXPECT_TRUE(ClosedByServer(plaintext.get(), kWaitTimeout));
  // The server lingers after its alert until the peer closes (or the
  // handshake timeout); the failure counts when the connection ends.
  plaintext.Reset();
  EXPECT_TRUE(Eventually([&] {
    return server_->GetStats().tls_handshake_failures_total == 1;
  })) << server_->GetStats().tls_handshake_failures_total;
  EXPECT_EQ(server_->GetStats().tls_handshakes_total, 0);

  std::shared_ptr<rpc::Channel> channel = Channel(RawsTarget(), TrustingCa());
  EXPECT_THAT(Call(*channel, "1"), IsOkAndHolds(std::string("1")));
  EXPECT_THAT(Call(*channel, "2"), IsOkAndHolds(std::string("2")));
  const rpc::TransportStats stats = server_->GetStats();
  EXPECT_EQ(stats.tls_handshakes_total, 1);
  EXPECT_EQ(stats.tls_handshake_failures_total, 1);
  EXPECT_EQ(stats.connections_accepted_total, 2);
  EXPECT_EQ(stats.connections_open, 1);
  // A failed handshake is not a refusal.
  EXPECT_EQ(RefusedTotal(stats), 0);
}

TEST_F(RawTlsTest, TlsClientOnAPlaintextPortGetsAClearError) {
  StartServer(nullptr);
  EXPECT_THAT(Call(*Channel(RawsTarget(), TrustingCa()), "x"),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("TLS handshake failed"),
                             HasSubstr("not a TLS port?"))));
}

TEST_F(RawTlsTest, HandshakeTimeoutClosesSilentConnections) {
  StartServer(ServerTls(certs().server_cert, certs().server_key),
              absl::Milliseconds(300));
  const absl::Time start = absl::Now();
  base::ScopedFd silent = ConnectLoopbackTcp(PortOf(server_->address()));
  base::ScopedFd half = ConnectLoopbackTcp(PortOf(server_->address()));
  const std::string half_hello = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03";
  ASSERT_EQ(::send(half.get(), half_hello.data(), half_hello.size(), 0),
            static_cast<ssize_t>(half_hello.size()));
  EXPECT_TRUE(ClosedByServer(silent.get(), kWaitTimeout));
  EXPECT_TRUE(ClosedByServer(half.get(), kWaitTimeout));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(290));
  EXPECT_TRUE(Eventually([&] {
    return RefusedCount(server_->GetStats(), rpc::kRefusedHandshakeTimeout) ==
           2;
  })) << RefusedCount(server_->GetStats(), rpc::kRefusedHandshakeTimeout);
  EXPECT_EQ(server_->GetStats().tls_handshake_failures_total, 2);
  // An established connection is not subject to it.
  std::shared_ptr<rpc::Channel> channel = Channel(RawsTarget(), TrustingCa());
  EXPECT_THAT(Call(*channel, "1"), IsOkAndHolds(std::string("1")));
  absl::Notification later;
  later.WaitForNotificationWithTimeout(absl::Milliseconds(600));
  EXPECT_THAT(Call(*channel, "2"), IsOkAndHolds(std::string("2")));
}

TEST_F(RawTlsTest, AFloodOfHalfHandshakesDoesNotKeepANewClientOut) {
  // A handshake timeout far longer than the test: only the cap can help.
  constexpr int kCap = 4;
  StartServer(ServerTls(certs().server_cert, certs().server_key),
              absl::Seconds(120), kCap);
  const int port = PortOf(server_->address());
  std::vector<base::ScopedFd> flood;
  const std::string half_hello = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03";
  for (int i = 0; i < 20; ++i) {
    flood.push_back(ConnectLoopbackTcp(port));
    if (i % 2 == 1) {
      ::send(flood.back().get(), half_hello.data(), half_hello.size(), 0);
    }
  }
  const absl::Time start = absl::Now();
  std::shared_ptr<rpc::Channel> channel = Channel(RawsTarget(), TrustingCa());
  EXPECT_THAT(Call(*channel, "me"), IsOkAndHolds(std::string("me")));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // The server holds at most kCap handshakes: the oldest flood connections
  // were closed to make room, the newest ones at most kCap - 1 are open.
  int closed = 0;
  for (const base::ScopedFd& fd : flood) {
    if (ClosedByServer(fd.get(), absl::Milliseconds(100))) ++closed;
  }
  EXPECT_GE(closed, 20 - (kCap - 1));
  // Each one closed to make room was refused for it, and its handshake
  // failed; the client's completed.
  const rpc::TransportStats stats = server_->GetStats();
  EXPECT_GE(RefusedCount(stats, rpc::kRefusedMaxHandshakes), closed);
  EXPECT_EQ(RefusedCount(stats, rpc::kRefusedMaxHandshakes),
            stats.tls_handshake_failures_total);
  EXPECT_EQ(stats.tls_handshakes_total, 1);
  // And the client's connection, established, stays.
  EXPECT_THAT(Call(*channel, "again"), IsOkAndHolds(std::string("again")));
}

}  // namespace
}  // namespace dualrpc::raw
