#include "dualrpc/server/server_process.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace dualrpc::server {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// A stand-in server: /bin/sh running `script`, with the launcher's
// --ready_file=PATH flag as $1 ("$READY" in the script).
std::vector<std::string> Shell(const std::string& script) {
  return {"/bin/sh", "-c", "READY=\"${1#--ready_file=}\"; " + script,
          "fake-server"};
}

// Writes the ready file as the real servers do: whole, by rename.
constexpr char kAnnounce[] =
    "echo starting >&2; "
    "printf '{\"grpc\": \"127.0.0.1:1\", \"raw\": \"127.0.0.1:2\"}' > "
    "\"$READY.tmp\"; "
    "mv \"$READY.tmp\" \"$READY\"; ";

bool Exists(const std::string& path) {
  struct stat unused;
  return ::stat(path.c_str(), &unused) == 0;
}

TEST(ServerProcessTest, StartReturnsTheReadyFilesAddresses) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(Shell(std::string(kAnnounce) + "exec sleep 60"));
  ASSERT_THAT(server, IsOk());
  EXPECT_THAT((*server)->addresses(), ElementsAre(Pair("grpc", "127.0.0.1:1"),
                                                  Pair("raw", "127.0.0.1:2")));
  EXPECT_THAT((*server)->Address("raw"), IsOkAndHolds("127.0.0.1:2"));
  EXPECT_THAT((*server)->Address("capnp"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_TRUE((*server)->Alive());
  EXPECT_THAT((*server)->StderrText(), HasSubstr("starting"));
}

TEST(ServerProcessTest, AChildThatExitsBeforeItIsReadyIsUnavailableWithItsLog) {
  ServerProcessOptions options;
  options.ready_timeout = absl::Seconds(30);
  const absl::Time start = absl::Now();
  EXPECT_THAT(
      ServerProcess::Start(Shell("echo 'cannot bind' >&2; exit 3"), options),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot bind")));
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
}

TEST(ServerProcessTest, AChildThatNeverAnnouncesItselfTimesOut) {
  ServerProcessOptions options;
  options.ready_timeout = absl::Milliseconds(300);
  EXPECT_THAT(ServerProcess::Start(Shell("exec sleep 60"), options),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST(ServerProcessTest, AnUnparsableReadyFileIsInvalidArgument) {
  EXPECT_THAT(
      ServerProcess::Start(Shell("echo 'not json' > \"$READY.tmp\"; mv "
                                 "\"$READY.tmp\" \"$READY\"; exec sleep 60")),
      StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ServerProcessTest, SignalAndWaitForExitReportTheExitCode) {
  // Exits 7 on SIGTERM; `wait` lets the trap run while sleep blocks.
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(Shell(std::string("trap 'exit 7' TERM; ") +
                                 kAnnounce + "sleep 60 & wait"));
  ASSERT_THAT(server, IsOk());
  EXPECT_THAT((*server)->WaitForExit(absl::Milliseconds(50)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  ASSERT_THAT((*server)->Signal(SIGTERM), IsOk());
  EXPECT_THAT((*server)->WaitForExit(absl::Seconds(30)), IsOkAndHolds(7));
  EXPECT_FALSE((*server)->Alive());
  EXPECT_THAT((*server)->Signal(SIGTERM),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(ServerProcessTest, StopKillsAChildThatIgnoresSigtermAfterTheGrace) {
  ServerProcessOptions options;
  options.stop_grace = absl::Milliseconds(200);
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(Shell(std::string("trap '' TERM; ") + kAnnounce +
                                 "while :; do sleep 1; done"),
                           options);
  ASSERT_THAT(server, IsOk());
  const pid_t pid = (*server)->pid();
  const absl::Time start = absl::Now();
  (*server)->Stop();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  EXPECT_FALSE((*server)->Alive());
  // Reaped: the pid is gone, not a zombie.
  EXPECT_NE(::kill(pid, 0), 0);
  (*server)->Stop();  // idempotent
}

TEST(ServerProcessTest, AnOwnedWorkDirIsRemovedAndAGivenOneKept) {
  std::string owned_log;
  {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(Shell(std::string(kAnnounce) + "exec sleep 60"));
    ASSERT_THAT(server, IsOk());
    owned_log = (*server)->log_path();
    EXPECT_TRUE(Exists(owned_log));
  }
  EXPECT_FALSE(Exists(owned_log));

  dualrpc_testing::TempDir dir;
  ServerProcessOptions options;
  options.name = "contender";
  options.work_dir = dir.path();
  {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(Shell(std::string(kAnnounce) + "exec sleep 60"),
                             options);
    ASSERT_THAT(server, IsOk());
    EXPECT_EQ((*server)->log_path(), dir.HostPath("contender.log"));
  }
  EXPECT_TRUE(Exists(dir.HostPath("contender.log")));
  EXPECT_TRUE(Exists(dir.HostPath("contender.ready")));
}

}  // namespace
}  // namespace dualrpc::server
