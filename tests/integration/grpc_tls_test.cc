// gRPC over TLS against the real dualrpc-server (--tls_* flags): our
// GrpcChannel through client::CreateChannel("grpcs://..."), the failure
// messages, mTLS, the flag validation; the dualrpc CLI over grpcs://; and
// third-party clients (buf curl, grpcio, grpc-js) on the same TLS port.
// Certificates come from tests/testing/make_test_certs.sh.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/v1/file_service.dualrpc.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/test_certs.h"

namespace dualrpc::server {
namespace {

using ::dualrpc_testing::CommandResult;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::RunCommand;
using ::dualrpc_testing::ServerProcess;
using ::dualrpc_testing::StatusIs;
using ::dualrpc_testing::TempDir;
using ::dualrpc_testing::TestCerts;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kCallTimeout = absl::Seconds(10);

class GrpcTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.WriteFile("a.txt", "a");
    absl::StatusOr<TestCerts> certs =
        dualrpc_testing::MakeTestCerts(cert_dir_.path());
    ASSERT_THAT(certs, IsOk());
    certs_ = *std::move(certs);
  }

  // A dualrpc-server serving `cert` on its gRPC port (no raw port: the raw
  // transport's TLS is another branch's), plus `extra_flags`.
  void StartTlsServer(const std::string& cert, const std::string& key,
                      std::vector<std::string> extra_flags = {}) {
    std::vector<std::string> flags = {"--raw_listen=", "--tls_cert=" + cert,
                                      "--tls_key=" + key};
    flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        dualrpc_testing::StartServer(root_.path(), flags);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    absl::StatusOr<std::string> address = server_->Address("grpc");
    ASSERT_THAT(address, IsOk());
    port_ = std::string(absl::StripPrefix(*address, "127.0.0.1:"));
  }

  void StartServingCert() {
    StartTlsServer(certs_.server_cert, certs_.server_key);
  }

  std::string Target(const std::string& scheme = "grpcs",
                     const std::string& host = "localhost") const {
    return absl::StrCat(scheme, "://", host, ":", port_);
  }

  // One Echo over a fresh channel to `target`.
  absl::StatusOr<std::string> Echo(const std::string& target,
                                   const client::TlsChannelOptions& tls,
                                   const std::string& authority = "") {
    client::ChannelFactoryOptions options;
    options.tls = tls;
    options.authority = authority;
    absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
        client::CreateChannel(target, options);
    if (!channel.ok()) return channel.status();
    v1::FileServiceClient client(*std::move(channel));
    v1::EchoRequest request;
    request.set_payload("over tls");
    rpc::CallOptions call;
    call.timeout = kCallTimeout;
    absl::StatusOr<v1::EchoResponse> response = client.Echo(request, call);
    if (!response.ok()) return response.status();
    return response->payload();
  }

  client::TlsChannelOptions TrustingCa() const {
    client::TlsChannelOptions tls;
    tls.ca_file = certs_.ca_cert;
    return tls;
  }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), dualrpc_testing::BinaryPath("dualrpc"));
    return RunCommand(args);
  }

  TempDir root_;
  TempDir cert_dir_;
  TestCerts certs_;
  std::unique_ptr<ServerProcess> server_;
  std::string port_;
};

TEST_F(GrpcTlsTest, ChannelTrustingTheCaCalls) {
  StartServingCert();
  EXPECT_THAT(Echo(Target(), TrustingCa()), IsOkAndHolds("over tls"));
  // The certificate's IP SAN matches an IP literal host.
  EXPECT_THAT(Echo(Target("grpcs", "127.0.0.1"), TrustingCa()),
              IsOkAndHolds("over tls"));
}

TEST_F(GrpcTlsTest, UntrustedCertificateIsUnavailableAndSaysSo) {
  StartTlsServer(certs_.untrusted_cert, certs_.untrusted_key);
  EXPECT_THAT(Echo(Target(), TrustingCa()),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("server certificate is not trusted")));
}

TEST_F(GrpcTlsTest, ExpiredCertificateIsUnavailableAndSaysSo) {
  StartTlsServer(certs_.expired_cert, certs_.expired_key);
  EXPECT_THAT(Echo(Target(), TrustingCa()),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("server certificate has expired")));
}

TEST_F(GrpcTlsTest, OtherHostCertificateIsUnavailableAndSaysSo) {
  StartTlsServer(certs_.otherhost_cert, certs_.otherhost_key);
  EXPECT_THAT(
      Echo(Target(), TrustingCa()),
      StatusIs(
          absl::StatusCode::kUnavailable,
          HasSubstr("server certificate does not match host \"localhost\"")));
}

TEST_F(GrpcTlsTest, ServerNameOverrideAcceptsTheOtherHostCertificate) {
  StartTlsServer(certs_.otherhost_cert, certs_.otherhost_key);
  client::TlsChannelOptions tls = TrustingCa();
  tls.server_name = "other.example";
  EXPECT_THAT(Echo(Target(), tls), IsOkAndHolds("over tls"));
}

// grpcurl's rule: without -servername, -authority is the name verified.
TEST_F(GrpcTlsTest, AuthorityIsTheNameVerifiedWithoutServerName) {
  StartTlsServer(certs_.otherhost_cert, certs_.otherhost_key);
  EXPECT_THAT(Echo(Target(), TrustingCa(), "other.example"),
              IsOkAndHolds("over tls"));
  client::TlsChannelOptions tls = TrustingCa();
  tls.server_name = "localhost";
  EXPECT_THAT(Echo(Target(), tls, "other.example"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("does not match host \"localhost\"")));
}

TEST_F(GrpcTlsTest, InsecureSkipsVerification) {
  StartTlsServer(certs_.untrusted_cert, certs_.untrusted_key);
  client::TlsChannelOptions tls;
  tls.insecure_skip_verify = true;
  EXPECT_THAT(Echo(Target(), tls), IsOkAndHolds("over tls"));
}

TEST_F(GrpcTlsTest, MutualTlsNeedsATrustedClientCertificate) {
  StartTlsServer(certs_.server_cert, certs_.server_key,
                 {"--tls_client_ca=" + certs_.ca_cert});
  client::TlsChannelOptions with_cert = TrustingCa();
  with_cert.cert_file = certs_.client_cert;
  with_cert.key_file = certs_.client_key;
  EXPECT_THAT(Echo(Target(), with_cert), IsOkAndHolds("over tls"));

  EXPECT_THAT(Echo(Target(), TrustingCa()),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("if it requires a client certificate")));

  client::TlsChannelOptions rogue_cert = TrustingCa();
  rogue_cert.cert_file = certs_.untrusted_cert;
  rogue_cert.key_file = certs_.untrusted_key;
  EXPECT_THAT(Echo(Target(), rogue_cert),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(GrpcTlsTest, PlaintextClientOnTheTlsPortFailsCleanly) {
  StartServingCert();
  EXPECT_THAT(Echo(Target("grpc"), {}),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("if it serves TLS: grpcs://")));
}

TEST_F(GrpcTlsTest, TlsClientOnAPlaintextPortFailsCleanly) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      dualrpc_testing::StartServer(root_.path(), {"--raw_listen="});
  ASSERT_THAT(server, IsOk());
  absl::StatusOr<std::string> address = (*server)->Address("grpc");
  ASSERT_THAT(address, IsOk());
  EXPECT_THAT(Echo("grpcs://" + *address, TrustingCa()),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("the peer did not speak TLS")));
}

TEST_F(GrpcTlsTest, TlsOptionsOnAPlaintextTargetAreRefused) {
  StartServingCert();
  EXPECT_THAT(Echo(Target("grpc"), TrustingCa()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("use grpcs:// or raws://")));
}

// Bad --tls_* flags stop the server before anything listens, with exit
// status 2 and the flag (or file) named.
TEST_F(GrpcTlsTest, BadTlsFlagsExitTwoNamingTheFlag) {
  const std::string server = dualrpc_testing::BinaryPath("dualrpc-server");
  const std::string root = "--root=" + root_.path();
  struct Case {
    std::vector<std::string> flags;
    std::string says;
  } cases[] = {
      {{"--tls_key=" + certs_.server_key}, "--tls_key needs --tls_cert"},
      {{"--tls_cert=" + certs_.server_cert}, "--tls_cert needs --tls_key"},
      {{"--tls_client_ca=" + certs_.ca_cert},
       "--tls_client_ca needs --tls_cert"},
      {{"--tls_cert=" + certs_.server_cert, "--tls_key=" + certs_.server_key,
        "--tls_min_version=1.1"},
       "--tls_min_version must be 1.2 or 1.3"},
      // The flags are checked once for every port, the raw port's TLS
      // context first: its message names the flag.
      {{"--tls_cert=" + certs_.server_cert, "--tls_key=" + certs_.client_key},
       "--tls_key: cannot load TLS private key"},
      {{"--tls_cert=" + cert_dir_.path() + "/missing.pem",
        "--tls_key=" + certs_.server_key},
       "missing.pem"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {server, root, "--grpc_listen=127.0.0.1:0",
                                     "--raw_listen="};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    CommandResult result = RunCommand(argv, "", absl::Seconds(30));
    EXPECT_EQ(result.exit_code, 2) << c.says << ": " << result.stderr_text;
    EXPECT_THAT(result.stderr_text, HasSubstr(c.says));
    EXPECT_THAT(result.stderr_text, Not(HasSubstr("listening")));
  }
}

TEST_F(GrpcTlsTest, CliOverGrpcs) {
  StartServingCert();
  CommandResult result =
      Cli({"--target", Target(), "-cacert", certs_.ca_cert, "ls"});
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stdout_text, "a.txt\n");

  // grpcurl's form: a bare HOST:PORT with a TLS flag is grpcs://.
  result = Cli({"-cacert", certs_.ca_cert, "list", "localhost:" + port_});
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr("dualrpc.v1.FileService"));

  result = Cli({"-cacert", certs_.ca_cert, "call", "localhost:" + port_,
                "dualrpc.v1.FileService/Echo", "-d", R"({"payload":"aGk="})"});
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr(R"("payload": "aGk=")"));

  // Without -cacert the system's trust store does not know the test CA:
  // UNAVAILABLE is exit 64 + 14.
  result = Cli({"--target", Target(), "ls"});
  EXPECT_EQ(result.exit_code, 78);
  EXPECT_THAT(result.stderr_text,
              HasSubstr("UNAVAILABLE: failed to connect to all addresses"));
  EXPECT_THAT(result.stderr_text,
              HasSubstr("server certificate is not trusted"));

  result = Cli({"--target", Target(), "-insecure", "ls"});
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;

  result = Cli({"--target", Target(), "-cacert", certs_.ca_cert, "-servername",
                "other.example", "ls"});
  EXPECT_EQ(result.exit_code, 78);
  EXPECT_THAT(result.stderr_text,
              HasSubstr("does not match host \"other.example\""));

  // -plaintext with TLS is a usage error.
  result = Cli({"--target", Target(), "-plaintext", "ls"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text,
              HasSubstr("-plaintext given for the TLS target"));
  result = Cli({"-plaintext", "-cacert", certs_.ca_cert, "--target",
                "localhost:" + port_, "ls"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text, HasSubstr("-plaintext cannot be combined"));
}

TEST_F(GrpcTlsTest, CliServerNameAndAuthorityWithTheOtherHostCertificate) {
  StartTlsServer(certs_.otherhost_cert, certs_.otherhost_key);
  CommandResult result = Cli({"--target", Target(), "-cacert", certs_.ca_cert,
                              "-servername", "other.example", "ls"});
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
  result = Cli({"--target", Target(), "-cacert", certs_.ca_cert, "-authority",
                "other.example", "ls"});
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
}

TEST_F(GrpcTlsTest, CliMutualTls) {
  StartTlsServer(certs_.server_cert, certs_.server_key,
                 {"--tls_client_ca=" + certs_.ca_cert});
  CommandResult result =
      Cli({"--target", Target(), "-cacert", certs_.ca_cert, "-cert",
           certs_.client_cert, "-key", certs_.client_key, "ls"});
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
  result = Cli({"--target", Target(), "-cacert", certs_.ca_cert, "ls"});
  EXPECT_EQ(result.exit_code, 78) << result.stderr_text;
  result = Cli({"--target", Target(), "-cacert", certs_.ca_cert, "-cert",
                certs_.client_cert, "ls"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text, HasSubstr("needs its key"));
}

TEST_F(GrpcTlsTest, BufCurlWithCacert) {
  StartServingCert();
  CommandResult result = RunCommand(
      {DUALRPC_BUF_PATH, "curl", "--protocol", "grpc", "--cacert",
       certs_.ca_cert, "-d", R"({"payload": "aGVsbG8="})",
       "https://localhost:" + port_ + "/dualrpc.v1.FileService/Echo"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr(R"("payload": "aGVsbG8=")"));

  // Reflection over TLS too.
  result = RunCommand({DUALRPC_BUF_PATH, "curl", "--protocol", "grpc",
                       "--cacert", certs_.ca_cert, "--list-services",
                       "https://localhost:" + port_});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr("dualrpc.v1.FileService"));

  // Without the CA, buf refuses the certificate (it says only
  // "unavailable").
  result = RunCommand({DUALRPC_BUF_PATH, "curl", "--protocol", "grpc",
                       "--list-services", "https://localhost:" + port_});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, HasSubstr("unavailable"));
}

// tests/thirdparty/grpcio_tls_client.py: prints the echoed
// payload or "ERROR <code>"; `--cert`/`--key` for mTLS.
TEST_F(GrpcTlsTest, GrpcioWithSslChannelCredentials) {
  StartTlsServer(certs_.server_cert, certs_.server_key,
                 {"--tls_client_ca=" + certs_.ca_cert});
  const std::string script = std::string(DUALRPC_SOURCE_DIR) +
                             "/tests/thirdparty/grpcio_tls_client.py";
  CommandResult result =
      RunCommand({"/usr/bin/python3", script, "localhost:" + port_,
                  certs_.ca_cert, certs_.client_cert, certs_.client_key});
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stdout_text, "over tls\n");

  result = RunCommand(
      {"/usr/bin/python3", script, "localhost:" + port_, certs_.ca_cert});
  EXPECT_EQ(result.exit_code, 1) << result.stderr_text;
  EXPECT_EQ(result.stdout_text, "ERROR UNAVAILABLE\n");
}

TEST_F(GrpcTlsTest, GrpcJsWithCreateSsl) {
  StartTlsServer(certs_.server_cert, certs_.server_key,
                 {"--tls_client_ca=" + certs_.ca_cert});
  const std::string script = std::string(DUALRPC_SOURCE_DIR) +
                             "/tests/thirdparty/grpc_js_tls_client.js";
  CommandResult result =
      RunCommand({DUALRPC_NODE_PATH, script, "localhost:" + port_,
                  certs_.ca_cert, certs_.client_cert, certs_.client_key});
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stdout_text, "over tls\n");

  result = RunCommand(
      {DUALRPC_NODE_PATH, script, "localhost:" + port_, certs_.ca_cert});
  EXPECT_EQ(result.exit_code, 1) << result.stderr_text;
  EXPECT_EQ(result.stdout_text, "ERROR UNAVAILABLE\n");
}

}  // namespace
}  // namespace dualrpc::server
