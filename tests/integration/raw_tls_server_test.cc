// dualrpc-server with --tls_*: the real binary, a raws:// channel and a
// plain OpenSSL client (to read the certificate the server presents).
// Flag validation exits 2 naming the flag; SIGHUP swaps the certificate for
// new connections while an existing connection keeps working, on the raw
// port, the gRPC port and the shared port (--listen).

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/notification.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/loopback.h"
#include "testing/echo_call.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/test_certs.h"
#include "testing/wait.h"

namespace dualrpc {
namespace {

using ::dualrpc_testing::PortOf;

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kEcho[] = "/dualrpc.v1.FileService/Echo";

absl::StatusOr<std::string> Echo(rpc::Channel& channel,
                                 const std::string& payload) {
  return dualrpc_testing::EchoCall(channel, payload, kEcho);
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

// The serial number (hex) of the PEM certificate in `path`.
std::string SerialOfFile(const std::string& path) {
  FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) return "";
  X509* cert = PEM_read_X509(file, nullptr, nullptr, nullptr);
  std::fclose(file);
  if (cert == nullptr) return "";
  BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = BN_bn2hex(serial);
  std::string result = hex;
  OPENSSL_free(hex);
  BN_free(serial);
  X509_free(cert);
  return result;
}

// The serial (hex) of the certificate a TLS server on 127.0.0.1:`port`
// presents, from a blocking OpenSSL client offering ALPN `alpn` (dualrpc/1
// or h2; verification off: only the certificate matters). Empty on failure.
std::string PresentedSerial(int port, const std::string& alpn = "dualrpc/1") {
  base::ScopedFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  timeval timeout{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address),
                sizeof address) != 0) {
    return "";
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  const std::string wire_alpn = static_cast<char>(alpn.size()) + alpn;
  SSL_CTX_set_alpn_protos(
      ctx, reinterpret_cast<const unsigned char*>(wire_alpn.data()),
      static_cast<unsigned>(wire_alpn.size()));
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd.get());
  SSL_set_tlsext_host_name(ssl, "localhost");
  std::string result;
  if (SSL_connect(ssl) == 1) {
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (cert != nullptr) {
      BIGNUM* serial =
          ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
      char* hex = BN_bn2hex(serial);
      result = hex;
      OPENSSL_free(hex);
      BN_free(serial);
    }
    SSL_shutdown(ssl);
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return result;
}

class RawTlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<dualrpc_testing::TestCerts> certs =
        dualrpc_testing::MakeTestCerts(dir_.path() + "/certs");
    ASSERT_THAT(certs, IsOk());
    certs_ = *std::move(certs);
    dir_.MakeDir("root");
  }

  // The server binary's exit code and stderr with `flags` (it must stop by
  // itself: a flag error).
  dualrpc_testing::CommandResult RunServer(std::vector<std::string> flags) {
    std::vector<std::string> argv = {
        dualrpc_testing::BinaryPath("dualrpc-server"),
        "--root=" + dir_.path() + "/root", "--grpc_listen=127.0.0.1:0",
        "--raw_listen=127.0.0.1:0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return dualrpc_testing::RunCommand(argv, "", absl::Seconds(20));
  }

  std::shared_ptr<rpc::Channel> RawsChannel(const std::string& raw_address) {
    return TlsChannel("raws", raw_address);
  }

  // A `scheme` ("raws", "grpcs") channel to localhost at `address`'s port,
  // trusting the test CA.
  std::shared_ptr<rpc::Channel> TlsChannel(const std::string& scheme,
                                           const std::string& address) {
    client::ChannelFactoryOptions options;
    options.tls.ca_file = certs_.ca_cert;
    absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
        client::CreateChannel(
            scheme + "://localhost:" + std::to_string(PortOf(address)),
            options);
    EXPECT_THAT(channel, IsOk());
    return channel.ok() ? *channel : nullptr;
  }

  dualrpc_testing::TempDir dir_;
  dualrpc_testing::TestCerts certs_;
};

TEST_F(RawTlsServerTest, BadTlsFlagsExit2NamingTheFlag) {
  struct Case {
    std::vector<std::string> flags;
    std::string words;
  };
  const std::vector<Case> cases = {
      {{"--tls_cert=" + certs_.server_cert}, "--tls_cert needs --tls_key"},
      {{"--tls_key=" + certs_.server_key}, "--tls_key needs --tls_cert"},
      {{"--tls_client_ca=" + certs_.ca_cert},
       "--tls_client_ca needs --tls_cert"},
      {{"--tls_cert=" + certs_.server_cert, "--tls_key=" + certs_.server_key,
        "--tls_min_version=1.1"},
       "--tls_min_version must be 1.2 or 1.3"},
      {{"--tls_cert=" + dir_.path() + "/missing.pem",
        "--tls_key=" + certs_.server_key},
       "--tls_cert: cannot read"},
      {{"--tls_cert=" + certs_.server_cert, "--tls_key=" + certs_.client_key},
       "--tls_key: "},
      {{"--tls_cert=" + certs_.server_cert, "--tls_key=" + certs_.server_key,
        "--tls_client_ca=" + certs_.server_key},
       "--tls_client_ca: "},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.words);
    dualrpc_testing::CommandResult result = RunServer(c.flags);
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_THAT(result.stderr_text, HasSubstr(c.words));
    EXPECT_THAT(result.stderr_text, ::testing::Not(HasSubstr("listening")));
  }
}

TEST_F(RawTlsServerTest, ServesRawsAndMutualTls) {
  absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
      dualrpc_testing::StartServer(
          dir_.path() + "/root",
          {"--tls_cert=" + certs_.server_cert,
           "--tls_key=" + certs_.server_key,
           "--tls_client_ca=" + certs_.ca_cert});
  ASSERT_THAT(server, IsOk());
  absl::StatusOr<std::string> raw = (*server)->Address("raw");
  ASSERT_THAT(raw, IsOk());
  client::ChannelFactoryOptions options;
  options.tls.ca_file = certs_.ca_cert;
  options.tls.cert_file = certs_.client_cert;
  options.tls.key_file = certs_.client_key;
  const std::string target =
      "raws://localhost:" + std::to_string(PortOf(*raw));
  absl::StatusOr<std::shared_ptr<rpc::Channel>> with_cert =
      client::CreateChannel(target, options);
  ASSERT_THAT(with_cert, IsOk());
  EXPECT_THAT(Echo(**with_cert, "mtls"), IsOkAndHolds(std::string("mtls")));
  EXPECT_THAT(Echo(*RawsChannel(*raw), "no cert"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("client certificate required")));
  // Plaintext on the TLS port.
  absl::StatusOr<std::shared_ptr<rpc::Channel>> plain =
      client::CreateChannel("raw://" + *raw, {});
  ASSERT_THAT(plain, IsOk());
  EXPECT_THAT(Echo(**plain, "x"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("raws://")));
}

TEST_F(RawTlsServerTest, SighupServesTheNewCertificateToNewConnections) {
  const std::string cert = dir_.path() + "/cert.pem";
  const std::string key = dir_.path() + "/key.pem";
  CopyFile(certs_.server_cert, cert);
  CopyFile(certs_.server_key, key);
  absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
      dualrpc_testing::StartServer(dir_.path() + "/root",
                                   {"--tls_cert=" + cert, "--tls_key=" + key});
  ASSERT_THAT(server, IsOk());
  absl::StatusOr<std::string> raw = (*server)->Address("raw");
  ASSERT_THAT(raw, IsOk());
  const int port = PortOf(*raw);
  const std::string old_serial = SerialOfFile(certs_.server_cert);
  const std::string new_serial = SerialOfFile(certs_.server2_cert);
  ASSERT_NE(old_serial, "");
  ASSERT_NE(old_serial, new_serial);
  EXPECT_EQ(PresentedSerial(port), old_serial);

  std::shared_ptr<rpc::Channel> existing = RawsChannel(*raw);
  ASSERT_THAT(Echo(*existing, "before"), IsOkAndHolds(std::string("before")));

  CopyFile(certs_.server2_cert, cert);
  CopyFile(certs_.server2_key, key);
  ASSERT_THAT((*server)->Signal(SIGHUP), IsOk());
  EXPECT_TRUE(dualrpc_testing::Eventually([&] {
    return absl::StrContains((*server)->StderrText(),
                             "reloaded TLS certificate");
  }));
  EXPECT_EQ(PresentedSerial(port), new_serial);
  EXPECT_THAT(Echo(*existing, "after"), IsOkAndHolds(std::string("after")));
  EXPECT_THAT(Echo(*RawsChannel(*raw), "new"),
              IsOkAndHolds(std::string("new")));

  // A reload that fails keeps serving the certificate it had.
  std::ofstream(cert, std::ios::trunc) << "garbage";
  ASSERT_THAT((*server)->Signal(SIGHUP), IsOk());
  EXPECT_TRUE(dualrpc_testing::Eventually([&] {
    return absl::StrContains((*server)->StderrText(),
                             "cannot reload TLS certificate");
  }));
  EXPECT_EQ(PresentedSerial(port), new_serial);
  EXPECT_TRUE((*server)->Alive());

  // SIGTERM still drains and stops.
  ASSERT_THAT((*server)->Signal(SIGTERM), IsOk());
  EXPECT_THAT((*server)->WaitForExit(absl::Seconds(20)), IsOkAndHolds(0));
}

// The gRPC port (grpc++'s own TLS, ReloadableServerCredentials) and the
// shared port (its own TLS context, h2 and dualrpc/1) reload on the same
// SIGHUP: new connections see server2's serial, an open gRPC channel and an
// open raws:// channel through the shared port keep working.
TEST_F(RawTlsServerTest, SighupReloadsTheGrpcAndTheSharedPort) {
  const std::string cert = dir_.path() + "/cert.pem";
  const std::string key = dir_.path() + "/key.pem";
  CopyFile(certs_.server_cert, cert);
  CopyFile(certs_.server_key, key);
  absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
      dualrpc_testing::StartServer(
          dir_.path() + "/root", {"--tls_cert=" + cert, "--tls_key=" + key,
                                  "--listen=127.0.0.1:0"});
  ASSERT_THAT(server, IsOk());
  absl::StatusOr<std::string> grpc = (*server)->Address("grpc");
  absl::StatusOr<std::string> shared = (*server)->Address("listen");
  ASSERT_THAT(grpc, IsOk());
  ASSERT_THAT(shared, IsOk());
  const std::string old_serial = SerialOfFile(certs_.server_cert);
  const std::string new_serial = SerialOfFile(certs_.server2_cert);
  ASSERT_NE(old_serial, "");
  ASSERT_NE(old_serial, new_serial);
  EXPECT_EQ(PresentedSerial(PortOf(*grpc), "h2"), old_serial);
  EXPECT_EQ(PresentedSerial(PortOf(*shared), "h2"), old_serial);
  EXPECT_EQ(PresentedSerial(PortOf(*shared), "dualrpc/1"), old_serial);

  std::shared_ptr<rpc::Channel> grpc_channel = TlsChannel("grpcs", *grpc);
  std::shared_ptr<rpc::Channel> shared_raw = TlsChannel("raws", *shared);
  std::shared_ptr<rpc::Channel> shared_grpc = TlsChannel("grpcs", *shared);
  for (rpc::Channel* channel :
       {grpc_channel.get(), shared_raw.get(), shared_grpc.get()}) {
    ASSERT_THAT(Echo(*channel, "before"), IsOkAndHolds(std::string("before")));
  }

  CopyFile(certs_.server2_cert, cert);
  CopyFile(certs_.server2_key, key);
  ASSERT_THAT((*server)->Signal(SIGHUP), IsOk());
  EXPECT_TRUE(dualrpc_testing::Eventually([&] {
    const std::string log = (*server)->StderrText();
    return absl::StrContains(log, "(grpc)") &&
           absl::StrContains(log, "(shared port)");
  }));
  EXPECT_EQ(PresentedSerial(PortOf(*grpc), "h2"), new_serial);
  EXPECT_EQ(PresentedSerial(PortOf(*shared), "h2"), new_serial);
  EXPECT_EQ(PresentedSerial(PortOf(*shared), "dualrpc/1"), new_serial);
  for (rpc::Channel* channel :
       {grpc_channel.get(), shared_raw.get(), shared_grpc.get()}) {
    EXPECT_THAT(Echo(*channel, "after"), IsOkAndHolds(std::string("after")));
  }
  EXPECT_THAT(Echo(*TlsChannel("grpcs", *grpc), "new"),
              IsOkAndHolds(std::string("new")));
  EXPECT_THAT(Echo(*TlsChannel("raws", *shared), "new"),
              IsOkAndHolds(std::string("new")));
  EXPECT_THAT(Echo(*TlsChannel("grpcs", *shared), "new"),
              IsOkAndHolds(std::string("new")));

  // A reload that fails keeps the new certificate on both.
  std::ofstream(key, std::ios::trunc) << "garbage";
  ASSERT_THAT((*server)->Signal(SIGHUP), IsOk());
  EXPECT_TRUE(dualrpc_testing::Eventually([&] {
    return absl::StrContains((*server)->StderrText(),
                             "cannot reload TLS certificate (gRPC port)");
  }));
  EXPECT_EQ(PresentedSerial(PortOf(*grpc), "h2"), new_serial);
  EXPECT_EQ(PresentedSerial(PortOf(*shared), "dualrpc/1"), new_serial);
  EXPECT_TRUE((*server)->Alive());
}

}  // namespace
}  // namespace dualrpc
