// One port for both protocols (dualrpc-server --listen, issue 11 §3), with a
// real server process on port 0 and real clients: the C++ raw and gRPC
// channels, the CLI, buf curl, the Python client (raw and grpcio) and the
// Node client (raw and grpc-js); hostile inputs (garbage, one byte and
// silence, a flood of silent connections); and, with --tls_cert, the same
// port over TLS routed by ALPN (C++ raw over TlsStream, grpc++, grpcio,
// grpc-js, buf curl with the test CA; dualrpc's own clients on raws:// and
// grpcs://: the C++ channels, the CLI, Python and Node), and mTLS with
// --auth_tokens: the client certificate's subject is the principal.

#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/net/tls.h"
#include "dualrpc/server/shared_port.h"
#include "dualrpc/v1/file_service.dualrpc.h"
#include "dualrpc/v1/file_service.grpc.pb.h"
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
using ::testing::HasSubstr;

// One Echo through dualrpc's own C++ channel to `target`, made with
// `factory`: the response's payload or the call's status.
absl::StatusOr<std::string> EchoThrough(
    const std::string& target, const client::ChannelFactoryOptions& factory,
    const std::string& payload) {
  absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
      client::CreateChannel(target, factory);
  if (!channel.ok()) return channel.status();
  v1::FileServiceClient client(*channel);
  v1::EchoRequest request;
  request.set_payload(payload);
  rpc::CallOptions options;
  options.timeout = absl::Seconds(10);
  absl::StatusOr<v1::EchoResponse> response = client.Echo(request, options);
  if (!response.ok()) return response.status();
  return response->payload();
}

// The detect timeout the plaintext server runs with: long enough that "at
// once" and "after the timeout" cannot be confused on a loaded machine.
constexpr absl::Duration kDetectTimeout = absl::Seconds(3);
// Its cap on connections detecting at once.
constexpr int kMaxDetecting = 32;

// A blocking TCP socket connected to HOST:PORT (IPv4), or invalid.
base::ScopedFd Connect(const std::string& address) {
  const std::string::size_type colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    ADD_FAILURE() << "bad address " << address;
    return base::ScopedFd();
  }
  base::ScopedFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) !=
      0) {
    ADD_FAILURE() << "connect " << address << ": " << std::strerror(errno);
    return base::ScopedFd();
  }
  return fd;
}

// How long the server took to close `fd` (EOF or reset), or nullopt if it
// had not closed it within `timeout`. Bytes the server sends first are an
// error unless `allow_bytes` (a TLS alert).
std::optional<absl::Duration> TimeUntilClosed(int fd, absl::Duration timeout,
                                              bool allow_bytes = false) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + timeout;
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return std::nullopt;
    pollfd poll_fd{fd, POLLIN, 0};
    const int ready = ::poll(
        &poll_fd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready <= 0) continue;
    char bytes[256];
    const ssize_t n = ::recv(fd, bytes, sizeof bytes, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return absl::Now() - start;
    if (n > 0 && !allow_bytes) {
      ADD_FAILURE() << "the server answered instead of closing";
      return std::nullopt;
    }
  }
}

std::string ReadFileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Port(const std::string& address) {
  return address.substr(address.rfind(':') + 1);
}

// Runs `argv` with the environment extended by `env` (NAME=VALUE).
CommandResult RunWithEnv(const std::vector<std::string>& env,
                         std::vector<std::string> argv) {
  argv.insert(argv.begin(), env.begin(), env.end());
  argv.insert(argv.begin(), "/usr/bin/env");
  return RunCommand(argv);
}

CommandResult Cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {dualrpc_testing::BinaryPath("dualrpc")};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

CommandResult BufCurl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {DUALRPC_BUF_PATH, "curl", "--protocol",
                                   "grpc"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

class SharedPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.WriteFile("a.txt", "a");
    Start({});
  }

  void Start(std::vector<std::string> flags) {
    flags.insert(flags.end(),
                 {"--listen=127.0.0.1:0",
                  absl::StrCat("--listen_detect_timeout=",
                               absl::FormatDuration(kDetectTimeout)),
                  absl::StrCat("--listen_max_detecting=", kMaxDetecting)});
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        dualrpc_testing::StartServer(root_.path(), flags);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    absl::StatusOr<std::string> address = server_->Address("listen");
    ASSERT_THAT(address, IsOk());
    address_ = *address;
  }

  // Echo through dualrpc's own C++ channel for `scheme` on the shared port.
  absl::StatusOr<std::string> Echo(const std::string& scheme,
                                   const std::string& payload) {
    return EchoThrough(absl::StrCat(scheme, "://", address_), {}, payload);
  }

  TempDir root_;
  std::unique_ptr<ServerProcess> server_;
  std::string address_;
};

TEST_F(SharedPortTest, ReadyFileNamesTheSharedPortBesideTheOwnPorts) {
  EXPECT_THAT(server_->Address("grpc"), IsOk());
  EXPECT_THAT(server_->Address("raw"), IsOk());
  EXPECT_NE(address_, *server_->Address("grpc"));
  EXPECT_NE(address_, *server_->Address("raw"));
}

TEST_F(SharedPortTest, CppRawAndGrpcChannelsBothReachTheirServer) {
  EXPECT_THAT(Echo("raw", "over raw"), IsOkAndHolds("over raw"));
  EXPECT_THAT(Echo("grpc", "over grpc"), IsOkAndHolds("over grpc"));
}

TEST_F(SharedPortTest, ServesBothWithoutOwnPorts) {
  server_.reset();
  Start({"--grpc_listen=", "--raw_listen="});
  EXPECT_FALSE(server_->Address("grpc").ok());
  EXPECT_FALSE(server_->Address("raw").ok());
  EXPECT_THAT(Echo("raw", "r"), IsOkAndHolds("r"));
  EXPECT_THAT(Echo("grpc", "g"), IsOkAndHolds("g"));
}

TEST_F(SharedPortTest, CliOnBothWires) {
  for (const char* scheme : {"raw", "grpc"}) {
    CommandResult ls = Cli({absl::StrCat("--target=", scheme, "://", address_),
                            "ls"});
    EXPECT_EQ(ls.exit_code, 0) << scheme << ": " << ls.stderr_text;
    EXPECT_EQ(ls.stdout_text, "a.txt\n") << scheme;
    CommandResult list = Cli({"list", absl::StrCat(scheme, "://", address_)});
    EXPECT_EQ(list.exit_code, 0) << scheme << ": " << list.stderr_text;
    EXPECT_THAT(list.stdout_text, HasSubstr("dualrpc.v1.FileService"));
  }
}

TEST_F(SharedPortTest, BufCurlReachesGrpc) {
  CommandResult result = BufCurl({"--http2-prior-knowledge", "-d",
                                  R"({"payload": "aGk="})",
                                  absl::StrCat("http://", address_,
                                               "/dualrpc.v1.FileService/Echo")});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr("\"payload\": \"aGk=\""));
}

// The Python client: raw:// is its own framing, grpc:// is grpcio.
TEST_F(SharedPortTest, PythonClientOnBothWires) {
  for (const char* scheme : {"raw", "grpc"}) {
    CommandResult result = RunWithEnv(
        {absl::StrCat("PYTHONPATH=", DUALRPC_SOURCE_DIR, "/clients/python"),
         absl::StrCat("DUALRPC_PYTHON_GEN=", DUALRPC_PYTHON_GEN_DIR)},
        {"/usr/bin/python3",
         absl::StrCat(DUALRPC_SOURCE_DIR,
                      "/clients/python/examples/list_and_echo.py"),
         absl::StrCat(scheme, "://", address_)});
    EXPECT_EQ(result.exit_code, 0) << scheme << ": " << result.stderr_text;
    EXPECT_THAT(result.stdout_text, HasSubstr("a.txt")) << scheme;
  }
}

// The Node client: raw:// is its own framing, grpc:// is grpc-js.
TEST_F(SharedPortTest, NodeClientOnBothWires) {
  CommandResult result = RunCommand(
      {"/usr/bin/node",
       absl::StrCat(DUALRPC_SOURCE_DIR,
                    "/clients/node/examples/list_and_echo.js"),
       absl::StrCat("raw://", address_), absl::StrCat("grpc://", address_)});
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text,
              HasSubstr(absl::StrCat("raw://", address_, ": Echo")));
  EXPECT_THAT(result.stdout_text,
              HasSubstr(absl::StrCat("grpc://", address_, ": Echo")));
}

TEST_F(SharedPortTest, GarbageIsClosedAtOnce) {
  base::ScopedFd fd = Connect(address_);
  ASSERT_TRUE(fd.valid());
  const std::string garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(fd.get(), garbage.data(), garbage.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(garbage.size()));
  std::optional<absl::Duration> closed =
      TimeUntilClosed(fd.get(), absl::Seconds(20));
  ASSERT_TRUE(closed.has_value()) << "not closed";
  EXPECT_LT(*closed, kDetectTimeout / 2);
}

// "DR" is a prefix of the raw magic: nothing is decided, so only the detect
// timeout closes it (not the raw server's idle timeout of minutes).
TEST_F(SharedPortTest, OneByteAndSilenceIsClosedByTheDetectTimeout) {
  for (const std::string first : {"D", "P", ""}) {
    base::ScopedFd fd = Connect(address_);
    ASSERT_TRUE(fd.valid());
    if (!first.empty()) {
      ASSERT_EQ(::send(fd.get(), first.data(), first.size(), MSG_NOSIGNAL), 1);
    }
    std::optional<absl::Duration> closed =
        TimeUntilClosed(fd.get(), absl::Seconds(20));
    ASSERT_TRUE(closed.has_value()) << "'" << first << "' not closed";
    EXPECT_GE(*closed, kDetectTimeout - absl::Milliseconds(200)) << first;
    EXPECT_LT(*closed, kDetectTimeout + absl::Seconds(5)) << first;
  }
}

// Silent connections up to the cap hold nothing up; one more is closed as
// soon as it is accepted, long before the detect timeout.
TEST_F(SharedPortTest, SilentFloodNeitherDelaysClientsNorExceedsTheCap) {
  std::vector<base::ScopedFd> silent;
  for (int i = 0; i < kMaxDetecting - 1; ++i) {
    silent.push_back(Connect(address_));
    ASSERT_TRUE(silent.back().valid());
  }
  const absl::Time start = absl::Now();
  EXPECT_THAT(Echo("raw", "past the flood"), IsOkAndHolds("past the flood"));
  EXPECT_THAT(Echo("grpc", "past the flood"), IsOkAndHolds("past the flood"));
  EXPECT_LT(absl::Now() - start, kDetectTimeout / 2);

  // The raw and gRPC channels have been handed over: the cap is free again
  // but for the flood. Fill it, then one more.
  silent.push_back(Connect(address_));
  base::ScopedFd over = Connect(address_);
  ASSERT_TRUE(over.valid());
  std::optional<absl::Duration> closed =
      TimeUntilClosed(over.get(), absl::Seconds(20));
  ASSERT_TRUE(closed.has_value());
  EXPECT_LT(*closed, kDetectTimeout / 2);
}

TEST_F(SharedPortTest, SigtermStopsTheSharedPortWithTheOthers) {
  ASSERT_THAT(Echo("raw", "x"), IsOk());
  ASSERT_THAT(server_->Signal(SIGTERM), IsOk());
  EXPECT_THAT(server_->WaitForExit(absl::Seconds(20)), IsOkAndHolds(0));
}

// ---- TLS ------------------------------------------------------------------

class SharedPortTlsTest : public SharedPortTest {
 protected:
  void SetUp() override {
    root_.WriteFile("a.txt", "a");
    absl::StatusOr<dualrpc_testing::TestCerts> certs =
        dualrpc_testing::MakeTestCerts(certs_dir_.HostPath("certs"));
    ASSERT_THAT(certs, IsOk());
    certs_ = *certs;
    // The transports' own ports stay plaintext in this branch: only the
    // shared port is served.
    Start({"--grpc_listen=", "--raw_listen=",
           absl::StrCat("--tls_cert=", certs_.server_cert),
           absl::StrCat("--tls_key=", certs_.server_key)});
  }

  std::string LocalhostAddress() const {
    return absl::StrCat("localhost:", Port(address_));
  }

  // Echo through dualrpc's own C++ channel for `scheme` ("raws", "grpcs")
  // on the shared port as localhost, trusting the test CA; with `mtls`,
  // offering the client certificate. No token is sent.
  absl::StatusOr<std::string> TlsEcho(const std::string& scheme,
                                      const std::string& payload,
                                      bool mtls = false) {
    client::ChannelFactoryOptions factory;
    factory.tls.ca_file = certs_.ca_cert;
    if (mtls) {
      factory.tls.cert_file = certs_.client_cert;
      factory.tls.key_file = certs_.client_key;
    }
    return EchoThrough(absl::StrCat(scheme, "://", LocalhostAddress()),
                       factory, payload);
  }

  // Connects with TLS (trusting the test CA, offering `alpn`), sends
  // `send` and returns the first `want` bytes the server sends back.
  absl::StatusOr<std::string> TlsExchange(std::vector<std::string> alpn,
                                          const std::string& send,
                                          std::size_t want) {
    net::TlsClientOptions options;
    options.ca_file = certs_.ca_cert;
    options.alpn_protocols = std::move(alpn);
    absl::StatusOr<std::shared_ptr<net::TlsClientContext>> context =
        net::TlsClientContext::Create(options);
    if (!context.ok()) return context.status();
    base::ScopedFd fd = Connect(address_);
    if (!fd.valid()) return absl::UnavailableError("connect failed");
    const int raw_fd = fd.get();
    ::fcntl(raw_fd, F_SETFL, ::fcntl(raw_fd, F_GETFL) | O_NONBLOCK);
    std::unique_ptr<net::TlsStream> stream =
        (*context)->WrapClient(std::move(fd), "localhost");
    net::Buffer out;
    out.Append(send);
    net::Buffer in;
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (in.readable_bytes() < want) {
      if (absl::Now() > deadline) return absl::DeadlineExceededError("slow");
      if (out.readable_bytes() > 0) {
        absl::StatusOr<net::Transfer> wrote = stream->WriteFrom(&out);
        if (!wrote.ok()) return wrote.status();
      }
      absl::StatusOr<net::Transfer> read = stream->ReadInto(&in);
      if (!read.ok()) return read.status();
      if (read->eof) break;
      pollfd poll_fd{raw_fd, POLLIN, 0};
      ::poll(&poll_fd, 1, 20);
    }
    return std::string(in.View().substr(0, want));
  }

  TempDir certs_dir_;
  dualrpc_testing::TestCerts certs_;
};

// The raw preface of a 1.1 client; the server answers with its own only
// after reading one, so a preface back means the raw server got the stream.
constexpr absl::string_view kRawPreface("DRPC\x01\x01\x00\x00", 8);

TEST_F(SharedPortTlsTest, AlpnDualrpcGoesToTheRawServer) {
  EXPECT_THAT(TlsExchange({"dualrpc/1"}, std::string(kRawPreface), 4),
              IsOkAndHolds("DRPC"));
}

TEST_F(SharedPortTlsTest, WithoutAlpnTheDecryptedBytesAreSniffed) {
  EXPECT_THAT(TlsExchange({}, std::string(kRawPreface), 4),
              IsOkAndHolds("DRPC"));
  // The HTTP/2 preface without ALPN reaches gRPC, which answers with its
  // SETTINGS frame (type 4 at offset 3).
  absl::StatusOr<std::string> settings =
      TlsExchange({}, std::string(kHttp2ClientPreface), 9);
  ASSERT_THAT(settings, IsOk());
  EXPECT_EQ((*settings)[3], '\x04');
}

TEST_F(SharedPortTlsTest, GrpcPlusPlusWithTheCaOverTheRelay) {
  ::grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFileText(certs_.ca_cert);
  std::shared_ptr<::grpc::Channel> channel = ::grpc::CreateChannel(
      LocalhostAddress(), ::grpc::SslCredentials(ssl));
  std::unique_ptr<v1::FileService::Stub> stub = v1::FileService::NewStub(channel);
  // Several calls and a large one: the relay carries more than one write.
  for (int size : {3, 1 << 20}) {
    ::grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::EchoRequest request;
    request.set_payload(std::string(static_cast<std::size_t>(size), 'x'));
    v1::EchoResponse response;
    ::grpc::Status status = stub->Echo(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.payload().size(), static_cast<std::size_t>(size));
  }
}

TEST_F(SharedPortTlsTest, GrpcioWithSslChannelCredentials) {
  const std::string script = R"(
import sys, grpc
ca = open(sys.argv[2], 'rb').read()
channel = grpc.secure_channel(sys.argv[1], grpc.ssl_channel_credentials(ca))
print(channel.unary_unary('/grpc.health.v1.Health/Check')(b'', timeout=10).hex())
)";
  CommandResult result = RunCommand(
      {"/usr/bin/python3", "-c", script, LocalhostAddress(), certs_.ca_cert});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stdout_text, "0801\n");  // status: SERVING
}

TEST_F(SharedPortTlsTest, GrpcJsWithCreateSsl) {
  const std::string script = R"(
const grpc = require('@grpc/grpc-js');
const fs = require('fs');
const client = new grpc.Client(process.argv[1],
    grpc.credentials.createSsl(fs.readFileSync(process.argv[2])));
client.makeUnaryRequest('/grpc.health.v1.Health/Check', (x) => x, (x) => x,
    Buffer.alloc(0), { deadline: Date.now() + 10000 }, (error, response) => {
      if (error) { console.error(error.message); process.exit(1); }
      console.log(response.toString('hex'));
      process.exit(0);
    });
)";
  CommandResult result = RunWithEnv(
      {absl::StrCat("NODE_PATH=", DUALRPC_SOURCE_DIR,
                    "/clients/node/node_modules")},
      {"/usr/bin/node", "-e", script, LocalhostAddress(), certs_.ca_cert});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stdout_text, "0801\n");
}

TEST_F(SharedPortTlsTest, BufCurlWithCacert) {
  CommandResult result =
      BufCurl({"--cacert", certs_.ca_cert, "-d", R"({"payload": "aGk="})",
               absl::StrCat("https://", LocalhostAddress(),
                            "/dualrpc.v1.FileService/Echo")});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr("\"payload\": \"aGk=\""));
}

TEST_F(SharedPortTlsTest, CppRawsAndGrpcsChannels) {
  EXPECT_THAT(TlsEcho("raws", "over raws"), IsOkAndHolds("over raws"));
  // A large message: more than one TLS record each way.
  const std::string large(1 << 20, 'r');
  EXPECT_THAT(TlsEcho("raws", large), IsOkAndHolds(large));
  EXPECT_THAT(TlsEcho("grpcs", "over grpcs"), IsOkAndHolds("over grpcs"));
}

TEST_F(SharedPortTlsTest, CliOnRawsAndGrpcsWithCacert) {
  for (const char* scheme : {"raws", "grpcs"}) {
    const std::string target =
        absl::StrCat(scheme, "://", LocalhostAddress());
    CommandResult ls =
        Cli({"--target", target, "-cacert", certs_.ca_cert, "ls"});
    EXPECT_EQ(ls.exit_code, 0) << scheme << ": " << ls.stderr_text;
    EXPECT_EQ(ls.stdout_text, "a.txt\n") << scheme;
    CommandResult list = Cli({"-cacert", certs_.ca_cert, "list", target});
    EXPECT_EQ(list.exit_code, 0) << scheme << ": " << list.stderr_text;
    EXPECT_THAT(list.stdout_text, HasSubstr("dualrpc.v1.FileService"));
    // Without -cacert the system's trust store does not know the test CA.
    CommandResult untrusted = Cli({"--target", target, "ls"});
    EXPECT_NE(untrusted.exit_code, 0) << scheme;
    EXPECT_THAT(untrusted.stderr_text, HasSubstr("not trusted")) << scheme;
  }
}

// The Python client: raws:// is the ssl module under its framing, grpcs://
// is grpcio's ssl_channel_credentials; ca_file is the test CA.
TEST_F(SharedPortTlsTest, PythonClientOnRawsAndGrpcs) {
  const std::string script = R"(
import sys, dualrpc
with dualrpc.connect(sys.argv[1], ca_file=sys.argv[2]) as client:
    print(client.echo(b"hi", timeout=10).decode(),
          [entry.path for entry in client.walk_tree(timeout=10)])
)";
  for (const char* scheme : {"raws", "grpcs"}) {
    CommandResult result = RunWithEnv(
        {absl::StrCat("PYTHONPATH=", DUALRPC_SOURCE_DIR, "/clients/python"),
         absl::StrCat("DUALRPC_PYTHON_GEN=", DUALRPC_PYTHON_GEN_DIR)},
        {"/usr/bin/python3", "-c", script,
         absl::StrCat(scheme, "://", LocalhostAddress()), certs_.ca_cert});
    EXPECT_EQ(result.exit_code, 0) << scheme << ": " << result.stderr_text;
    EXPECT_EQ(result.stdout_text, "hi ['a.txt']\n") << scheme;
  }
}

// The Node client: raws:// is node:tls under its framing, grpcs:// is
// grpc-js's createSsl; tls.caFile is the test CA.
TEST_F(SharedPortTlsTest, NodeClientOnRawsAndGrpcs) {
  const std::string script = R"(
const dualrpc = require(process.argv[1]);
(async () => {
  for (const target of process.argv.slice(3)) {
    const client = dualrpc.connect(target,
        { deadlineMs: 10000, tls: { caFile: process.argv[2] } });
    try {
      const names = [];
      for await (const entry of client.walkTree({})) names.push(entry.path);
      console.log(`${target.split(':')[0]} ${await client.echo('hi')} ${names}`);
    } finally {
      client.close();
    }
  }
})().catch((error) => { console.error(error.message); process.exit(1); });
)";
  CommandResult result = RunCommand(
      {"/usr/bin/node", "-e", script,
       absl::StrCat(DUALRPC_SOURCE_DIR, "/clients/node"), certs_.ca_cert,
       absl::StrCat("raws://", LocalhostAddress()),
       absl::StrCat("grpcs://", LocalhostAddress())});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stdout_text, "raws hi a.txt\ngrpcs hi a.txt\n");
}

// mTLS on the shared port with --auth_tokens: no token, and the client
// certificate's subject is the principal, so a method that is not open is
// served on both wires (gRPC's through the relay, where grpc++ sees only a
// plaintext socketpair: GrpcServer::AdoptConnection's subject); without
// the certificate the handshake is refused.
TEST_F(SharedPortTlsTest, MutualTlsSubjectIsThePrincipalWithoutAToken) {
  TempDir config;
  config.WriteFile("tokens", "some-secret someone\n");
  // Without --tls_client_ca the same call, lacking a token, is refused:
  // what lets it through below is the certificate.
  server_.reset();
  Start({"--grpc_listen=", "--raw_listen=",
         absl::StrCat("--tls_cert=", certs_.server_cert),
         absl::StrCat("--tls_key=", certs_.server_key),
         absl::StrCat("--auth_tokens=", config.HostPath("tokens"))});
  for (const char* scheme : {"raws", "grpcs"}) {
    EXPECT_THAT(TlsEcho(scheme, "x", /*mtls=*/true),
                StatusIs(absl::StatusCode::kUnauthenticated,
                         HasSubstr("missing credentials")))
        << scheme;
  }

  server_.reset();
  Start({"--grpc_listen=", "--raw_listen=",
         absl::StrCat("--tls_cert=", certs_.server_cert),
         absl::StrCat("--tls_key=", certs_.server_key),
         absl::StrCat("--tls_client_ca=", certs_.ca_cert),
         absl::StrCat("--auth_tokens=", config.HostPath("tokens"))});
  for (const char* scheme : {"raws", "grpcs"}) {
    EXPECT_THAT(TlsEcho(scheme, "mtls", /*mtls=*/true), IsOkAndHolds("mtls"))
        << scheme;
  }
  // The CLI with -cert/-key likewise.
  CommandResult ls =
      Cli({"--target", absl::StrCat("raws://", LocalhostAddress()), "-cacert",
           certs_.ca_cert, "-cert", certs_.client_cert, "-key",
           certs_.client_key, "ls"});
  EXPECT_EQ(ls.exit_code, 0) << ls.stderr_text;
  EXPECT_EQ(ls.stdout_text, "a.txt\n");
  for (const char* scheme : {"raws", "grpcs"}) {
    EXPECT_THAT(TlsEcho(scheme, "x"),
                StatusIs(absl::StatusCode::kUnavailable,
                         HasSubstr("client certificate")))
        << scheme;
  }
}

// A plaintext raw client on the TLS port: its preface is no ClientHello,
// the handshake fails and the connection is closed at once, not left to
// the detect timeout.
TEST_F(SharedPortTlsTest, PlaintextClientGetsACleanClose) {
  base::ScopedFd fd = Connect(address_);
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::send(fd.get(), kRawPreface.data(), kRawPreface.size(),
                   MSG_NOSIGNAL),
            static_cast<ssize_t>(kRawPreface.size()));
  std::optional<absl::Duration> closed =
      TimeUntilClosed(fd.get(), absl::Seconds(20), /*allow_bytes=*/true);
  ASSERT_TRUE(closed.has_value());
  EXPECT_LT(*closed, kDetectTimeout / 2);
  // And the C++ raw channel in plaintext fails its call instead of hanging.
  EXPECT_FALSE(Echo("raw", "x").ok());
}

}  // namespace
}  // namespace dualrpc::server
