// Where the dualrpc CLI gets a server's schema, tried as grpcurl users do
// against servers that are not dualrpc's: a grpc-js server
// (tests/thirdparty/grpc_js_server.js) with reflection v1 only, the same
// server with no reflection (schema from -proto + -import-path, or from
// -protoset), and dualrpc's own server on both transports, which serves
// v1alpha only (the CLI falls back to it).

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
#include "grpc/reflection/v1/reflection.pb.h"
#include "gtest/gtest.h"
#include "src/proto/grpc/reflection/v1alpha/reflection.pb.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace dualrpc::server {
namespace {

using ::dualrpc_testing::BinaryPath;
using ::dualrpc_testing::CommandResult;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::RunCommand;
using ::dualrpc_testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kV1Info[] =
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
constexpr char kV1alphaInfo[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

// Set by CMake: the source tree, and protosets that protoc wrote at build
// time with --include_imports.
const std::string kSourceDir = DUALRPC_SOURCE_DIR;
const std::string kGreetProtoset = DUALRPC_GREET_PROTOSET;
const std::string kFileServiceProtoset = DUALRPC_FILE_SERVICE_PROTOSET;
const std::string kImportPath = kSourceDir + "/tests/thirdparty/proto";
constexpr char kGreetProto[] = "thirdparty/greet/v1/greet.proto";

constexpr char kSayHello[] = "thirdparty.greet.v1.Greeter/SayHello";
constexpr char kHelloRequest[] =
    R"({"name":"dualrpc","salutation":"SALUTATION_HI"})";
constexpr char kHelloReply[] = "{\n  \"message\": \"Hi, dualrpc!\"\n}\n";

// `mode` is grpc_js_server.js's --reflection.
absl::StatusOr<std::unique_ptr<ServerProcess>> StartGrpcJsServer(
    const std::string& mode) {
  ServerProcessOptions options;
  options.name = "grpc_js_" + mode;
  return ServerProcess::Start(
      {"node", kSourceDir + "/tests/thirdparty/grpc_js_server.js",
       "--reflection=" + mode},
      options);
}

CommandResult Cli(std::vector<std::string> args) {
  args.insert(args.begin(), BinaryPath("dualrpc"));
  return RunCommand(args);
}

// The status of one reflection request on a stream of `path` (any
// request: only whether the method is there matters).
template <typename Request, typename Response>
absl::Status AskReflection(const std::string& target, const char* path) {
  absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
      client::CreateChannel(target);
  if (!channel.ok()) return channel.status();
  Request request;
  request.set_list_services("");
  rpc::CallOptions options;
  options.timeout = absl::Seconds(10);
  rpc::ClientReaderWriter<Request, Response> stream(**channel, path, options);
  stream.Write(request);
  stream.WritesDone();
  Response response;
  while (stream.Read(&response)) {
  }
  return stream.Finish();
}

absl::Status AskV1(const std::string& target) {
  return AskReflection<::grpc::reflection::v1::ServerReflectionRequest,
                       ::grpc::reflection::v1::ServerReflectionResponse>(
      target, kV1Info);
}
absl::Status AskV1alpha(const std::string& target) {
  return AskReflection<::grpc::reflection::v1alpha::ServerReflectionRequest,
                       ::grpc::reflection::v1alpha::ServerReflectionResponse>(
      target, kV1alphaInfo);
}

// list, describe and call through `schema_flags` (none: reflection) against
// the Greeter at `target`.
void ExpectGreeterInspectable(const std::string& target,
                              const std::vector<std::string>& schema_flags) {
  auto with_schema = [&](std::vector<std::string> args) {
    args.insert(args.end(), schema_flags.begin(), schema_flags.end());
    return Cli(args);
  };
  CommandResult result = with_schema({"list", target});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stdout_text, "thirdparty.greet.v1.Greeter\n");

  result =
      with_schema({"describe", target, "thirdparty.greet.v1.HelloRequest"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text,
              StartsWith("thirdparty.greet.v1.HelloRequest is a message:\n"));
  // Defined in the imported salutation.proto. (protoc writes json_name into
  // protosets, so the line may go on.)
  EXPECT_THAT(result.stdout_text,
              HasSubstr(".thirdparty.greet.v1.Salutation salutation = 2"));

  result = with_schema({"describe", target, "thirdparty.greet.v1.Greeter"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text,
              HasSubstr("rpc SayHello(.thirdparty.greet.v1.HelloRequest) "
                        "returns (.thirdparty.greet.v1.HelloReply);"));

  result = with_schema({"call", target, kSayHello, "-d", kHelloRequest});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stdout_text, kHelloReply);
}

// Reflection v1 is used: the server has no v1alpha, which was all the CLI
// spoke before.
TEST(SchemaSourcesTest, GrpcJsServerWithReflectionV1Only) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      StartGrpcJsServer("v1");
  ASSERT_THAT(server, IsOk());
  const std::string target =
      "grpc://" + (*server)->Address("grpc").value_or("");
  ASSERT_THAT(AskV1alpha(target), StatusIs(absl::StatusCode::kUnimplemented));
  ASSERT_THAT(AskV1(target), IsOk());
  ExpectGreeterInspectable(target, {});
}

TEST(SchemaSourcesTest, GrpcJsServerWithoutReflectionFromProtoFiles) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      StartGrpcJsServer("none");
  ASSERT_THAT(server, IsOk());
  const std::string target =
      "grpc://" + (*server)->Address("grpc").value_or("");
  CommandResult result = Cli({"list", target});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.stderr_text, StartsWith("UNIMPLEMENTED: "));

  // grpcurl's spelling, and ours.
  ExpectGreeterInspectable(
      target, {"-proto", kGreetProto, "-import-path", kImportPath});
  ExpectGreeterInspectable(
      target, {"--import_path=/nonexistent", "--import_path=" + kImportPath,
               std::string("--proto=") + kGreetProto});
}

TEST(SchemaSourcesTest, GrpcJsServerWithoutReflectionFromProtoset) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      StartGrpcJsServer("none");
  ASSERT_THAT(server, IsOk());
  ExpectGreeterInspectable("grpc://" + (*server)->Address("grpc").value_or(""),
                           {"-protoset", kGreetProtoset});
}

// The third-party server's header echo, which tests of -H rely on, checked
// with another client that sends headers (buf curl -H, -v prints what
// came back: "< " lines are response headers, then trailers).
TEST(SchemaSourcesTest, GrpcJsServerEchoesXHeadersAsHeadersAndTrailers) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      StartGrpcJsServer("v1");
  ASSERT_THAT(server, IsOk());
  CommandResult result = RunCommand(
      {DUALRPC_BUF_PATH, "curl", "--protocol", "grpc",
       "--http2-prior-knowledge", "-v", "-H", "x-probe: 42", "-H", "other: 7",
       "-d", kHelloRequest,
       "http://" + (*server)->Address("grpc").value_or("") + "/" + kSayHello});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr("\"message\": \"Hi, dualrpc!\""));
  const std::string& verbose = result.stderr_text;
  const std::string echoed = "< (#2) X-Probe: 42\n";
  const size_t header = verbose.find(echoed);
  ASSERT_NE(header, std::string::npos) << verbose;
  EXPECT_NE(verbose.find(echoed, header + 1), std::string::npos)
      << "no trailer: " << verbose;
  EXPECT_THAT(verbose, Not(HasSubstr("< (#2) Other:")));
}

// grpcurl's habits against the third-party server, with the target in
// grpcurl's own form (HOST:PORT means gRPC): -H reaches the RPC and
// reflection, -rpc-header only the RPC, -reflect-header only reflection, and
// -v shows what the server sent back (it echoes x-* request headers).
TEST(SchemaSourcesTest, GrpcJsServerGetsHeadersFromTheCli) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      StartGrpcJsServer("v1");
  ASSERT_THAT(server, IsOk());
  const std::string host_port = (*server)->Address("grpc").value_or("");
  CommandResult result = Cli({"call", host_port, kSayHello, "-d", kHelloRequest,
                              "-v", "-H", "X-Probe: 42", "-rpc-header",
                              "x-rpc: 1", "-reflect-header", "x-reflect: 2"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr("\"message\": \"Hi, dualrpc!\""));
  // The server sends the echo as headers and as trailers: -v shows each
  // in its own block.
  const std::string& out = result.stdout_text;
  const size_t headers = out.find("Response headers received:\n");
  const size_t contents = out.find("Response contents:\n");
  const size_t trailers = out.find("Response trailers received:\n");
  ASSERT_NE(headers, std::string::npos) << out;
  ASSERT_NE(contents, std::string::npos) << out;
  ASSERT_NE(trailers, std::string::npos) << out;
  ASSERT_LT(headers, contents);
  ASSERT_LT(contents, trailers);
  for (const std::string& block :
       {out.substr(headers, contents - headers), out.substr(trailers)}) {
    EXPECT_THAT(block, HasSubstr("x-probe: 42\n"));
    EXPECT_THAT(block, HasSubstr("x-rpc: 1\n"));
    EXPECT_THAT(block, Not(HasSubstr("x-reflect")));
  }
}

// dualrpc-bench load against the same third-party server: descriptors from
// its reflection (v1 only), grpcurl's HOST:PORT target, all calls OK.
TEST(SchemaSourcesTest, LoadToolRunsAgainstTheGrpcJsServer) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      StartGrpcJsServer("v1");
  ASSERT_THAT(server, IsOk());
  CommandResult result = RunCommand(
      {BinaryPath("dualrpc-bench"), "load", "--target",
       (*server)->Address("grpc").value_or(""), "--call", kSayHello, "-d",
       kHelloRequest, "-n", "50", "-c", "2", "-H", "x-probe: 1"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr("Count:"));
  EXPECT_THAT(result.stdout_text, HasSubstr("[OK]\t50 responses"));
}

// The file is looked for here, before anything is sent: the target does
// not even need to be listening.
TEST(SchemaSourcesTest, MissingProtoFileIsALocalError) {
  CommandResult result = Cli({"call", "grpc://127.0.0.1:1", kSayHello, "-proto",
                              "nope.proto", "-import-path", kImportPath});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.stdout_text, "");
  EXPECT_EQ(result.stderr_text,
            "INVALID_ARGUMENT: cannot load nope.proto: nope.proto: File not "
            "found.\n");
  result = Cli({"list", "grpc://127.0.0.1:1", "-protoset", "nope.protoset"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.stderr_text,
              StartsWith("INVALID_ARGUMENT: cannot read protoset"));
}

class DualrpcServerSchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.WriteFile("hello.txt", "hello\n");
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        dualrpc_testing::StartServer(root_.path());
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    targets_ = {"grpc://" + server_->Address("grpc").value_or(""),
                "raw://" + server_->Address("raw").value_or("")};
  }

  dualrpc_testing::TempDir root_;
  std::unique_ptr<ServerProcess> server_;
  std::vector<std::string> targets_;
};

// dualrpc-server serves reflection v1 and v1alpha on both transports (on
// gRPC, v1alpha is grpc++'s own), so clients that try v1 first (grpcurl,
// buf curl, this CLI) are answered at once. The fallback to v1alpha is
// tested against grpc-js above and in tests/cli.
TEST_F(DualrpcServerSchemaTest, ServesReflectionV1AndV1alphaOnBothTransports) {
  for (const std::string& target : targets_) {
    ASSERT_THAT(AskV1(target), IsOk()) << target;
    ASSERT_THAT(AskV1alpha(target), IsOk()) << target;
    CommandResult result = Cli({"list", target});
    ASSERT_EQ(result.exit_code, 0) << target << ": " << result.stderr_text;
    EXPECT_EQ(result.stdout_text,
              "dualrpc.v1.FileService\ngrpc.health.v1.Health\n"
              "grpc.reflection.v1.ServerReflection\n"
              "grpc.reflection.v1alpha.ServerReflection\n")
        << target;
    result = Cli({"call", target, "dualrpc.v1.FileService/Echo", "-d",
                  R"({"payload":"aGk="})"});
    ASSERT_EQ(result.exit_code, 0) << target << ": " << result.stderr_text;
    EXPECT_EQ(result.stdout_text, "{\n  \"payload\": \"aGk=\"\n}\n") << target;
  }
}

// A protoset stands in for reflection on either transport.
TEST_F(DualrpcServerSchemaTest, ProtosetOnBothTransports) {
  for (const std::string& target : targets_) {
    CommandResult result =
        Cli({"list", target, "-protoset", kFileServiceProtoset});
    ASSERT_EQ(result.exit_code, 0) << target << ": " << result.stderr_text;
    EXPECT_EQ(result.stdout_text, "dualrpc.v1.FileService\n") << target;
    result = Cli({"call", target, "dualrpc.v1.FileService/ListDirectory",
                  "-protoset", kFileServiceProtoset});
    ASSERT_EQ(result.exit_code, 0) << target << ": " << result.stderr_text;
    EXPECT_THAT(result.stdout_text, HasSubstr("\"name\": \"hello.txt\""))
        << target;
  }
}

}  // namespace
}  // namespace dualrpc::server
