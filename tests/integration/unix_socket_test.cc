// The real dualrpc-server listening on unix sockets for both transports, and
// the dualrpc CLI calling it there (unix:///PATH for gRPC, raw+unix:///PATH
// for raw); and grpcurl's plain HOST:PORT target, which means gRPC.

#include <signal.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace dualrpc::server {
namespace {

using ::dualrpc_testing::BinaryPath;
using ::dualrpc_testing::CommandResult;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::RunCommand;
using ::dualrpc_testing::ServerProcess;
using ::dualrpc_testing::StartServer;
using ::dualrpc_testing::TempDir;
using ::testing::HasSubstr;

bool IsSocketFile(const std::string& path) {
  struct stat status {};
  return ::lstat(path.c_str(), &status) == 0 && S_ISSOCK(status.st_mode);
}

bool Exists(const std::string& path) {
  struct stat status {};
  return ::lstat(path.c_str(), &status) == 0;
}

CommandResult Cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {BinaryPath("dualrpc")};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

class UnixSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.WriteFile("hello.txt", "hello\n");
    root_.MakeDir("docs");
    grpc_uri_ = "unix://" + sockets_.HostPath("grpc.sock");
    raw_uri_ = "unix://" + sockets_.HostPath("raw.sock");
    // Later flags win: these replace StartServer's 127.0.0.1:0 listeners.
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        StartServer(root_.path(),
                    {"--grpc_listen=" + grpc_uri_, "--raw_listen=" + raw_uri_});
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
  }

  TempDir root_;
  TempDir sockets_;
  std::string grpc_uri_;
  std::string raw_uri_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(UnixSocketTest, ReadyFileReportsTheUnixAddresses) {
  EXPECT_THAT(server_->Address("grpc"), IsOkAndHolds(grpc_uri_));
  EXPECT_THAT(server_->Address("raw"), IsOkAndHolds(raw_uri_));
  EXPECT_TRUE(IsSocketFile(sockets_.HostPath("grpc.sock")));
  EXPECT_TRUE(IsSocketFile(sockets_.HostPath("raw.sock")));
}

TEST_F(UnixSocketTest, CliListsFilesOnBothTransports) {
  // gRPC's own unix target syntax, and the raw transport's "raw+" spelling.
  for (const std::string& target : {grpc_uri_, "raw+" + raw_uri_}) {
    const CommandResult result = Cli({"--target", target, "ls"});
    EXPECT_EQ(result.exit_code, 0) << target << ": " << result.stderr_text;
    EXPECT_THAT(result.stdout_text, HasSubstr("hello.txt")) << target;
    EXPECT_THAT(result.stdout_text, HasSubstr("docs")) << target;
  }
}

TEST_F(UnixSocketTest, CliListsServicesWithTheTargetAsArgument) {
  for (const std::string& target : {grpc_uri_, "raw+" + raw_uri_}) {
    const CommandResult result = Cli({"list", target});
    EXPECT_EQ(result.exit_code, 0) << target << ": " << result.stderr_text;
    EXPECT_THAT(result.stdout_text, HasSubstr("dualrpc.v1.FileService"))
        << target;
  }
}

TEST_F(UnixSocketTest, TransportsAreNotMixedUp) {
  // The raw protocol's preface is not HTTP/2 and the other way round: a
  // target naming the wrong transport for a socket must fail, not hang.
  const CommandResult raw_at_grpc =
      Cli({"--timeout=5s", "--target", "raw+" + grpc_uri_, "ls"});
  EXPECT_NE(raw_at_grpc.exit_code, 0);
  const CommandResult grpc_at_raw =
      Cli({"--timeout=5s", "--target", raw_uri_, "ls"});
  EXPECT_NE(grpc_at_raw.exit_code, 0);
}

TEST_F(UnixSocketTest, CleanShutdownRemovesBothSocketFiles) {
  ASSERT_THAT(server_->Signal(SIGTERM), IsOk());
  EXPECT_THAT(server_->WaitForExit(absl::Seconds(30)), IsOkAndHolds(0));
  EXPECT_FALSE(Exists(sockets_.HostPath("grpc.sock")));
  EXPECT_FALSE(Exists(sockets_.HostPath("raw.sock")));
}

TEST(HostPortTargetTest, PlainHostPortIsGrpc) {
  TempDir root;
  root.WriteFile("hello.txt", "hello\n");
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      StartServer(root.path());
  ASSERT_THAT(server, IsOk());
  absl::StatusOr<std::string> grpc_address = (*server)->Address("grpc");
  ASSERT_THAT(grpc_address, IsOk());

  const CommandResult listed = Cli({"list", *grpc_address});
  EXPECT_EQ(listed.exit_code, 0) << listed.stderr_text;
  EXPECT_THAT(listed.stdout_text, HasSubstr("dualrpc.v1.FileService"));

  const CommandResult files = Cli({"--target", *grpc_address, "ls"});
  EXPECT_EQ(files.exit_code, 0) << files.stderr_text;
  EXPECT_THAT(files.stdout_text, HasSubstr("hello.txt"));

  // HOST:PORT is gRPC, never raw: at the raw port it fails.
  absl::StatusOr<std::string> raw_address = (*server)->Address("raw");
  ASSERT_THAT(raw_address, IsOk());
  const CommandResult wrong =
      Cli({"--timeout=5s", "--target", *raw_address, "ls"});
  EXPECT_NE(wrong.exit_code, 0);
}

}  // namespace
}  // namespace dualrpc::server
