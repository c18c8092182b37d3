// TlsServerContext / TlsClientContext / TlsStream over real loopback TCP:
// the handshake driven by hand through ContinueHandshake (poll(2) waits for
// the readiness each step asks for) and, for the ByteStream contract under
// backpressure, two TcpConnections on a real EventLoop. Certificates from
// make_test_certs.sh.

#include "dualrpc/net/tls.h"

#include <netinet/in.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/net/tcp_connection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loop_thread.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"
#include "testing/test_certs.h"
#include "testing/wait.h"

namespace dualrpc::net {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;
using ::testing::HasSubstr;

// A connected pair of non-blocking loopback TCP sockets.
struct SocketPair {
  base::ScopedFd client;
  base::ScopedFd server;
};

SocketPair ConnectedPair() {
  base::ScopedFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  EXPECT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address),
                   sizeof address),
            0);
  EXPECT_EQ(::listen(listener.get(), 1), 0);
  EXPECT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address),
                          &size),
            0);
  base::ScopedFd client(
      ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  ::connect(client.get(), reinterpret_cast<sockaddr*>(&address),
            sizeof address);  // EINPROGRESS; accept below completes it.
  base::ScopedFd server(
      ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  EXPECT_TRUE(server.valid());
  return {std::move(client), std::move(server)};
}

short PollEvents(Readiness readiness) {
  return readiness == Readiness::kWritable ? POLLOUT : POLLIN;
}

// Runs both handshakes until both are complete or one fails; each side
// waits (poll, 10 ms at most per round) for what it asked for. The first
// error, with which side it was on, or OK. A server whose handshake failed
// waits for the client's end before it says so (tls_stream.h): once the
// client is done (or failed) and the server has not finished 300 ms later,
// `server` is UNKNOWN; ServerOutcome then ends the client's side and
// collects it.
struct HandshakeResult {
  absl::Status client = absl::OkStatus();
  absl::Status server = absl::OkStatus();
};

absl::Status ServerOutcome(TlsStream* client, TlsStream* server) {
  ::shutdown(client->fd(), SHUT_WR);
  Readiness wait = Readiness::kReadable;
  const absl::Time deadline = absl::Now() + dualrpc_testing::kWaitTimeout;
  while (absl::Now() < deadline) {
    absl::StatusOr<bool> step = server->ContinueHandshake(&wait);
    if (!step.ok()) return step.status();
    if (*step) return absl::OkStatus();
    pollfd fds{server->fd(), PollEvents(wait), 0};
    ::poll(&fds, 1, 10);
  }
  return absl::DeadlineExceededError("server handshake did not end");
}

HandshakeResult Handshake(TlsStream* client, TlsStream* server) {
  HandshakeResult result;
  Readiness client_wait = Readiness::kWritable;
  Readiness server_wait = Readiness::kReadable;
  const absl::Time deadline = absl::Now() + dualrpc_testing::kWaitTimeout;
  bool client_done = false;
  bool server_done = false;
  absl::Time server_deadline = absl::InfiniteFuture();
  while (!(client_done && server_done) && absl::Now() < deadline) {
    if (!client_done) {
      absl::StatusOr<bool> step = client->ContinueHandshake(&client_wait);
      if (!step.ok()) {
        result.client = step.status();
        client_done = true;
      } else {
        client_done = *step;
      }
      if (client_done) server_deadline = absl::Now() + absl::Milliseconds(300);
    }
    if (!server_done && absl::Now() > server_deadline) {
      result.server = absl::UnknownError("server still handshaking");
      return result;
    }
    if (!server_done) {
      absl::StatusOr<bool> step = server->ContinueHandshake(&server_wait);
      if (!step.ok()) {
        result.server = step.status();
        return result;
      }
      server_done = *step;
    }
    pollfd fds[2] = {{client->fd(), PollEvents(client_wait), 0},
                     {server->fd(), PollEvents(server_wait), 0}};
    ::poll(fds, 2, 10);
  }
  if (!(client_done && server_done)) {
    result.client = absl::DeadlineExceededError("handshake did not finish");
  }
  return result;
}

// Writes all of `bytes` to `from` and reads them from `to`, by hand (poll
// waits for what each call asked for). What `to` read, or the first error.
absl::StatusOr<std::string> Transfer1(TlsStream* from, TlsStream* to,
                                      const std::string& bytes) {
  Buffer out;
  out.Append(bytes);
  Buffer in;
  Readiness write_wait = Readiness::kWritable;
  Readiness read_wait = Readiness::kReadable;
  const absl::Time deadline = absl::Now() + dualrpc_testing::kWaitTimeout;
  while (in.readable_bytes() < bytes.size() && absl::Now() < deadline) {
    if (out.readable_bytes() != 0) {
      absl::StatusOr<Transfer> wrote = from->WriteFrom(&out);
      if (!wrote.ok()) return wrote.status();
      write_wait = wrote->resume_on;
    }
    absl::StatusOr<Transfer> read = to->ReadInto(&in);
    if (!read.ok()) return read.status();
    if (read->eof) return absl::DataLossError("unexpected eof");
    read_wait = read->resume_on;
    pollfd fds[2] = {{from->fd(), PollEvents(write_wait), 0},
                     {to->fd(), PollEvents(read_wait), 0}};
    ::poll(fds, out.readable_bytes() != 0 ? 2 : 1, 10);
    if (out.readable_bytes() == 0) {
      pollfd reader{to->fd(), PollEvents(read_wait), 0};
      ::poll(&reader, 1, 10);
    }
  }
  return std::string(in.View());
}

// Reads from `stream` until it reports eof or fails (or the wait ends).
absl::StatusOr<std::string> ReadToEnd(TlsStream* stream) {
  Buffer in;
  const absl::Time deadline = absl::Now() + dualrpc_testing::kWaitTimeout;
  while (absl::Now() < deadline) {
    absl::StatusOr<Transfer> read = stream->ReadInto(&in);
    if (!read.ok()) return read.status();
    if (read->eof) return std::string(in.View());
    pollfd fds{stream->fd(), PollEvents(read->resume_on), 0};
    ::poll(&fds, 1, 10);
  }
  return absl::DeadlineExceededError("no end of stream");
}

class TlsStreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_THAT(dualrpc_testing::ProcessTestCerts(), IsOk());
  }
  static const dualrpc_testing::TestCerts& certs() {
    return *dualrpc_testing::ProcessTestCerts();
  }

  static TlsServerOptions ServerOptions(const std::string& cert,
                                        const std::string& key) {
    TlsServerOptions options;
    options.cert_file = cert;
    options.key_file = key;
    options.alpn_protocols = {"dualrpc/1"};
    return options;
  }
  static TlsServerOptions ServerOptions() {
    return ServerOptions(certs().server_cert, certs().server_key);
  }
  static TlsClientOptions ClientOptions() {
    TlsClientOptions options;
    options.ca_file = certs().ca_cert;
    options.alpn_protocols = {"dualrpc/1"};
    return options;
  }

  // Makes both contexts and both streams over a fresh loopback pair, and
  // runs the handshake.
  HandshakeResult Connect(TlsServerOptions server_options,
                          TlsClientOptions client_options,
                          const std::string& host = "localhost") {
    absl::StatusOr<std::shared_ptr<TlsServerContext>> server_context =
        TlsServerContext::Create(std::move(server_options));
    EXPECT_THAT(server_context, IsOk());
    absl::StatusOr<std::shared_ptr<TlsClientContext>> client_context =
        TlsClientContext::Create(std::move(client_options));
    EXPECT_THAT(client_context, IsOk());
    if (!server_context.ok() || !client_context.ok()) {
      return {absl::InternalError("no context"), absl::OkStatus()};
    }
    server_context_ = *server_context;
    return ConnectWith(**client_context, host);
  }

  HandshakeResult ConnectWith(TlsClientContext& client_context,
                              const std::string& host = "localhost") {
    SocketPair pair = ConnectedPair();
    client_ = client_context.WrapClient(std::move(pair.client), host);
    server_ = server_context_->WrapServer(std::move(pair.server));
    return Handshake(client_.get(), server_.get());
  }

  std::shared_ptr<TlsServerContext> server_context_;
  std::unique_ptr<TlsStream> client_;
  std::unique_ptr<TlsStream> server_;
};


TEST_F(TlsStreamTest, HandshakeAgreesOnAlpnAndCarriesBytesBothWays) {
  HandshakeResult result = Connect(ServerOptions(), ClientOptions());
  ASSERT_THAT(result.client, IsOk());
  ASSERT_THAT(result.server, IsOk());
  EXPECT_TRUE(client_->handshake_complete());
  EXPECT_TRUE(server_->handshake_complete());
  EXPECT_EQ(client_->negotiated_protocol(), "dualrpc/1");
  EXPECT_EQ(server_->negotiated_protocol(), "dualrpc/1");
  EXPECT_EQ(server_->PeerCertificateSubject(), "");  // No client cert.

  // Several records each way (a record holds at most 16 KiB).
  const std::string up(100 * 1024 + 7, 'u');
  const std::string down(70 * 1024 + 3, 'd');
  EXPECT_THAT(Transfer1(client_.get(), server_.get(), up),
              dualrpc_testing::IsOkAndHolds(up));
  EXPECT_THAT(Transfer1(server_.get(), client_.get(), down),
              dualrpc_testing::IsOkAndHolds(down));
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST_F(TlsStreamTest, ServerPrefersItsOwnAlpnOrderAndAcceptsNoAlpn) {
  TlsServerOptions server = ServerOptions();
  server.alpn_protocols = {"h2", "dualrpc/1"};
  TlsClientOptions client = ClientOptions();
  client.alpn_protocols = {"dualrpc/1", "h2"};
  HandshakeResult result = Connect(server, client);
  ASSERT_THAT(result.client, IsOk());
  EXPECT_EQ(client_->negotiated_protocol(), "h2");

  client.alpn_protocols.clear();
  result = Connect(server, client);
  ASSERT_THAT(result.client, IsOk());
  ASSERT_THAT(result.server, IsOk());
  EXPECT_EQ(server_->negotiated_protocol(), "");
}

TEST_F(TlsStreamTest, AlpnMismatchFailsTheHandshakeOnBothSides) {
  TlsClientOptions client = ClientOptions();
  client.alpn_protocols = {"h2"};
  HandshakeResult result = Connect(ServerOptions(), client);
  // The server fails first (it picks); its alert fails the client.
  EXPECT_THAT(result.client,
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("accepts none of the offered application "
                                 "protocols")));
  EXPECT_THAT(ServerOutcome(client_.get(), server_.get()),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("none of the application protocols this "
                                 "port serves")));
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST_F(TlsStreamTest, UntrustedServerCertificateIsUnavailableAndSaysSo) {
  HandshakeResult result =
      Connect(ServerOptions(certs().untrusted_cert, certs().untrusted_key),
              ClientOptions());
  EXPECT_THAT(result.client,
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("TLS handshake failed: server certificate is "
                                 "not trusted")));
  EXPECT_EQ(ERR_peek_error(), 0u);  // Nothing left for another connection.
}

TEST_F(TlsStreamTest, ExpiredServerCertificateIsUnavailableAndSaysSo) {
  HandshakeResult result = Connect(
      ServerOptions(certs().expired_cert, certs().expired_key), ClientOptions());
  EXPECT_THAT(result.client,
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("server certificate has expired")));
}

TEST_F(TlsStreamTest, OtherHostCertificateDoesNotMatchTheHost) {
  HandshakeResult result =
      Connect(ServerOptions(certs().otherhost_cert, certs().otherhost_key),
              ClientOptions());
  EXPECT_THAT(result.client,
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("server certificate does not match host "
                                 "\"localhost\"")));
}

TEST_F(TlsStreamTest, ServerNameOverrideIsWhatIsVerified) {
  TlsClientOptions client = ClientOptions();
  client.server_name = "other.example";
  HandshakeResult result = Connect(
      ServerOptions(certs().otherhost_cert, certs().otherhost_key), client);
  EXPECT_THAT(result.client, IsOk());
  // And the override is checked: the localhost certificate does not match.
  result = Connect(ServerOptions(), client);
  EXPECT_THAT(result.client,
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("does not match host \"other.example\"")));
}

TEST_F(TlsStreamTest, IpLiteralHostIsMatchedAgainstIpSans) {
  EXPECT_THAT(Connect(ServerOptions(), ClientOptions(), "127.0.0.1").client,
              IsOk());
  EXPECT_THAT(Connect(ServerOptions(), ClientOptions(), "[::1]").client,
              IsOk());
  EXPECT_THAT(Connect(ServerOptions(), ClientOptions(), "127.0.0.2").client,
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("does not match host \"127.0.0.2\"")));
}

TEST_F(TlsStreamTest, InsecureSkipsVerificationButStillEncrypts) {
  TlsClientOptions client = ClientOptions();
  client.ca_file.clear();
  client.insecure_skip_verify = true;
  HandshakeResult result = Connect(
      ServerOptions(certs().untrusted_cert, certs().untrusted_key), client,
      "wrong.example");
  ASSERT_THAT(result.client, IsOk());
  EXPECT_THAT(Transfer1(client_.get(), server_.get(), "hello"),
              dualrpc_testing::IsOkAndHolds(std::string("hello")));
}

TEST_F(TlsStreamTest, MutualTlsGivesTheServerTheClientSubject) {
  TlsServerOptions server = ServerOptions();
  server.client_ca_file = certs().ca_cert;
  TlsClientOptions client = ClientOptions();
  client.cert_file = certs().client_cert;
  client.key_file = certs().client_key;
  HandshakeResult result = Connect(server, client);
  ASSERT_THAT(result.client, IsOk());
  ASSERT_THAT(result.server, IsOk());
  EXPECT_EQ(server_->PeerCertificateSubject(), "CN=alice,O=dualrpc");
  EXPECT_EQ(server_->PeerCertificateSubject(), certs().client_subject);
  EXPECT_THAT(Transfer1(client_.get(), server_.get(), "hi"),
              dualrpc_testing::IsOkAndHolds(std::string("hi")));
}

// A TLS 1.3 client finishes its side before the server has checked its
// certificate: the server's refusal reaches it on its first read.
absl::Status ClientSideOfRefusal(TlsStream* client, TlsStream* server) {
  Buffer in;
  for (int i = 0; i < 200; ++i) {
    server->ReadInto(&in).IgnoreError();
    absl::StatusOr<Transfer> read = client->ReadInto(&in);
    if (!read.ok()) return read.status();
    pollfd fds{client->fd(), POLLIN, 0};
    ::poll(&fds, 1, 10);
  }
  return absl::OkStatus();
}

TEST_F(TlsStreamTest, MutualTlsRefusesAClientWithoutCertificate) {
  TlsServerOptions server = ServerOptions();
  server.client_ca_file = certs().ca_cert;
  HandshakeResult result = Connect(server, ClientOptions());
  EXPECT_THAT(ClientSideOfRefusal(client_.get(), server_.get()),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("TLS handshake failed: client certificate "
                                 "required")));
  EXPECT_THAT(ServerOutcome(client_.get(), server_.get()),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("client certificate required")));
}

TEST_F(TlsStreamTest, MutualTlsRefusesAnUntrustedClientCertificate) {
  TlsServerOptions server = ServerOptions();
  server.client_ca_file = certs().ca_cert;
  TlsClientOptions client = ClientOptions();
  client.cert_file = certs().untrusted_cert;
  client.key_file = certs().untrusted_key;
  HandshakeResult result = Connect(server, client);
  EXPECT_THAT(ClientSideOfRefusal(client_.get(), server_.get()),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("the server rejected the client "
                                 "certificate")));
  EXPECT_THAT(ServerOutcome(client_.get(), server_.get()),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("client certificate is not trusted")));
}

TEST_F(TlsStreamTest, PlaintextPeerOnATlsServerIsNotTls) {
  absl::StatusOr<std::shared_ptr<TlsServerContext>> context =
      TlsServerContext::Create(ServerOptions());
  ASSERT_THAT(context, IsOk());
  SocketPair pair = ConnectedPair();
  const std::string preface = "DRPC\x01\x00\x00\x00 plaintext";
  ASSERT_EQ(::send(pair.client.get(), preface.data(), preface.size(), 0),
            static_cast<ssize_t>(preface.size()));
  std::unique_ptr<TlsStream> server =
      (*context)->WrapServer(std::move(pair.server));
  // The server reports only at the peer's end (tls_stream.h)...
  Buffer in;
  absl::StatusOr<Transfer> first = server->ReadInto(&in);
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(first->would_block());
  // ...having shut its side down: the peer sees its end of stream (after
  // the alert, if OpenSSL sent one).
  char reply[64];
  pollfd readable{pair.client.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&readable, 1, 10000), 1);
  ssize_t n = 0;
  while ((n = ::recv(pair.client.get(), reply, sizeof reply, 0)) > 0) {
  }
  EXPECT_EQ(n, 0);
  ::shutdown(pair.client.get(), SHUT_WR);
  EXPECT_THAT(ReadToEnd(server.get()),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("the peer did not speak TLS")));
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST_F(TlsStreamTest, TlsClientOnAPlaintextPeerFailsClearly) {
  absl::StatusOr<std::shared_ptr<TlsClientContext>> context =
      TlsClientContext::Create(ClientOptions());
  ASSERT_THAT(context, IsOk());
  {  // A peer that answers in its own protocol.
    SocketPair pair = ConnectedPair();
    std::unique_ptr<TlsStream> client =
        (*context)->WrapClient(std::move(pair.client), "localhost");
    Readiness wait;
    ASSERT_THAT(client->ContinueHandshake(&wait), IsOk());
    const std::string reply = "DRPC\x01 not tls at all, a plaintext reply";
    ::send(pair.server.get(), reply.data(), reply.size(), 0);
    EXPECT_THAT(ReadToEnd(client.get()),
                StatusIs(absl::StatusCode::kUnavailable,
                         HasSubstr("the peer did not speak TLS")));
  }
  {  // A peer that just closes.
    SocketPair pair = ConnectedPair();
    std::unique_ptr<TlsStream> client =
        (*context)->WrapClient(std::move(pair.client), "localhost");
    Readiness wait;
    ASSERT_THAT(client->ContinueHandshake(&wait), IsOk());
    pair.server = base::ScopedFd();
    EXPECT_THAT(ReadToEnd(client.get()),
                StatusIs(absl::StatusCode::kUnavailable,
                         HasSubstr("closed the connection during the "
                                   "handshake")));
  }
}

TEST_F(TlsStreamTest, CloseNotifyIsEofAndTruncationIsAnError) {
  ASSERT_THAT(Connect(ServerOptions(), ClientOptions()).client, IsOk());
  server_->ShutdownWrite();  // close_notify, then FIN.
  EXPECT_THAT(ReadToEnd(client_.get()),
              dualrpc_testing::IsOkAndHolds(std::string()));

  ASSERT_THAT(Connect(ServerOptions(), ClientOptions()).client, IsOk());
  ASSERT_THAT(Transfer1(server_.get(), client_.get(), "partial"), IsOk());
  ::shutdown(server_->fd(), SHUT_WR);  // FIN without close_notify.
  EXPECT_THAT(ReadToEnd(client_.get()),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("without close_notify (truncated)")));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void CopyFile(const std::string& from, const std::string& to) {
  std::ofstream(to, std::ios::binary | std::ios::trunc) << ReadFile(from);
}

TEST_F(TlsStreamTest, ReloadServesTheNewCertificateToNewStreamsOnly) {
  dualrpc_testing::TempDir dir;
  const std::string cert = dir.path() + "/cert.pem";
  const std::string key = dir.path() + "/key.pem";
  CopyFile(certs().server_cert, cert);
  CopyFile(certs().server_key, key);
  absl::StatusOr<std::shared_ptr<TlsClientContext>> client_context =
      TlsClientContext::Create(ClientOptions());
  ASSERT_THAT(client_context, IsOk());
  absl::StatusOr<std::shared_ptr<TlsServerContext>> server_context =
      TlsServerContext::Create(ServerOptions(cert, key));
  ASSERT_THAT(server_context, IsOk());
  server_context_ = *server_context;
  ASSERT_THAT(ConnectWith(**client_context).client, IsOk());
  std::unique_ptr<TlsStream> old_client = std::move(client_);
  std::unique_ptr<TlsStream> old_server = std::move(server_);

  // A certificate the client does not trust: new streams must fail, which
  // they do only if they present the new one.
  CopyFile(certs().untrusted_cert, cert);
  CopyFile(certs().untrusted_key, key);
  ASSERT_THAT(server_context_->Reload(), IsOk());
  EXPECT_THAT(ConnectWith(**client_context).client,
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("not trusted")));
  EXPECT_THAT(Transfer1(old_client.get(), old_server.get(), "still here"),
              dualrpc_testing::IsOkAndHolds(std::string("still here")));

  // A reload that fails keeps what the context had.
  std::ofstream(cert, std::ios::trunc) << "not a certificate";
  EXPECT_THAT(server_context_->Reload(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(cert)));
  EXPECT_THAT(ConnectWith(**client_context).client,
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("not trusted")));
  CopyFile(certs().server2_cert, cert);
  CopyFile(certs().server2_key, key);
  ASSERT_THAT(server_context_->Reload(), IsOk());
  EXPECT_THAT(ConnectWith(**client_context).client, IsOk());
}

TEST_F(TlsStreamTest, CreateNamesTheFileThatIsWrong) {
  EXPECT_THAT(
      TlsServerContext::Create(ServerOptions("/nonexistent/cert.pem",
                                             certs().server_key))
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("/nonexistent/cert.pem")));
  EXPECT_THAT(
      TlsServerContext::Create(
          ServerOptions(certs().server_cert, certs().client_key))
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("key values mismatch")));
  TlsServerOptions bad_ca = ServerOptions();
  bad_ca.client_ca_file = "/nonexistent/ca.pem";
  EXPECT_THAT(TlsServerContext::Create(bad_ca).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("/nonexistent/ca.pem")));
  TlsClientOptions half = ClientOptions();
  half.cert_file = certs().client_cert;
  EXPECT_THAT(TlsClientContext::Create(half).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  TlsClientOptions bad_client_ca = ClientOptions();
  bad_client_ca.ca_file = "/nonexistent/ca.pem";
  EXPECT_THAT(TlsClientContext::Create(bad_client_ca).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("/nonexistent/ca.pem")));
  EXPECT_EQ(ERR_peek_error(), 0u);
}

// A TLS 1.2-only client (plain OpenSSL, blocking, on its own thread)
// against `server`; the server side's handshake result.
absl::Status HandshakeWithTls12Client(TlsServerContext& server) {
  SocketPair pair = ConnectedPair();
  std::unique_ptr<TlsStream> stream = server.WrapServer(std::move(pair.server));
  std::thread client([fd = std::move(pair.client)] {
    const int flags = ::fcntl(fd.get(), F_GETFL);
    ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd.get());
    SSL_connect(ssl);  // Verification is off: only the version matters.
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
  });
  Readiness wait = Readiness::kReadable;
  absl::StatusOr<bool> done = false;
  const absl::Time deadline = absl::Now() + dualrpc_testing::kWaitTimeout;
  while (done.ok() && !*done && absl::Now() < deadline) {
    done = stream->ContinueHandshake(&wait);
    pollfd fds{stream->fd(), PollEvents(wait), 0};
    ::poll(&fds, 1, 10);
  }
  client.join();
  if (!done.ok()) return done.status();
  return *done ? absl::OkStatus() : absl::DeadlineExceededError("no end");
}

TEST_F(TlsStreamTest, Tls12OnlyWhenTheServerAllowsIt) {
  absl::StatusOr<std::shared_ptr<TlsServerContext>> tls13 =
      TlsServerContext::Create(ServerOptions());
  ASSERT_THAT(tls13, IsOk());
  EXPECT_THAT(HandshakeWithTls12Client(**tls13),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("no TLS version both sides accept")));
  TlsServerOptions options = ServerOptions();
  options.min_version = TlsVersion::kTls12;
  absl::StatusOr<std::shared_ptr<TlsServerContext>> tls12 =
      TlsServerContext::Create(options);
  ASSERT_THAT(tls12, IsOk());
  EXPECT_THAT(HandshakeWithTls12Client(**tls12), IsOk());
}

// The ByteStream contract under a real TcpConnection on a real EventLoop:
// an echo server and a client that sends megabytes through small socket
// buffers and a small high-water mark, so that writes stop between and
// inside records and reads stop for backpressure.
class Collector final : public TcpConnection::Handler {
 public:
  explicit Collector(bool echo) : echo_(echo) {}

  void OnInput(Buffer* input) override {
    if (echo_) {
      connection->output()->Append(input->View());
      connection->ScheduleFlush();
    } else {
      absl::MutexLock lock(&mu_);
      received_.append(input->Peek(), input->readable_bytes());
    }
    input->RetrieveAll();
  }
  void OnPeerEof() override { connection->CloseAfterFlush(); }
  void OnClosed(const absl::Status& reason) override {
    absl::MutexLock lock(&mu_);
    closed_ = reason;
    closed_notification_.Notify();
  }

  std::size_t received_size() {
    absl::MutexLock lock(&mu_);
    return received_.size();
  }
  std::string received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }

  TcpConnection* connection = nullptr;

 private:
  const bool echo_;
  absl::Mutex mu_;
  std::string received_;
  absl::Status closed_ = absl::OkStatus();
  absl::Notification closed_notification_;
};

void ShrinkBuffers(int fd) {
  const int size = 16 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

TEST_F(TlsStreamTest, EchoOfMegabytesThroughTcpConnectionsUnderBackpressure) {
  absl::StatusOr<std::shared_ptr<TlsServerContext>> server_context =
      TlsServerContext::Create(ServerOptions());
  ASSERT_THAT(server_context, IsOk());
  absl::StatusOr<std::shared_ptr<TlsClientContext>> client_context =
      TlsClientContext::Create(ClientOptions());
  ASSERT_THAT(client_context, IsOk());
  SocketPair pair = ConnectedPair();
  ShrinkBuffers(pair.client.get());
  ShrinkBuffers(pair.server.get());

  LoopThread loop;
  Collector echo(/*echo=*/true);
  Collector client(/*echo=*/false);
  std::unique_ptr<TcpConnection> echo_connection;
  std::unique_ptr<TcpConnection> client_connection;
  std::string payload(4 * 1024 * 1024 + 123, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<char>(i * 7 + i / 4096);
  }
  ASSERT_TRUE(loop.RunOnLoop([&] {
    // The echo stops reading while 64 KiB of its output are unsent; the
    // client (whose unsent output is the whole payload) always reads.
    TcpConnection::Options echo_options;
    echo_options.high_water_mark = 64 * 1024;
    echo_connection = std::make_unique<TcpConnection>(
        loop.loop(), (*server_context)->WrapServer(std::move(pair.server)),
        echo_options, &echo);
    TcpConnection::Options options;
    options.high_water_mark = 2 * payload.size();
    echo.connection = echo_connection.get();
    client_connection = std::make_unique<TcpConnection>(
        loop.loop(),
        (*client_context)->WrapClient(std::move(pair.client), "localhost"),
        options, &client);
    client.connection = client_connection.get();
    ASSERT_THAT(echo_connection->Start(), IsOk());
    ASSERT_THAT(client_connection->Start(), IsOk());
    // Before the handshake: the write waits for it, then goes.
    client_connection->output()->Append(payload);
    client_connection->ScheduleFlush();
  }));
  EXPECT_TRUE(dualrpc_testing::Eventually(
      [&] { return client.received_size() >= payload.size(); }));
  EXPECT_TRUE(client.received() == payload)
      << "received " << client.received_size() << " of " << payload.size();
  ASSERT_TRUE(loop.RunOnLoop([&] {
    client_connection.reset();
    echo_connection.reset();
  }));
}

}  // namespace
}  // namespace dualrpc::net
