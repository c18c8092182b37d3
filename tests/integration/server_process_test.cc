// dualrpc-server as a real process on port 0 (gRPC and raw), called through the
// generated gRPC stub, the dualrpc CLI and the health service.

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <string>

#include "absl/strings/str_join.h"
#include "dualrpc/v1/file_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace dualrpc::server {
namespace {

using ::dualrpc_testing::IsOk;

using ::dualrpc_testing::BinaryPath;
using ::dualrpc_testing::CommandResult;
using ::dualrpc_testing::RunCommand;
using ::dualrpc_testing::ServerProcess;
using ::dualrpc_testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class ServerProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.WriteFile("hello.txt", "hello, world\n");
    root_.MakeDir("docs");
    root_.WriteFile("docs/readme.md", "# readme\n");
    root_.Symlink("docs", "link");
    absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
        dualrpc_testing::StartServer(root_.path());
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    address_ = server_->Address("grpc").value_or("");
    ASSERT_THAT(address_, StartsWith("127.0.0.1:"));
    channel_ =
        ::grpc::CreateChannel(address_, ::grpc::InsecureChannelCredentials());
    stub_ = v1::FileService::NewStub(channel_);
  }

  std::unique_ptr<::grpc::ClientContext> Context() {
    auto context = std::make_unique<::grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(10));
    return context;
  }

  dualrpc_testing::CommandResult Cli(std::vector<std::string> args,
                                     const std::string& stdin_text = "") {
    args.insert(args.begin(), {dualrpc_testing::BinaryPath("dualrpc"),
                               "--target=grpc://" + address_});
    return dualrpc_testing::RunCommand(args, stdin_text);
  }

  dualrpc_testing::TempDir root_;
  std::unique_ptr<dualrpc_testing::ServerProcess> server_;
  std::string address_;
  std::shared_ptr<::grpc::Channel> channel_;
  std::unique_ptr<v1::FileService::Stub> stub_;
};

TEST_F(ServerProcessTest, EchoReturnsPayloadUnchanged) {
  v1::EchoRequest request;
  request.set_payload(std::string("bytes\0with nul\xff", 15));
  v1::EchoResponse response;
  ::grpc::Status status = stub_->Echo(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.payload(), request.payload());
}

TEST_F(ServerProcessTest, ListsRootInNameOrder) {
  v1::ListDirectoryRequest request;
  v1::ListDirectoryResponse response;
  ::grpc::Status status =
      stub_->ListDirectory(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<std::string> names;
  for (const auto& entry : response.entries()) names.push_back(entry.name());
  EXPECT_THAT(names, ElementsAre("docs", "hello.txt", "link"));
  EXPECT_EQ(response.entries(0).type(), v1::DirectoryEntry::TYPE_DIRECTORY);
  EXPECT_EQ(response.entries(1).size_bytes(), 13u);
  EXPECT_EQ(response.entries(2).type(), v1::DirectoryEntry::TYPE_SYMLINK);
  EXPECT_EQ(response.entries(2).symlink_target(), "docs");
  EXPECT_TRUE(response.next_page_token().empty());
}

TEST_F(ServerProcessTest, ErrorsCarryGrpcCodes) {
  struct Case {
    std::string path;
    ::grpc::StatusCode code;
  } cases[] = {{"missing", ::grpc::StatusCode::NOT_FOUND},
               {"..", ::grpc::StatusCode::PERMISSION_DENIED},
               {"/etc", ::grpc::StatusCode::INVALID_ARGUMENT},
               {"hello.txt", ::grpc::StatusCode::FAILED_PRECONDITION}};
  for (const Case& c : cases) {
    v1::ListDirectoryRequest request;
    request.set_path(c.path);
    v1::ListDirectoryResponse response;
    ::grpc::Status status =
        stub_->ListDirectory(Context().get(), request, &response);
    EXPECT_EQ(status.error_code(), c.code)
        << c.path << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), ::testing::Not(HasSubstr(root_.path())))
        << c.path;
  }
  v1::ListDirectoryRequest bad_size;
  bad_size.set_page_size(-1);
  v1::ListDirectoryResponse response;
  EXPECT_EQ(
      stub_->ListDirectory(Context().get(), bad_size, &response).error_code(),
      ::grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServerProcessTest, MessageOverReceiveLimitIsResourceExhausted) {
  v1::EchoRequest request;
  request.set_payload(std::string(5 * 1024 * 1024, 'x'));
  v1::EchoResponse response;
  ::grpc::Status status = stub_->Echo(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), ::grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  // The server is still up for everyone else.
  request.set_payload("still there");
  ASSERT_TRUE(stub_->Echo(Context().get(), request, &response).ok());
  EXPECT_EQ(response.payload(), "still there");
}

TEST_F(ServerProcessTest, HealthIsServing) {
  auto health = ::grpc::health::v1::Health::NewStub(channel_);
  for (const std::string service : {"", "dualrpc.v1.FileService"}) {
    ::grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    ::grpc::health::v1::HealthCheckResponse response;
    ::grpc::Status status = health->Check(Context().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.status(),
              ::grpc::health::v1::HealthCheckResponse::SERVING)
        << service;
  }
  ::grpc::health::v1::HealthCheckRequest unknown;
  unknown.set_service("no.such.Service");
  ::grpc::health::v1::HealthCheckResponse response;
  EXPECT_EQ(health->Check(Context().get(), unknown, &response).error_code(),
            ::grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerProcessTest, SigtermStopsCleanlyWithLifecycleLog) {
  v1::EchoRequest request;
  v1::EchoResponse response;
  ASSERT_TRUE(stub_->Echo(Context().get(), request, &response).ok());
  ASSERT_THAT(server_->Signal(SIGTERM), dualrpc_testing::IsOk());
  EXPECT_THAT(server_->WaitForExit(absl::Seconds(30)),
              dualrpc_testing::IsOkAndHolds(0));
  const std::string log = server_->StderrText();
  EXPECT_THAT(log, HasSubstr("grpc listening on " + address_));
  EXPECT_THAT(log, HasSubstr("received SIGTERM"));
  EXPECT_THAT(log, HasSubstr("stopped"));
}

TEST_F(ServerProcessTest, CliListsAndEchoes) {
  dualrpc_testing::CommandResult ls = Cli({"ls"});
  EXPECT_EQ(ls.exit_code, 0) << ls.stderr_text;
  EXPECT_EQ(ls.stdout_text, "docs\nhello.txt\nlink\n");

  ASSERT_EQ(::chmod(root_.HostPath("docs/readme.md").c_str(), 0644), 0);
  dualrpc_testing::CommandResult long_ls = Cli({"ls", "-l", "docs"});
  EXPECT_EQ(long_ls.exit_code, 0) << long_ls.stderr_text;
  EXPECT_THAT(long_ls.stdout_text, HasSubstr("readme.md"));
  EXPECT_THAT(long_ls.stdout_text, StartsWith("-rw-r--r--"));

  dualrpc_testing::CommandResult echo = Cli({"echo", "hello there"});
  EXPECT_EQ(echo.exit_code, 0) << echo.stderr_text;
  EXPECT_EQ(echo.stdout_text, "hello there\n");

  dualrpc_testing::CommandResult piped = Cli({"echo"}, "from stdin");
  EXPECT_EQ(piped.exit_code, 0) << piped.stderr_text;
  EXPECT_EQ(piped.stdout_text, "from stdin");

  dualrpc_testing::CommandResult json = Cli({"--json", "echo", "hi"});
  EXPECT_EQ(json.exit_code, 0) << json.stderr_text;
  EXPECT_THAT(json.stdout_text,
              ::testing::ContainsRegex("\"payload\": ?\"aGk=\""));
}

TEST_F(ServerProcessTest, CliReportsErrorsAsCodeAndMessage) {
  dualrpc_testing::CommandResult missing = Cli({"ls", "missing"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.stderr_text, StartsWith("NOT_FOUND: "));

  dualrpc_testing::CommandResult escape = Cli({"ls", "../.."});
  EXPECT_NE(escape.exit_code, 0);
  EXPECT_THAT(escape.stderr_text, StartsWith("PERMISSION_DENIED: "));
}

// `dualrpc --target raw://…` does everything grpc:// does, with the same
// output, exit codes and error lines.
TEST_F(ServerProcessTest, CliGivesIdenticalResultsOverRaw) {
  for (int i = 0; i < 7; ++i) root_.WriteFile("docs/p" + std::to_string(i), "");
  ASSERT_EQ(::chmod(root_.HostPath("docs/readme.md").c_str(), 0644), 0);
  const std::string raw_target =
      "--target=raw://" + server_->Address("raw").value_or("");
  ASSERT_NE(server_->Address("raw").value_or(""), "");
  const std::vector<std::vector<std::string>> commands = {
      {"ls"},
      {"ls", "-l", "docs"},
      {"ls", "--page_size=2", "docs"},
      {"--json", "ls"},
      {"echo", "hello over raw"},
      {"--json", "echo", "hi"},
      {"ls", "../.."},
      {"ls", "hello.txt"},
      {"ls", "missing"}};
  for (const auto& command : commands) {
    dualrpc_testing::CommandResult grpc = Cli(command);
    std::vector<std::string> raw_args = {dualrpc_testing::BinaryPath("dualrpc"),
                                         raw_target};
    raw_args.insert(raw_args.end(), command.begin(), command.end());
    dualrpc_testing::CommandResult raw = dualrpc_testing::RunCommand(raw_args);
    const std::string name = absl::StrJoin(command, " ");
    EXPECT_EQ(raw.exit_code, grpc.exit_code) << name << ": " << raw.stderr_text;
    EXPECT_EQ(raw.stdout_text, grpc.stdout_text) << name;
    EXPECT_EQ(raw.stderr_text, grpc.stderr_text) << name;
  }
  dualrpc_testing::CommandResult piped = dualrpc_testing::RunCommand(
      {dualrpc_testing::BinaryPath("dualrpc"), raw_target, "echo"},
      "stdin over raw");
  EXPECT_EQ(piped.exit_code, 0) << piped.stderr_text;
  EXPECT_EQ(piped.stdout_text, "stdin over raw");
}

TEST_F(ServerProcessTest, CliFollowsEveryPage) {
  for (int i = 0; i < 25; ++i)
    root_.WriteFile("docs/f" + std::to_string(100 + i), "");
  dualrpc_testing::CommandResult ls = Cli({"ls", "--page_size=4", "docs"});
  EXPECT_EQ(ls.exit_code, 0) << ls.stderr_text;
  EXPECT_EQ(std::count(ls.stdout_text.begin(), ls.stdout_text.end(), '\n'), 26);
}

}  // namespace
}  // namespace dualrpc::server
