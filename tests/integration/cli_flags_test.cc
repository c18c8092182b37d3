// grpcurl's flags and habits in the real `dualrpc` binary, on both
// transports: dualrpc.test.v1.Inventory (which echoes "echo-*" request
// metadata back as response metadata) served in this process by GrpcServer
// and by RawServer, called by the CLI as a child process; and the real
// dualrpc-server for what only it serves.
//
// On gRPC the server's reflection is grpc++'s own; on raw it is
// ReflectionService behind a method that records the metadata each
// reflection call brought, so that where -H, -rpc-header and
// -reflect-header go can be seen.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/grpc/grpc_server.h"
#include "dualrpc/grpc/registry_grpc_service.h"
#include "dualrpc/inspection/reflection_service.h"
#include "dualrpc/raw/server/raw_server.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/test/v1/inventory.dualrpc.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rpc/inventory_service.h"
#include "src/proto/grpc/reflection/v1alpha/reflection.pb.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/unary_method.h"

namespace dualrpc::cli {
namespace {

using ::dualrpc_testing::BinaryPath;
using ::dualrpc_testing::CommandResult;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::RunCommand;
using ::grpc::reflection::v1alpha::ServerReflectionRequest;
using ::grpc::reflection::v1alpha::ServerReflectionResponse;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;

// `dualrpc ARGS...`, bounded.
CommandResult Cli(std::vector<std::string> args) {
  args.insert(args.begin(), BinaryPath("dualrpc"));
  return RunCommand(args, "", absl::Seconds(30));
}

class CliFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(test::v1::RegisterInventory(&inventory_, &grpc_registry_),
                IsOk());
    ASSERT_THAT(test::v1::RegisterInventory(&inventory_, &raw_registry_),
                IsOk());
    // Reflection as dualrpc-server serves it on raw (a bidi stream), with
    // each stream's request metadata recorded for the -reflect-header test.
    rpc::Method reflection =
        rpc::MakeBidiStreamingMethod<inspection::ReflectionService,
                                     ServerReflectionRequest,
                                     ServerReflectionResponse>(
            inspection::ReflectionService::kInfoPath, &reflection_,
            &inspection::ReflectionService::ServerReflectionInfo);
    reflection.start_stream =
        [this, start = std::move(reflection.start_stream)](
            rpc::ServerStream* stream, const google::protobuf::Message* request,
            google::protobuf::Message* response) {
          {
            absl::MutexLock lock(&mutex_);
            reflection_metadata_.insert(reflection_metadata_.end(),
                                        stream->request_metadata().begin(),
                                        stream->request_metadata().end());
          }
          return start(stream, request, response);
        };
    ASSERT_THAT(raw_registry_.AddMethod(std::move(reflection)), IsOk());

    raw::RawServer::Options raw_options;
    raw_options.event_loop_threads = 1;
    absl::StatusOr<std::unique_ptr<raw::RawServer>> raw_server =
        raw::RawServer::Start(raw_options, &raw_registry_);
    ASSERT_THAT(raw_server, IsOk());
    raw_server_ = *std::move(raw_server);

    absl::StatusOr<std::vector<std::unique_ptr<::grpc::Service>>> services =
        grpc::MakeGrpcServices(grpc_registry_);
    ASSERT_THAT(services, IsOk());
    grpc_services_ = *std::move(services);
    std::vector<::grpc::Service*> service_pointers;
    for (const auto& service : grpc_services_) {
      service_pointers.push_back(service.get());
    }
    grpc::GrpcServerOptions grpc_options;
    grpc_options.listen_address = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<grpc::GrpcServer>> grpc_server =
        grpc::GrpcServer::Start(grpc_options, service_pointers);
    ASSERT_THAT(grpc_server, IsOk());
    grpc_server_ = *std::move(grpc_server);

    grpc_target_ = "grpc://" + grpc_server_->address();
    raw_target_ = "raw://" + raw_server_->address();
    targets_ = {grpc_target_, raw_target_};
  }

  // The servers wait for their calls: parked Holds must end first.
  void TearDown() override { inventory_.Shutdown(); }

  rpc::Metadata ReflectionMetadata() {
    absl::MutexLock lock(&mutex_);
    return reflection_metadata_;
  }

  // Declared in dependency order: servers destroyed before what they serve.
  rpc::InventoryService inventory_;
  rpc::ServiceRegistry grpc_registry_;
  rpc::ServiceRegistry raw_registry_;
  inspection::ReflectionService reflection_{&raw_registry_};
  absl::Mutex mutex_;
  rpc::Metadata reflection_metadata_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::unique_ptr<::grpc::Service>> grpc_services_;
  std::unique_ptr<grpc::GrpcServer> grpc_server_;
  std::unique_ptr<raw::RawServer> raw_server_;
  std::string grpc_target_;
  std::string raw_target_;
  std::vector<std::string> targets_;
};

constexpr char kGetSummary[] = "dualrpc.test.v1.Inventory/GetSummary";

// -H goes to the RPC and to reflection, -rpc-header to the RPC only,
// -reflect-header to reflection only; -v shows what the server sent back
// (Inventory echoes "echo-*"), -bin values in base64 both ways.
TEST_F(CliFlagsTest, HeadersArriveWhereTheirFlagSaysAndVShowsTheEcho) {
  for (const std::string& target : targets_) {
    CommandResult result =
        Cli({"call", target, kGetSummary, "-v", "-H", "Echo-All: 1",
             "--rpc-header=echo-rpc: 2", "-reflect-header", "echo-reflect: 3",
             "-H", "echo-trace-bin: AP8="});
    ASSERT_EQ(result.exit_code, 0) << target << ": " << result.stderr_text;
    EXPECT_THAT(
        result.stdout_text,
        AllOf(StartsWith("\nResolved method descriptor:\nrpc GetSummary("),
              HasSubstr("\nResponse headers received:\n"),
              HasSubstr("\nResponse contents:\n{}\n"),
              HasSubstr("\nResponse trailers received:\n"),
              HasSubstr("\necho-all: 1\n"), HasSubstr("\necho-rpc: 2\n"),
              HasSubstr("\necho-trace-bin: AP8=\n"),
              Not(HasSubstr("echo-reflect")),
              EndsWith("Sent 1 request and received 1 response\n")))
        << target;
  }
  // grpc++'s reflection on the gRPC side records nothing; the raw side's
  // does.
  rpc::Metadata reflection = ReflectionMetadata();
  EXPECT_THAT(reflection, Contains(Pair("echo-all", "1")));
  EXPECT_THAT(reflection, Contains(Pair("echo-reflect", "3")));
  EXPECT_THAT(reflection, Not(Contains(Pair("echo-rpc", "2"))));
  EXPECT_THAT(reflection,
              Contains(Pair("echo-trace-bin", std::string("\x00\xff", 2))));
}

TEST_F(CliFlagsTest, WithoutVOnlyTheResponseIsPrinted) {
  for (const std::string& target : targets_) {
    CommandResult result =
        Cli({"call", target, kGetSummary, "-H", "echo-a: 1"});
    ASSERT_EQ(result.exit_code, 0) << target << ": " << result.stderr_text;
    EXPECT_EQ(result.stdout_text, "{}\n") << target;
  }
}

// grpcurl's exit status: 64 + code for the RPC's failure, 1 for local
// errors, 2 for usage errors.
TEST_F(CliFlagsTest, ExitStatusIsGrpcurls) {
  for (const std::string& target : targets_) {
    CommandResult result =
        Cli({"call", target, "dualrpc.test.v1.Inventory/RemoveItem", "-d",
             R"({"sku": "a"})"});
    EXPECT_EQ(result.exit_code, 64 + 12)
        << target << ": " << result.stderr_text;
    EXPECT_THAT(result.stderr_text, StartsWith("UNIMPLEMENTED: "));

    result = Cli({"call", target, "dualrpc.test.v1.Inventory/GetItem", "-d",
                  R"({"sku": "nope"})"});
    EXPECT_EQ(result.exit_code, 64 + 5) << target << ": " << result.stderr_text;
    EXPECT_EQ(result.stderr_text, "NOT_FOUND: no item nope\n");

    result = Cli({"call", target, "dualrpc.test.v1.Inventory/GetItem", "-d",
                  R"({"sku": )"});
    EXPECT_EQ(result.exit_code, 1) << target << ": " << result.stderr_text;
    EXPECT_THAT(result.stderr_text, StartsWith("INVALID_ARGUMENT: request is"));

    result = Cli({"call", target, "dualrpc.test.v1.Inventory/Nope"});
    EXPECT_EQ(result.exit_code, 1) << target << ": " << result.stderr_text;

    for (std::vector<std::string> usage : std::vector<std::vector<std::string>>{
             {"call", target, kGetSummary, "-format", "yaml"},
             {"call", target, kGetSummary, "-nope"},
             {"call", target, kGetSummary, "-H", "Bad Key: v"},
             {"call", target, kGetSummary, "-H", "k-bin: not base64!"},
             {"call", target, kGetSummary, "-max-time", "-1"},
             {"call", target, kGetSummary, "-connect-timeout", "x"},
             {"call", target},
             {"list", target, "a", "b"}}) {
      result = Cli(usage);
      EXPECT_EQ(result.exit_code, 2)
          << usage.back() << ": " << result.stderr_text;
      EXPECT_THAT(result.stderr_text, StartsWith("dualrpc: "));
    }
  }
}

// -max-time bounds the whole command; --timeout each call, as before.
TEST_F(CliFlagsTest, MaxTimeAndTimeoutEndAParkedCall) {
  for (const std::string& target : targets_) {
    const absl::Time start = absl::Now();
    CommandResult result =
        Cli({"call", target, "dualrpc.test.v1.Inventory/Hold", "-max-time",
             "0.5", "--timeout=30s"});
    EXPECT_EQ(result.exit_code, 64 + 4) << target << ": " << result.stderr_text;
    EXPECT_THAT(result.stderr_text, StartsWith("DEADLINE_EXCEEDED"));
    EXPECT_LT(absl::Now() - start, absl::Seconds(20)) << target;

    result = Cli(
        {"call", target, "dualrpc.test.v1.Inventory/Hold", "--timeout=300ms"});
    EXPECT_EQ(result.exit_code, 64 + 4) << target << ": " << result.stderr_text;

    // Gone before reflection could even start: a local error.
    result = Cli({"call", target, kGetSummary, "-max-time", "0.000001"});
    EXPECT_EQ(result.exit_code, 1) << target << ": " << result.stderr_text;
    EXPECT_THAT(result.stderr_text, StartsWith("DEADLINE_EXCEEDED"));
  }
}

TEST_F(CliFlagsTest, FormatsJsonByTwoSpacesTextAndDefaults) {
  for (const std::string& target : targets_) {
    CommandResult added =
        Cli({"call", target, "dualrpc.test.v1.Inventory/AddItems", "-d",
             R"({"lines": [{"key": {"sku": "a"}, "quantity": 3}]})"});
    ASSERT_EQ(added.exit_code, 0) << target << ": " << added.stderr_text;

    CommandResult result =
        Cli({"call", target, "dualrpc.test.v1.Inventory/GetItem", "-d",
             R"({"sku": "a"})"});
    ASSERT_EQ(result.exit_code, 0) << target << ": " << result.stderr_text;
    EXPECT_THAT(result.stdout_text,
                AllOf(StartsWith("{\n  \"key\": {\n    \"sku\": \"a\"\n  },\n"
                                 "  \"quantity\": \""),
                      EndsWith("\"\n}\n")));

    result = Cli({"call", target, "dualrpc.test.v1.Inventory/GetItem", "-d",
                  R"({"sku": "a"})", "-format", "text"});
    ASSERT_EQ(result.exit_code, 0) << target << ": " << result.stderr_text;
    EXPECT_THAT(result.stdout_text,
                AllOf(StartsWith("key {\n  sku: \"a\"\n}\nquantity: "),
                      Not(HasSubstr("{\n  \""))));
  }
}

TEST_F(CliFlagsTest, EmitDefaultsPrintsZeroFields) {
  for (const std::string& target : targets_) {
    CommandResult plain = Cli({"call", target, kGetSummary});
    ASSERT_EQ(plain.exit_code, 0) << target << ": " << plain.stderr_text;
    EXPECT_EQ(plain.stdout_text, "{}\n");
    CommandResult defaults =
        Cli({"call", target, kGetSummary, "-emit-defaults"});
    ASSERT_EQ(defaults.exit_code, 0) << target << ": " << defaults.stderr_text;
    EXPECT_EQ(defaults.stdout_text,
              "{\n  \"itemCount\": \"0\",\n  \"totalQuantity\": \"0\"\n}\n");
  }
}

TEST_F(CliFlagsTest, ListWithServicePrintsItsMethods) {
  for (const std::string& target : targets_) {
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{
             {"list", target, "dualrpc.test.v1.Inventory"},
             {"--target=" + target, "list", "dualrpc.test.v1.Inventory"}}) {
      CommandResult result = Cli(args);
      ASSERT_EQ(result.exit_code, 0) << target << ": " << result.stderr_text;
      EXPECT_EQ(result.stdout_text,
                "dualrpc.test.v1.Inventory.AddItems\n"
                "dualrpc.test.v1.Inventory.GetItem\n"
                "dualrpc.test.v1.Inventory.GetSummary\n"
                "dualrpc.test.v1.Inventory.Hold\n"
                "dualrpc.test.v1.Inventory.RemoveItem\n"
                "dualrpc.test.v1.Inventory.WatchItems\n"
                "dualrpc.test.v1.Inventory.RestockItems\n"
                "dualrpc.test.v1.Inventory.LookupItems\n")
          << target;
    }
    CommandResult result =
        Cli({"list", target, "dualrpc.test.v1.AddItemsRequest"});
    EXPECT_EQ(result.exit_code, 1) << target;
    EXPECT_THAT(result.stderr_text, StartsWith("NOT_FOUND: "));
  }
}

TEST_F(CliFlagsTest, DescribeMsgTemplate) {
  for (const std::string& target : targets_) {
    CommandResult result =
        Cli({"describe", target, "dualrpc.test.v1.AddItemsRequest",
             "-msg-template"});
    ASSERT_EQ(result.exit_code, 0) << target << ": " << result.stderr_text;
    EXPECT_THAT(result.stdout_text,
                AllOf(StartsWith("dualrpc.test.v1.AddItemsRequest is a "
                                 "message:\n"),
                      EndsWith("}\n\nMessage template:\n"
                               "{\n"
                               "  \"lines\": [\n"
                               "    {\n"
                               "      \"key\": {\n"
                               "        \"sku\": \"\"\n"
                               "      },\n"
                               "      \"quantity\": \"0\"\n"
                               "    }\n"
                               "  ]\n"
                               "}\n")))
        << target;
  }
}

// -connect-timeout on grpc:// is grpcurl's blocking dial: with no server
// listening the command fails before any call (exit 1, a local failure),
// where without it the call itself fails UNAVAILABLE (exit 64 + 14).
TEST_F(CliFlagsTest, ConnectTimeoutDialsFirstOnGrpc) {
  const std::string nobody = "grpc://127.0.0.1:1";
  CommandResult result = Cli({"call", nobody, "grpc.health.v1.Health/Check",
                              "-connect-timeout", "0.3"});
  EXPECT_EQ(result.exit_code, 1) << result.stderr_text;
  EXPECT_THAT(result.stderr_text, HasSubstr("UNAVAILABLE: no connection to"));
  result = Cli({"ls", "--target", nobody, "--timeout", "2s"});
  EXPECT_EQ(result.exit_code, 64 + 14) << result.stderr_text;
}

// -keepalive-time and -connect-timeout are taken on both (keepalive acts on
// gRPC only; on grpc:// connect-timeout dials first); -authority on gRPC
// only.
TEST_F(CliFlagsTest, ChannelFlags) {
  for (const std::string& target : targets_) {
    CommandResult result = Cli({"call", target, kGetSummary, "-keepalive-time",
                                "0.5", "-connect-timeout", "2.5"});
    EXPECT_EQ(result.exit_code, 0) << target << ": " << result.stderr_text;
  }
  CommandResult result =
      Cli({"call", grpc_target_, kGetSummary, "-authority", "inventory.test"});
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
  result = Cli({"call", raw_target_, kGetSummary, "-authority", "x"});
  EXPECT_EQ(result.exit_code, 2) << result.stderr_text;
  EXPECT_THAT(result.stderr_text, HasSubstr("raw:// has no authority"));
}

// What only dualrpc-server serves: PERMISSION_DENIED, and ls and echo (with
// the new flags) on both transports.
class CliFlagsOnDualrpcServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.WriteFile("hello.txt", "hello\n");
    absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
        dualrpc_testing::StartServer(root_.path());
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    targets_ = {"grpc://" + server_->Address("grpc").value_or(""),
                "raw://" + server_->Address("raw").value_or("")};
  }

  dualrpc_testing::TempDir root_;
  std::unique_ptr<dualrpc_testing::ServerProcess> server_;
  std::vector<std::string> targets_;
};

TEST_F(CliFlagsOnDualrpcServerTest, LsAndEchoKeepWorkingWithTheNewFlags) {
  for (const std::string& target : targets_) {
    const std::string target_flag = "--target=" + target;
    CommandResult result =
        Cli({target_flag, "-H", "x-a: 1", "-max-time", "10", "ls"});
    EXPECT_EQ(result.exit_code, 0) << target << ": " << result.stderr_text;
    EXPECT_EQ(result.stdout_text, "hello.txt\n");

    result = Cli({target_flag, "echo", "hi", "-format", "json"});
    EXPECT_EQ(result.exit_code, 0) << target << ": " << result.stderr_text;
    EXPECT_EQ(result.stdout_text, "{\"payload\":\"aGk=\"}\n");

    result = Cli({target_flag, "ls", "../.."});
    EXPECT_EQ(result.exit_code, 64 + 7) << target << ": " << result.stderr_text;
    EXPECT_THAT(result.stderr_text, StartsWith("PERMISSION_DENIED: "));

    result = Cli({target_flag, "ls", "missing"});
    EXPECT_EQ(result.exit_code, 64 + 5) << target << ": " << result.stderr_text;
  }
}

}  // namespace
}  // namespace dualrpc::cli
