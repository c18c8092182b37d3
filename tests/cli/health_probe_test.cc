// `dualrpc health` as a probe of the real dualrpc-server, on both
// transports: SERVING exits 0, an unknown service and a draining server
// exit non-zero with the words; `call` of Health/Check agrees. A draining
// server has closed its ports (the probe cannot connect); during
// --shutdown_delay it still answers, NOT_SERVING, and the probe exits 4.

#include <signal.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/rpc/blocking_stream.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace dualrpc::cli {
namespace {

using ::dualrpc_testing::CommandResult;
using ::dualrpc_testing::IsOk;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::AnyOf;
using ::testing::HasSubstr;

// The transport under test: "grpc" or "raw", the ready file's key and the
// target's scheme.
class HealthProbeTest : public ::testing::TestWithParam<std::string> {
 protected:
  void Start(const std::vector<std::string>& flags = {}) {
    absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
        dualrpc_testing::StartServer(root_.path(), flags);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    absl::StatusOr<std::string> address = server_->Address(GetParam());
    ASSERT_THAT(address, IsOk());
    target_ = absl::StrCat(GetParam(), "://", *address);
  }

  // `dualrpc ARGS...`, bounded.
  static CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), dualrpc_testing::BinaryPath("dualrpc"));
    return dualrpc_testing::RunCommand(args, "", absl::Seconds(30));
  }

  dualrpc_testing::TempDir root_;
  std::unique_ptr<dualrpc_testing::ServerProcess> server_;
  std::string target_;
};

TEST_P(HealthProbeTest, ServingExitsZero) {
  Start();
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"health", target_},
           {"health", target_, "dualrpc.v1.FileService"},
           {"--target=" + target_, "health", "--timeout=5s"}}) {
    const CommandResult result = Cli(args);
    EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
    EXPECT_EQ(result.stdout_text, "SERVING\n");
  }
  const CommandResult call =
      Cli({"call", target_, "grpc.health.v1.Health/Check"});
  EXPECT_EQ(call.exit_code, 0) << call.stderr_text;
  EXPECT_THAT(call.stdout_text, HasSubstr("\"status\": \"SERVING\""));
}

TEST_P(HealthProbeTest, UnknownServiceExitsNotFound) {
  Start();
  const CommandResult result = Cli({"health", target_, "no.such.Service"});
  EXPECT_EQ(result.exit_code, 64 + 5) << result.stderr_text;  // NOT_FOUND
  EXPECT_THAT(result.stderr_text, HasSubstr("NOT_FOUND: service name unknown"));
  EXPECT_EQ(result.stdout_text, "");
  const CommandResult call = Cli({"call", target_, "grpc.health.v1.Health/Check",
                                  "-d", R"({"service":"no.such.Service"})"});
  EXPECT_EQ(call.exit_code, 64 + 5) << call.stderr_text;
}

// SIGTERM begins a drain that a held stream keeps going (--shutdown_grace
// is long): the probe must fail all the while, and the server still runs.
TEST_P(HealthProbeTest, DrainingServerFailsTheProbe) {
  Start({"--shutdown_grace=60s"});
  absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
      client::CreateChannel(target_);
  ASSERT_THAT(channel, IsOk());
  rpc::CallOptions options;
  options.timeout = absl::Seconds(50);
  HealthCheckRequest request;
  rpc::ClientReader<HealthCheckResponse> watch(
      **channel, "/grpc.health.v1.Health/Watch", request, options);
  HealthCheckResponse response;
  ASSERT_TRUE(watch.Read(&response));
  ASSERT_EQ(response.status(), HealthCheckResponse::SERVING);

  ASSERT_THAT(server_->Signal(SIGTERM), IsOk());
  // The drain has begun: the watcher hears NOT_SERVING.
  ASSERT_TRUE(watch.Read(&response));
  ASSERT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);

  const CommandResult result = Cli({"health", target_, "--timeout=5s"});
  // Either the server answered NOT_SERVING (4) or, its ports being closed,
  // could not be reached (UNAVAILABLE, 78); never 0.
  EXPECT_THAT(result.exit_code, AnyOf(4, 64 + 14)) << result.stderr_text;
  EXPECT_THAT(result.stderr_text,
              AnyOf(HasSubstr("UNAVAILABLE: health: the server is NOT_SERVING"),
                    HasSubstr("Connection refused")));
  const CommandResult call =
      Cli({"call", target_, "grpc.health.v1.Health/Check", "--timeout=5s"});
  EXPECT_NE(call.exit_code, 0) << call.stdout_text;
  // Still draining: the probe failed because of the drain, not an exit.
  EXPECT_TRUE(server_->Alive());

  watch.Cancel();
  EXPECT_THAT(server_->WaitForExit(dualrpc_testing::kWaitTimeout),
              dualrpc_testing::IsOkAndHolds(0));
}

// --shutdown_delay: after SIGTERM the server goes on serving while health
// says NOT_SERVING, so the probe reaches it and exits 4 with the words,
// while other calls still succeed.
TEST_P(HealthProbeTest, NotServingDuringShutdownDelayExitsFour) {
  Start({"--shutdown_delay=30s"});
  ASSERT_EQ(Cli({"health", target_}).exit_code, 0);
  ASSERT_THAT(server_->Signal(SIGTERM), IsOk());
  CommandResult result;
  // The flip follows the signal promptly, not at once.
  ASSERT_TRUE(dualrpc_testing::Eventually([&] {
    result = Cli({"health", target_, "--timeout=5s"});
    return result.exit_code != 0;
  }));
  EXPECT_EQ(result.exit_code, 4) << result.stderr_text;
  EXPECT_EQ(result.stdout_text, "NOT_SERVING\n");
  EXPECT_THAT(result.stderr_text,
              HasSubstr("UNAVAILABLE: health: the server is NOT_SERVING"));
  const CommandResult call =
      Cli({"call", target_, "grpc.health.v1.Health/Check", "-d",
           R"({"service":"dualrpc.v1.FileService"})"});
  EXPECT_EQ(call.exit_code, 4) << call.stderr_text;
  EXPECT_THAT(call.stdout_text, HasSubstr("\"status\": \"NOT_SERVING\""));
  EXPECT_THAT(call.stderr_text,
              HasSubstr("health: service \"dualrpc.v1.FileService\" is "
                        "NOT_SERVING"));
  // Still serving everything else until the delay ends.
  EXPECT_EQ(Cli({"echo", "--target=" + target_, "still here"}).stdout_text,
            "still here\n");
  // A second SIGTERM ends the delay: the drain runs and the server exits.
  ASSERT_THAT(server_->Signal(SIGTERM), IsOk());
  EXPECT_THAT(server_->WaitForExit(dualrpc_testing::kWaitTimeout),
              dualrpc_testing::IsOkAndHolds(0));
  EXPECT_THAT(server_->StderrText(), HasSubstr("received SIGTERM again"));
}

TEST(ShutdownDelayFlagTest, NegativeIsAUsageError) {
  dualrpc_testing::TempDir root;
  const CommandResult result = dualrpc_testing::RunCommand(
      {dualrpc_testing::BinaryPath("dualrpc-server"), "--root=" + root.path(),
       "--grpc_listen=127.0.0.1:0", "--raw_listen=127.0.0.1:0",
       "--shutdown_delay=-1s"},
      "", absl::Seconds(30));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text,
              HasSubstr("--shutdown_delay must be 0 or longer"));
}

INSTANTIATE_TEST_SUITE_P(BothTransports, HealthProbeTest,
                         ::testing::Values("grpc", "raw"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace dualrpc::cli
