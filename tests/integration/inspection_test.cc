// Inspection like grpcurl on both transports of one real dualrpc-server:
// the dualrpc CLI's list/describe/call, with no .proto on the client side,
// must print the same on grpc:// (grpc++'s health and bidi reflection
// services) and raw:// (HealthService and unary ReflectionService,
// docs/PROTOCOL.md §10). And the raw reflection answers must be the very
// responses grpc++ gives.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/rpc/blocking_stream.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/channel.h"
#include "dualrpc/rpc/client_call.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "src/proto/grpc/reflection/v1alpha/reflection.pb.h"
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
using ::grpc::reflection::v1alpha::ServerReflectionRequest;
using ::grpc::reflection::v1alpha::ServerReflectionResponse;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kReflectionInfo[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

class InspectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.WriteFile("hello.txt", "hello\n");
    root_.MakeDir("docs");
    absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
        dualrpc_testing::StartServer(root_.path());
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    targets_ = {"grpc://" + server_->Address("grpc").value_or(""),
                "raw://" + server_->Address("raw").value_or("")};
  }

  // `dualrpc COMMAND TARGET ARGS...` on both transports. Asserts that both
  // printed and exited the same, and returns that result.
  dualrpc_testing::CommandResult CliOnBoth(const std::string& command,
                                           const std::vector<std::string>& args,
                                           const std::string& stdin_text = "") {
    std::vector<dualrpc_testing::CommandResult> results;
    for (const std::string& target : targets_) {
      std::vector<std::string> argv = {dualrpc_testing::BinaryPath("dualrpc"),
                                       command, target};
      argv.insert(argv.end(), args.begin(), args.end());
      results.push_back(dualrpc_testing::RunCommand(argv, stdin_text));
    }
    EXPECT_EQ(results[0].stdout_text, results[1].stdout_text) << command;
    EXPECT_EQ(results[0].stderr_text, results[1].stderr_text) << command;
    EXPECT_EQ(results[0].exit_code, results[1].exit_code) << command;
    return results[0];
  }

  dualrpc_testing::TempDir root_;
  std::unique_ptr<dualrpc_testing::ServerProcess> server_;
  std::vector<std::string> targets_;
};

TEST_F(InspectionTest, ListShowsApplicationHealthAndReflection) {
  dualrpc_testing::CommandResult result = CliOnBoth("list", {});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stdout_text,
            "dualrpc.v1.FileService\n"
            "grpc.health.v1.Health\n"
            "grpc.reflection.v1.ServerReflection\n"
            "grpc.reflection.v1alpha.ServerReflection\n");
}

TEST_F(InspectionTest, TargetFlagWorksLikeTargetArgument) {
  for (const std::string& target : targets_) {
    dualrpc_testing::CommandResult result = dualrpc_testing::RunCommand(
        {dualrpc_testing::BinaryPath("dualrpc"), "--target", target, "list"});
    ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
    EXPECT_THAT(result.stdout_text, StartsWith("dualrpc.v1.FileService\n"));
  }
}

TEST_F(InspectionTest, DescribesServiceWithBothMethods) {
  dualrpc_testing::CommandResult result =
      CliOnBoth("describe", {"dualrpc.v1.FileService"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text,
              StartsWith("dualrpc.v1.FileService is a service:\n"
                         "service FileService {\n"));
  EXPECT_THAT(result.stdout_text,
              HasSubstr("rpc Echo(.dualrpc.v1.EchoRequest) returns "
                        "(.dualrpc.v1.EchoResponse);"));
  EXPECT_THAT(result.stdout_text,
              HasSubstr("rpc ListDirectory(.dualrpc.v1.ListDirectoryRequest) "
                        "returns (.dualrpc.v1.ListDirectoryResponse);"));
}

TEST_F(InspectionTest, DescribesMessageFields) {
  dualrpc_testing::CommandResult result =
      CliOnBoth("describe", {"dualrpc.v1.ListDirectoryRequest"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stdout_text,
            "dualrpc.v1.ListDirectoryRequest is a message:\n"
            "message ListDirectoryRequest {\n"
            "  string path = 1;\n"
            "  int32 page_size = 2;\n"
            "  string page_token = 3;\n"
            "}\n");
}

TEST_F(InspectionTest, DescribesHealthAndReflectionServices) {
  dualrpc_testing::CommandResult result =
      CliOnBoth("describe", {"grpc.health.v1.Health"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr("rpc Check("));
  result = CliOnBoth("describe", {"grpc.reflection.v1alpha.ServerReflection"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr("rpc ServerReflectionInfo(stream"));
}

TEST_F(InspectionTest, CallsEchoWithJson) {
  dualrpc_testing::CommandResult result = CliOnBoth(
      "call", {"dualrpc.v1.FileService/Echo", "-d", R"({"payload":"aGk="})"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stdout_text, "{\n  \"payload\": \"aGk=\"\n}\n");
}

TEST_F(InspectionTest, CallsListDirectoryWithJsonFromStdin) {
  dualrpc_testing::CommandResult result =
      CliOnBoth("call", {"/dualrpc.v1.FileService/ListDirectory", "-d", "@-"},
                R"({"path": "", "pageSize": 1})");
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr(R"("name": "docs")"));
  EXPECT_THAT(result.stdout_text, HasSubstr(R"("type": "TYPE_DIRECTORY")"));
  EXPECT_THAT(result.stdout_text, HasSubstr(R"("nextPageToken": ")"));
  EXPECT_THAT(result.stdout_text, ::testing::Not(HasSubstr("hello.txt")));
}

TEST_F(InspectionTest, HealthCheckIsServingOnBoth) {
  dualrpc_testing::CommandResult result =
      CliOnBoth("call", {"grpc.health.v1.Health/Check", "-d", "{}"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stdout_text, "{\n  \"status\": \"SERVING\"\n}\n");
  result = CliOnBoth("call", {"grpc.health.v1.Health/Check", "-d",
                              R"({"service": "dualrpc.v1.FileService"})"});
  EXPECT_EQ(result.stdout_text, "{\n  \"status\": \"SERVING\"\n}\n");
  result = CliOnBoth(
      "call", {"grpc.health.v1.Health/Check", "-d", R"({"service": "nope"})"});
  EXPECT_EQ(result.exit_code, 64 + 5);  // NOT_FOUND from the RPC
  EXPECT_EQ(result.stderr_text, "NOT_FOUND: service name unknown\n");
}

// grpcurl's exit status for a failed RPC: 64 + its code.
TEST_F(InspectionTest, FailedCallPrintsCodeAndExits64PlusCode) {
  dualrpc_testing::CommandResult result = CliOnBoth(
      "call",
      {"dualrpc.v1.FileService/ListDirectory", "-d", R"({"path": "../.."})"});
  EXPECT_EQ(result.exit_code, 64 + 7);  // PERMISSION_DENIED
  EXPECT_THAT(result.stdout_text, ::testing::IsEmpty());
  EXPECT_EQ(result.stderr_text,
            "PERMISSION_DENIED: path escapes the served root: \"../..\"\n");
}

TEST_F(InspectionTest, UnknownSymbolIsNotFound) {
  dualrpc_testing::CommandResult result =
      CliOnBoth("describe", {"dualrpc.v1.Nope"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(
      result.stderr_text,
      "NOT_FOUND: cannot resolve \"dualrpc.v1.Nope\": Symbol not found.\n");
}

// The raw ServerReflectionInfo is a unary call; over gRPC the same unary
// call reaches grpc++'s bidi-streaming service (one request, half-close, one
// response). The answers must be the same message, byte for byte except
// for the order of list_services (grpc++ lists in registration order).
TEST_F(InspectionTest, RawReflectionAnswersAsGrpcDoes) {
  std::vector<ServerReflectionRequest> requests;
  auto add = [&requests]() -> ServerReflectionRequest& {
    requests.emplace_back();
    requests.back().set_host("inspection-test");
    return requests.back();
  };
  add().set_list_services("*");
  add().set_file_by_filename("dualrpc/v1/file_service.proto");
  add().set_file_by_filename("grpc/health/v1/health.proto");
  add().set_file_by_filename("nope.proto");
  for (const char* symbol :
       {"dualrpc.v1.FileService", "dualrpc.v1.FileService.ListDirectory",
        "dualrpc.v1.DirectoryEntry.Type", "google.protobuf.Timestamp",
        "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
        "dualrpc.v1", "dualrpc.v1.Nope"}) {
    add().set_file_containing_symbol(symbol);
  }
  add().mutable_file_containing_extension()->set_containing_type(
      "dualrpc.v1.EchoRequest");
  add().mutable_file_containing_extension()->set_containing_type("nope.T");
  add().set_all_extension_numbers_of_type("dualrpc.v1.EchoRequest");
  add().set_all_extension_numbers_of_type("nope.T");
  add();  // No message_request.

  std::vector<std::shared_ptr<rpc::Channel>> channels;
  for (const std::string& target : targets_) {
    absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
        client::CreateChannel(target);
    ASSERT_THAT(channel, IsOk());
    channels.push_back(*channel);
  }
  rpc::CallOptions options;
  options.timeout = absl::Seconds(10);
  // Each question on a stream of its own per wire (grpc++'s service sends
  // each file once per stream, so answers on one shared stream depend on
  // what was asked before): grpc++'s own v1alpha service on the gRPC port,
  // ReflectionService on raw.
  std::vector<std::vector<ServerReflectionResponse>> answers(channels.size());
  for (std::size_t i = 0; i < channels.size(); ++i) {
    for (const ServerReflectionRequest& request : requests) {
      rpc::ClientReaderWriter<ServerReflectionRequest, ServerReflectionResponse>
          stream(*channels[i], kReflectionInfo, options);
      ASSERT_TRUE(stream.Write(request)) << targets_[i];
      ASSERT_TRUE(stream.WritesDone()) << targets_[i];
      ServerReflectionResponse response;
      ASSERT_TRUE(stream.Read(&response)) << targets_[i];
      answers[i].push_back(response);
      ASSERT_FALSE(stream.Read(&response)) << targets_[i];
      ASSERT_THAT(stream.Finish(), IsOk()) << targets_[i];
    }
  }
  for (std::size_t r = 0; r < requests.size(); ++r) {
    google::protobuf::util::MessageDifferencer differencer;
    differencer.TreatAsSet(
        ::grpc::reflection::v1alpha::ListServiceResponse::descriptor()
            ->FindFieldByName("service"));
    std::string differences;
    differencer.ReportDifferencesToString(&differences);
    EXPECT_TRUE(differencer.Compare(answers[0][r], answers[1][r]))
        << requests[r].ShortDebugString() << "\n"
        << differences;
  }
}

}  // namespace
}  // namespace dualrpc::server
