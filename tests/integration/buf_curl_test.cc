// Inspection with a real third-party client: buf curl (npm @bufbuild/buf),
// speaking gRPC over HTTP/2 prior knowledge and using server reflection
// (v1alpha on grpc 1.51) instead of any .proto file.

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace dualrpc::server {
namespace {

using ::dualrpc_testing::IsOk;

using ::dualrpc_testing::CommandResult;
using ::dualrpc_testing::RunCommand;
using ::dualrpc_testing::ServerProcess;
using ::dualrpc_testing::TempDir;
using ::testing::HasSubstr;

class BufCurlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.WriteFile("a.txt", "a");
    root_.MakeDir("sub");
    root_.WriteFile("sub/b.txt", "bb");
    absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
        dualrpc_testing::StartServer(root_.path());
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
  }

  dualrpc_testing::CommandResult BufCurl(std::vector<std::string> args,
                                         const std::string& stdin_text = "") {
    args.insert(args.begin(), {DUALRPC_BUF_PATH, "curl", "--protocol", "grpc",
                               "--http2-prior-knowledge"});
    return dualrpc_testing::RunCommand(args, stdin_text);
  }

  std::string Url(const std::string& method = "") {
    return "http://" + server_->Address("grpc").value_or("") +
           (method.empty() ? "" : "/" + method);
  }

  dualrpc_testing::TempDir root_;
  std::unique_ptr<dualrpc_testing::ServerProcess> server_;
};

TEST_F(BufCurlTest, ListsServicesThroughReflection) {
  dualrpc_testing::CommandResult result = BufCurl({"--list-services", Url()});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr("dualrpc.v1.FileService"));
  EXPECT_THAT(result.stdout_text, HasSubstr("grpc.health.v1.Health"));
}

// --list-methods needs each service's file descriptor from reflection, so
// it proves the services are described, not only named.
TEST_F(BufCurlTest, DescribesServiceMethods) {
  dualrpc_testing::CommandResult result = BufCurl({"--list-methods", Url()});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr("dualrpc.v1.FileService/Echo"));
  EXPECT_THAT(result.stdout_text,
              HasSubstr("dualrpc.v1.FileService/ListDirectory"));
  EXPECT_THAT(result.stdout_text, HasSubstr("grpc.health.v1.Health/Check"));
  EXPECT_THAT(result.stdout_text, HasSubstr("grpc.health.v1.Health/Watch"));
}

TEST_F(BufCurlTest, CallsEchoWithJson) {
  dualrpc_testing::CommandResult result = BufCurl(
      {"-d", R"({"payload": "aGVsbG8="})", Url("dualrpc.v1.FileService/Echo")});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr(R"("payload": "aGVsbG8=")"));
}

TEST_F(BufCurlTest, CallsListDirectoryFromStdin) {
  dualrpc_testing::CommandResult result =
      BufCurl({"-d", "@-", Url("dualrpc.v1.FileService/ListDirectory")},
              R"({"path": ""})");
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr(R"("name": "a.txt")"));
}

TEST_F(BufCurlTest, ChecksHealth) {
  dualrpc_testing::CommandResult result =
      BufCurl({"-d", "{}", Url("grpc.health.v1.Health/Check")});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr("SERVING"));
}

TEST_F(BufCurlTest, ReportsStatusCodeOfFailedCall) {
  dualrpc_testing::CommandResult result =
      BufCurl({"-d", R"({"path": "../.."})",
               Url("dualrpc.v1.FileService/ListDirectory")});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, HasSubstr("permission_denied"));
}

// Server streaming from a third-party gRPC client: buf curl prints every
// response message as a JSON document, and the walk reaches into sub/.
TEST_F(BufCurlTest, StreamsWalkTree) {
  dualrpc_testing::CommandResult result = BufCurl(
      {"-d", R"({"path": ""})", Url("dualrpc.v1.FileService/WalkTree")});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr(R"("path": "a.txt")"));
  EXPECT_THAT(result.stdout_text, HasSubstr(R"("path": "sub")"));
  EXPECT_THAT(result.stdout_text, HasSubstr(R"("path": "sub/b.txt")"));
}

// Bidi streaming: several request documents on stdin, one echo each, in
// order.
TEST_F(BufCurlTest, StreamsEchoStreamFromStdin) {
  dualrpc_testing::CommandResult result = BufCurl(
      {"-d", "@-", Url("dualrpc.v1.FileService/EchoStream")},
      R"({"payload": "b25l"} {"payload": "dHdv"} {"payload": "dGhyZWU="})");
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  const std::string& out = result.stdout_text;
  const std::size_t one = out.find("b25l"), two = out.find("dHdv"),
                    three = out.find("dGhyZWU=");
  ASSERT_NE(one, std::string::npos) << out;
  ASSERT_NE(two, std::string::npos) << out;
  ASSERT_NE(three, std::string::npos) << out;
  EXPECT_LT(one, two);
  EXPECT_LT(two, three);
}

}  // namespace
}  // namespace dualrpc::server
