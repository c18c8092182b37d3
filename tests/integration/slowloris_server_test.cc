// The slowloris (issue 12, finding 3) against a real dualrpc-server
// process: 200 connections trickling a preface and then a frame header at
// 1 byte per second, with --raw_max_connections 200 and every time bound at
// its default. A fresh client must be served within 1 s throughout (before:
// refused with GOAWAY RESOURCE_EXHAUSTED for as long as they trickled).
// Then the --raw_* time flags, small, reach the raw server, and bad values
// stop it (exit 2) naming the flag.

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "raw/slowloris_attack.h"
#include "raw/test_client.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace dualrpc::raw {
namespace {

using ::dualrpc_testing::BinaryPath;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::ServerProcess;
using ::dualrpc_testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Lt;

constexpr char kEcho[] = "/dualrpc.v1.FileService/Echo";

// Waits until `when` (the attack's clock, not a synchronisation).
void PauseUntil(absl::Time when) {
  absl::Notification never;
  never.WaitForNotificationWithTimeout(when - absl::Now());
}

class SlowlorisServerTest : public ::testing::Test {
 protected:
  std::unique_ptr<ServerProcess> Start(std::vector<std::string> flags) {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        dualrpc_testing::StartServer(root_.path(), flags);
    EXPECT_THAT(server, IsOk());
    if (!server.ok()) return nullptr;
    absl::StatusOr<std::string> raw = (*server)->Address("raw");
    EXPECT_THAT(raw, IsOk());
    raw_ = raw.ok() ? *raw : "";
    return *std::move(server);
  }

  TempDir root_;
  std::string raw_;
};

// ~10 s: the prefaces take 8 s at this pace; the last probe is inside the
// headers, once all 200 are admitted and the server is at its limit.
TEST_F(SlowlorisServerTest, DefaultsServeAFreshClientWithinOneSecond) {
  std::unique_ptr<ServerProcess> server =
      Start({"--raw_max_connections=200"});
  ASSERT_NE(server, nullptr);
  SlowlorisAttack attack(raw_, 200, absl::Seconds(1), kEcho);
  for (absl::Duration at : {absl::Milliseconds(1500), absl::Milliseconds(4500),
                            absl::Milliseconds(9500)}) {
    PauseUntil(attack.start() + at);
    absl::StatusOr<absl::Duration> took = TimeFreshEcho(raw_, kEcho);
    ASSERT_THAT(took, IsOk()) << "at " << at;
    std::fprintf(stderr, "fresh Echo %s into the attack: %s\n",
                 absl::FormatDuration(at).c_str(),
                 absl::FormatDuration(*took).c_str());
    RecordProperty("fresh_echo_us_at_" +
                       std::to_string(absl::ToInt64Milliseconds(at)) + "ms",
                   static_cast<int>(absl::ToInt64Microseconds(*took)));
    EXPECT_THAT(*took, Lt(absl::Seconds(1))) << "at " << at;
  }
  attack.Stop();
  // The probe inside the headers took the place of an attacker stalled
  // there.
  EXPECT_GE(attack.CountGoaways(absl::StatusCode::kResourceExhausted), 1);
}

// The flags reach the server: with --raw_handshake_timeout 500ms the
// prefaces trickled at 1 byte/s are closed without a word; with
// --raw_frame_timeout 300ms, prefaces sent at 20 bytes/s complete in time
// and the headers that follow at that pace get GOAWAY RESOURCE_EXHAUSTED.
TEST_F(SlowlorisServerTest, TimeFlagsBoundTheSlowPeers) {
  std::unique_ptr<ServerProcess> server =
      Start({"--raw_max_connections=200", "--raw_handshake_timeout=500ms",
             "--raw_frame_timeout=300ms"});
  ASSERT_NE(server, nullptr);
  {
    SlowlorisAttack prefaces(raw_, 50, absl::Seconds(1), kEcho);
    PauseUntil(prefaces.start() + absl::Milliseconds(1200));
    prefaces.Stop();
    // Closed, and nothing was written to any of them (not even a preface).
    EXPECT_EQ(prefaces.CountClosedSilently(absl::Milliseconds(100)), 50);
  }
  SlowlorisAttack headers(raw_, 50, absl::Milliseconds(50), kEcho);
  // Preface done at 350 ms, header bytes from 400 ms to 950 ms: the frame
  // deadline (300 ms after its first byte) passes at about 700 ms.
  PauseUntil(headers.start() + absl::Milliseconds(1500));
  headers.Stop();
  EXPECT_EQ(headers.CountGoaways(absl::StatusCode::kResourceExhausted,
                                 absl::Milliseconds(100)),
            50);
  absl::StatusOr<absl::Duration> took = TimeFreshEcho(raw_, kEcho);
  EXPECT_THAT(took, IsOk());
}

TEST_F(SlowlorisServerTest, BadTimeFlagsExitTwoNamingTheFlag) {
  const std::vector<std::string> cases[] = {
      {"--raw_handshake_timeout=0s", "--raw_handshake_timeout"},
      {"--raw_frame_timeout=-1s", "--raw_frame_timeout"},
      {"--raw_min_frame_rate=0", "--raw_min_frame_rate"},
      {"--raw_max_pending_connections=0", "--raw_max_pending_connections"},
  };
  for (const std::vector<std::string>& flag_and_name : cases) {
    dualrpc_testing::CommandResult result = dualrpc_testing::RunCommand(
        {BinaryPath("dualrpc-server"), "--root=" + root_.path(),
         "--grpc_listen=127.0.0.1:0", "--raw_listen=127.0.0.1:0",
         flag_and_name[0]},
        "", absl::Seconds(30));
    EXPECT_EQ(result.exit_code, 2) << flag_and_name[0];
    EXPECT_THAT(result.stderr_text, HasSubstr(flag_and_name[1]));
    EXPECT_THAT(result.stderr_text, ::testing::Not(HasSubstr("listening")));
  }
}

}  // namespace
}  // namespace dualrpc::raw
