// dualrpc-server --auth_tokens as a real process: the same codes on both
// transports (one test body, RawChannel and GrpcChannel through
// client::CreateChannel), for unary and streaming calls, health open
// without a token, and the CLI's -H 'authorization: Bearer ...'; SIGHUP
// reloading the token file.

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/rpc/blocking_stream.h"
#include "dualrpc/rpc/channel.h"
#include "dualrpc/v1/file_service.dualrpc.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace dualrpc::server {
namespace {

using ::dualrpc_testing::BinaryPath;
using ::dualrpc_testing::CommandResult;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::RunCommand;
using ::dualrpc_testing::StatusIs;
using ::dualrpc_testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kTokens[] =
    "# test tokens\n"
    "alice-secret alice\n"
    "bob-secret bob /dualrpc.v1.FileService/ListDirectory\n";

class AuthServerTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    root_ = new TempDir;
    root_->WriteFile("hello.txt", "hello\n");
    config_ = new TempDir;
    config_->WriteFile("tokens", kTokens);
    absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
        dualrpc_testing::StartServer(
            root_->path(), {"--auth_tokens=" + config_->HostPath("tokens")});
    ASSERT_THAT(server, IsOk());
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete config_;
    delete root_;
  }

  // "grpc://..." or "raw://...".
  std::string Target() const {
    return GetParam() + "://" + server_->Address(GetParam()).value_or("");
  }
  std::shared_ptr<rpc::Channel> Channel() const {
    absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
        client::CreateChannel(Target());
    EXPECT_THAT(channel, IsOk());
    return channel.value_or(nullptr);
  }
  static rpc::CallOptions WithToken(const std::string& token) {
    rpc::CallOptions options;
    options.timeout = absl::Seconds(10);
    if (!token.empty()) {
      options.metadata.emplace_back("authorization", "Bearer " + token);
    }
    return options;
  }
  absl::Status Echo(const std::string& token) {
    v1::FileServiceClient client(Channel());
    v1::EchoRequest request;
    request.set_payload("hi");
    return client.Echo(request, WithToken(token)).status();
  }
  absl::Status List(const std::string& token) {
    v1::FileServiceClient client(Channel());
    return client.ListDirectory(v1::ListDirectoryRequest(), WithToken(token))
        .status();
  }

  static TempDir* root_;
  static TempDir* config_;
  static dualrpc_testing::ServerProcess* server_;
};

TempDir* AuthServerTest::root_ = nullptr;
TempDir* AuthServerTest::config_ = nullptr;
dualrpc_testing::ServerProcess* AuthServerTest::server_ = nullptr;

TEST_P(AuthServerTest, RightTokenIsServed) {
  EXPECT_THAT(Echo("alice-secret"), IsOk());
  EXPECT_THAT(List("bob-secret"), IsOk());
}

TEST_P(AuthServerTest, WrongTokenIsUnauthenticatedAndNotEchoed) {
  absl::Status status = Echo("alice-secreT");
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnauthenticated,
                               AllOf(HasSubstr("/dualrpc.v1.FileService/Echo"),
                                     Not(HasSubstr("alice-secreT")))));
}

TEST_P(AuthServerTest, MissingTokenIsUnauthenticated) {
  EXPECT_THAT(Echo(""), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_P(AuthServerTest, MethodAllowedForAnotherOnlyIsPermissionDenied) {
  EXPECT_THAT(Echo("bob-secret"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("\"bob\""),
                             HasSubstr("/dualrpc.v1.FileService/Echo"))));
}

TEST_P(AuthServerTest, HealthIsOpenWithoutAToken) {
  std::shared_ptr<rpc::Channel> channel = Channel();
  ::grpc::health::v1::HealthCheckRequest request;
  ::grpc::health::v1::HealthCheckResponse response;
  absl::Notification done;
  absl::Status status;
  rpc::CallOptions options = WithToken("");
  channel->StartUnaryCall("/grpc.health.v1.Health/Check", request, &response,
                          options, [&](absl::Status s) {
                            status = s;
                            done.Notify();
                          });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_THAT(status, IsOk());
  EXPECT_EQ(response.status(), ::grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_P(AuthServerTest, StreamingCallsPassTheSameStage) {
  v1::FileServiceClient client(Channel());
  v1::WalkTreeRequest request;
  for (const auto& [token, code] :
       std::vector<std::pair<std::string, absl::StatusCode>>{
           {"", absl::StatusCode::kUnauthenticated},
           {"nope", absl::StatusCode::kUnauthenticated},
           {"bob-secret", absl::StatusCode::kPermissionDenied},
           {"alice-secret", absl::StatusCode::kOk}}) {
    std::unique_ptr<rpc::ClientReader<v1::WalkTreeResponse>> reader =
        client.WalkTree(request, WithToken(token));
    v1::WalkTreeResponse response;
    while (reader->Read(&response)) {
    }
    EXPECT_EQ(reader->Finish().code(), code) << "token " << token;
  }
}

TEST_P(AuthServerTest, CliSendsTheTokenWithH) {
  const std::string dualrpc = BinaryPath("dualrpc");
  CommandResult ok = RunCommand({dualrpc, "--target=" + Target(), "echo",
                                 "-H", "authorization: Bearer alice-secret",
                                 "hi"});
  EXPECT_EQ(ok.exit_code, 0) << ok.stderr_text;
  EXPECT_THAT(ok.stdout_text, HasSubstr("hi"));

  CommandResult missing =
      RunCommand({dualrpc, "--target=" + Target(), "echo", "hi"});
  EXPECT_EQ(missing.exit_code, 64 + 16) << missing.stderr_text;  // UNAUTHENTICATED
  CommandResult wrong = RunCommand({dualrpc, "--target=" + Target(), "echo",
                                    "-H", "authorization: Bearer wrong", "hi"});
  EXPECT_EQ(wrong.exit_code, 64 + 16) << wrong.stderr_text;
  EXPECT_THAT(wrong.stderr_text, Not(HasSubstr("Bearer wrong")));
  CommandResult denied = RunCommand({dualrpc, "--target=" + Target(), "echo",
                                     "-H", "authorization: Bearer bob-secret",
                                     "hi"});
  EXPECT_EQ(denied.exit_code, 64 + 7) << denied.stderr_text;  // PERMISSION_DENIED
  // Reflection (a bidi stream) needs the token too.
  CommandResult list = RunCommand({dualrpc, "--target=" + Target(), "list",
                                   "-H", "authorization: Bearer alice-secret"});
  EXPECT_EQ(list.exit_code, 0) << list.stderr_text;
  EXPECT_THAT(list.stdout_text, HasSubstr("grpc.health.v1.Health"));
  CommandResult list_without = RunCommand({dualrpc, "--target=" + Target(), "list"});
  EXPECT_NE(list_without.exit_code, 0);
  EXPECT_THAT(list_without.stderr_text, HasSubstr("UNAUTHENTICATED"));
}

INSTANTIATE_TEST_SUITE_P(Transports, AuthServerTest,
                         ::testing::Values("grpc", "raw"),
                         [](const auto& info) { return info.param; });

TEST(AuthServerStartTest, MalformedTokenFileStopsTheServerWithItsLine) {
  TempDir root;
  TempDir config;
  config.WriteFile("tokens", "good-secret alice\n\nlonely-secret\n");
  CommandResult result =
      RunCommand({BinaryPath("dualrpc-server"), "--root=" + root.path(),
                  "--grpc_listen=127.0.0.1:0", "--raw_listen=127.0.0.1:0",
                  "--auth_tokens=" + config.HostPath("tokens")},
                 "", absl::Seconds(30));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text,
              AllOf(HasSubstr(config.HostPath("tokens") + ":3:"),
                    Not(HasSubstr("lonely-secret")),
                    Not(HasSubstr("good-secret"))));
}

// Health on the gRPC port is the registry's too (not grpc++'s own, which
// would bypass the stage): with no open methods it needs a token on both.
TEST(AuthServerStartTest, HealthNeedsATokenWhenNotOpenOnBothPorts) {
  TempDir root;
  TempDir config;
  config.WriteFile("tokens", "alice-secret alice\n");
  absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
      dualrpc_testing::StartServer(
          root.path(), {"--auth_tokens=" + config.HostPath("tokens"),
                        "--auth_open_methods="});
  ASSERT_THAT(server, IsOk());
  for (const std::string transport : {"grpc", "raw"}) {
    absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
        client::CreateChannel(transport + "://" +
                              (*server)->Address(transport).value_or(""));
    ASSERT_THAT(channel, IsOk());
    for (const std::string token : {"", "alice-secret"}) {
      rpc::CallOptions options;
      options.timeout = absl::Seconds(10);
      if (!token.empty()) {
        options.metadata.emplace_back("authorization", "Bearer " + token);
      }
      ::grpc::health::v1::HealthCheckRequest request;
      ::grpc::health::v1::HealthCheckResponse response;
      absl::Notification done;
      absl::Status status;
      (*channel)->StartUnaryCall("/grpc.health.v1.Health/Check", request,
                                 &response, options, [&](absl::Status s) {
                                   status = s;
                                   done.Notify();
                                 });
      ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
      EXPECT_THAT(status, StatusIs(token.empty()
                                       ? absl::StatusCode::kUnauthenticated
                                       : absl::StatusCode::kOk))
          << transport << " token " << token;
    }
  }
}

// Echo on `transport`'s own port of `server` with `token`; its status.
absl::Status EchoWithToken(dualrpc_testing::ServerProcess& server,
                           const std::string& transport,
                           const std::string& token) {
  absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
      client::CreateChannel(transport + "://" +
                            server.Address(transport).value_or(""));
  if (!channel.ok()) return channel.status();
  rpc::CallOptions options;
  options.timeout = absl::Seconds(10);
  options.metadata.emplace_back("authorization", "Bearer " + token);
  v1::FileServiceClient client(*channel);
  v1::EchoRequest request;
  request.set_payload("hi");
  return client.Echo(request, options).status();
}

// SIGHUP re-reads --auth_tokens for the calls that start afterwards: an
// added token works and a removed one is UNAUTHENTICATED on both
// transports; a malformed file keeps the tokens in use, and the log says so
// with the line number and without any token.
TEST(AuthServerStartTest, SighupReloadsTheTokens) {
  TempDir root;
  TempDir config;
  config.WriteFile("tokens", "kept-secret alice\nremoved-secret bob\n");
  absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
      dualrpc_testing::StartServer(
          root.path(), {"--auth_tokens=" + config.HostPath("tokens")});
  ASSERT_THAT(server, IsOk());
  const std::vector<std::string> transports = {"grpc", "raw"};
  for (const std::string& transport : transports) {
    EXPECT_THAT(EchoWithToken(**server, transport, "removed-secret"), IsOk());
    EXPECT_THAT(EchoWithToken(**server, transport, "added-secret"),
                StatusIs(absl::StatusCode::kUnauthenticated))
        << transport;
  }

  config.WriteFile("tokens", "kept-secret alice\nadded-secret carol\n");
  ASSERT_THAT((*server)->Signal(SIGHUP), IsOk());
  ASSERT_TRUE(dualrpc_testing::Eventually([&] {
    return absl::StrContains((*server)->StderrText(), "reloaded 2 tokens");
  })) << (*server)->StderrText();
  for (const std::string& transport : transports) {
    EXPECT_THAT(EchoWithToken(**server, transport, "added-secret"), IsOk())
        << transport;
    EXPECT_THAT(EchoWithToken(**server, transport, "kept-secret"), IsOk())
        << transport;
    EXPECT_THAT(EchoWithToken(**server, transport, "removed-secret"),
                StatusIs(absl::StatusCode::kUnauthenticated))
        << transport;
  }

  config.WriteFile("tokens", "kept-secret alice\nbroken-secret\n");
  ASSERT_THAT((*server)->Signal(SIGHUP), IsOk());
  ASSERT_TRUE(dualrpc_testing::Eventually([&] {
    return absl::StrContains((*server)->StderrText(), "token reload failed");
  })) << (*server)->StderrText();
  const std::string log = (*server)->StderrText();
  EXPECT_THAT(log, AllOf(HasSubstr(config.HostPath("tokens") + ":2:"),
                         Not(HasSubstr("broken-secret")),
                         Not(HasSubstr("kept-secret")),
                         Not(HasSubstr("added-secret")),
                         Not(HasSubstr("removed-secret"))));
  for (const std::string& transport : transports) {
    EXPECT_THAT(EchoWithToken(**server, transport, "added-secret"), IsOk())
        << transport;
    EXPECT_THAT(EchoWithToken(**server, transport, "removed-secret"),
                StatusIs(absl::StatusCode::kUnauthenticated))
        << transport;
  }
  EXPECT_TRUE((*server)->Alive());
}

TEST(AuthServerStartTest, BadOpenMethodsStopTheServer) {
  TempDir root;
  CommandResult result = RunCommand(
      {BinaryPath("dualrpc-server"), "--root=" + root.path(),
       "--grpc_listen=127.0.0.1:0", "--raw_listen=127.0.0.1:0",
       "--auth_open_methods=health"},
      "", absl::Seconds(30));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text, HasSubstr("--auth_open_methods"));
}

}  // namespace
}  // namespace dualrpc::server
