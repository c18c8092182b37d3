// Fair sharing of blocking work under a flood (issue 12, finding 4), the
// real dualrpc-server on both transports with its defaults (4 blocking
// threads, --blocking_queue 1024, --blocking_queue_per_connection 64).
//
// The attack as measured: 10 connections send 1,000 ListDirectory each of a
// 10,000-entry directory, all at once. Before, they filled the one shared
// queue and a fresh client's ListDirectory waited 8.95 s (or was refused,
// the queue being full). Now each connection may queue 64 and the queue
// serves connections round-robin: the flood's excess is refused with
// RESOURCE_EXHAUSTED and the fresh client's call starts after at most one
// task of each flooding connection. Target 100 ms; asserted < 1 s (a
// loaded 2-core machine), the figure printed and recorded.
//
// The flood runs in a child process (this binary again, running the
// disabled FloodChild test), as an attacker would: in one process the
// fresh client's completions would queue behind the flood's on the client
// library's own threads (measured: a fresh gRPC Echo took 1.9 s in-process,
// half a second from another process on the same loaded machine), and the
// figure would be the test's, not the server's.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/v1/file_service.dualrpc.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace dualrpc {
namespace {

using ::dualrpc_testing::IsOk;

constexpr int kFloodConnections = 10;
constexpr int kCallsPerConnection = 1000;
constexpr int kFloodCalls = kFloodConnections * kCallsPerConnection;
constexpr int kEntries = 10000;
constexpr char kPerConnectionRefusal[] =
    "too many queued blocking calls on this connection";
// The flood child's target; set only in the child.
constexpr char kFloodTargetVariable[] = "DUALRPC_FLOOD_TARGET";
// Where the child reports (its stdout carries gtest's own output).
constexpr int kReportFd = 3;

// A channel to `target` over `connections` connections of its own. gRPC
// shares a connection between channels whose arguments are equal
// (GrpcChannel gives its connections ids 0..n-1), so `distinct` gives this
// one an argument no other channel here has.
std::shared_ptr<rpc::Channel> NewChannel(const std::string& target,
                                         int connections, bool distinct) {
  client::ChannelFactoryOptions options;
  options.connections = connections;
  options.max_response_bytes = 64 * 1024 * 1024;
  if (distinct) options.keepalive_time = absl::Hours(1);
  absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
      client::CreateChannel(target, options);
  EXPECT_THAT(channel, IsOk());
  return channel.ok() ? *channel : nullptr;
}

v1::ListDirectoryRequest ListBig() {
  v1::ListDirectoryRequest request;
  request.set_path("big");  // default page size: 1,000 entries
  return request;
}

int64_t NowNanos() { return absl::ToUnixNanos(absl::Now()); }

// What came back to the flood. Thread-safe (completions run on the
// channel's threads).
struct FloodOutcome {
  std::atomic<int> ok{0};
  std::atomic<int> refused_per_connection{0};
  // Refused because the whole queue was full (the old behaviour's only
  // refusal; with 64 per connection, 10 connections cannot fill 1,024).
  std::atomic<int> refused_queue_full{0};
  std::atomic<int> other{0};
  std::atomic<int> done{0};
  std::atomic<int64_t> last_done_nanos{0};
  // Any RESOURCE_EXHAUSTED: the server's queue is saturated.
  absl::Notification first_refusal;
  std::string first_other;  // written once, by the first "other"

  void Record(const absl::Status& status) {
    if (status.ok()) {
      ok.fetch_add(1);
    } else if (status.code() == absl::StatusCode::kResourceExhausted) {
      if (!first_refusal.HasBeenNotified()) first_refusal.Notify();
      (absl::StrContains(status.message(), kPerConnectionRefusal)
           ? refused_per_connection
           : refused_queue_full)
          .fetch_add(1);
    } else if (other.fetch_add(1) == 0) {
      first_other = status.ToString();
    }
    last_done_nanos.store(NowNanos());
    done.fetch_add(1);
  }
};

// The attacker, in the child process: kFloodCalls ListDirectory sent at
// once over kFloodConnections connections. Reports on kReportFd, one line
// each: "saturated" at the first refusal, then "done OK REFUSED_PER_CONNECTION
// REFUSED_QUEUE_FULL OTHER LAST_DONE_UNIX_NANOS" once every call is back.
TEST(FloodChild, DISABLED_Flood) {
  const char* target = std::getenv(kFloodTargetVariable);
  ASSERT_NE(target, nullptr) << "run by BlockingFairnessTest only";
  std::shared_ptr<rpc::Channel> channel =
      NewChannel(target, kFloodConnections, /*distinct=*/false);
  ASSERT_NE(channel, nullptr);
  v1::FileServiceClient flood(channel);
  rpc::CallOptions options;
  options.timeout = absl::Seconds(60);
  // Every connection open before the flood (round-robin: one Echo each).
  for (int i = 0; i < kFloodConnections; ++i) {
    ASSERT_THAT(flood.Echo(v1::EchoRequest(), options), IsOk());
  }
  FloodOutcome outcome;
  for (int i = 0; i < kFloodCalls; ++i) {
    flood.ListDirectoryAsync(
        ListBig(), options,
        [&outcome](absl::StatusOr<v1::ListDirectoryResponse> response) {
          outcome.Record(response.status());
        });
  }
  if (outcome.first_refusal.WaitForNotificationWithTimeout(
          dualrpc_testing::kWaitTimeout)) {
    ::dprintf(kReportFd, "saturated\n");
  }
  ASSERT_TRUE(dualrpc_testing::Eventually(
      [&] { return outcome.done.load() == kFloodCalls; }, absl::Seconds(60)));
  ::dprintf(kReportFd, "done %d %d %d %d %lld\n", outcome.ok.load(),
            outcome.refused_per_connection.load(),
            outcome.refused_queue_full.load(), outcome.other.load(),
            static_cast<long long>(outcome.last_done_nanos.load()));
  if (outcome.other.load() > 0) {
    std::fprintf(stderr, "flood: %s\n", outcome.first_other.c_str());
  }
}

// The flood child process, its reports read line by line with timeouts.
// Killed (SIGKILL) and reaped on destruction if still running.
class FloodProcess {
 public:
  static std::unique_ptr<FloodProcess> Start(const std::string& target) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2: " << errno;
      return nullptr;
    }
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, fds[1], kReportFd);
    const std::string variable =
        absl::StrCat(kFloodTargetVariable, "=", target);
    std::vector<std::string> environment = {variable};
    for (char** entry = environ; *entry != nullptr; ++entry) {
      environment.emplace_back(*entry);
    }
    std::vector<char*> envp;
    for (std::string& entry : environment) envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::string exe = "/proc/self/exe";
    std::string filter = "--gtest_filter=FloodChild.DISABLED_Flood";
    std::string disabled = "--gtest_also_run_disabled_tests";
    char* argv[] = {exe.data(), filter.data(), disabled.data(), nullptr};
    pid_t pid = -1;
    const int spawned = ::posix_spawn(&pid, exe.c_str(), &actions, nullptr,
                                      argv, envp.data());
    ::posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (spawned != 0) {
      ::close(fds[0]);
      ADD_FAILURE() << "posix_spawn: " << spawned;
      return nullptr;
    }
    return std::unique_ptr<FloodProcess>(new FloodProcess(pid, fds[0]));
  }

  ~FloodProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(report_fd_);
  }

  // The next line the child reported (without its newline), or nullopt if
  // none came within `timeout` (or the child closed its end).
  std::optional<std::string> ReadLine(absl::Duration timeout) {
    const absl::Time give_up = absl::Now() + timeout;
    while (true) {
      if (const std::size_t end = buffered_.find('\n');
          end != std::string::npos) {
        std::string line = buffered_.substr(0, end);
        buffered_.erase(0, end + 1);
        return line;
      }
      const absl::Duration left = give_up - absl::Now();
      if (left <= absl::ZeroDuration()) return std::nullopt;
      pollfd readable{report_fd_, POLLIN, 0};
      const int ready =
          ::poll(&readable, 1, static_cast<int>(absl::ToInt64Milliseconds(
                                   left + absl::Milliseconds(1))));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return std::nullopt;
      char chunk[4096];
      const ssize_t got = ::read(report_fd_, chunk, sizeof chunk);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return std::nullopt;
      buffered_.append(chunk, static_cast<std::size_t>(got));
    }
  }

  // The child's exit status (waits at most `timeout`; -1 if it did not
  // exit normally in time).
  int Wait(absl::Duration timeout) {
    const absl::Time give_up = absl::Now() + timeout;
    while (absl::Now() < give_up) {
      int status = 0;
      const pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
      if (reaped == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      // Polling a child's exit: there is no descriptor to wait on.
      absl::SleepFor(absl::Milliseconds(10));
    }
    return -1;
  }

 private:
  FloodProcess(pid_t pid, int report_fd) : pid_(pid), report_fd_(report_fd) {}

  pid_t pid_;
  const int report_fd_;
  std::string buffered_;
};

class BlockingFairnessTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    root_ = new dualrpc_testing::TempDir();
    root_->MakeDir("big");
    root_->MakeFiles("big", kEntries,
                     [](int i) { return absl::StrCat("entry-", i); });
    absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
        // The raw port's output reservations (--raw_max_output_bytes: each
        // blocking call in flight reserves --max_message_bytes) would hold
        // the flood back to 2-3 calls per connection before the executor
        // sees it; raised here so that what is tested is the executor's
        // per-connection share and its round-robin, as on the gRPC port.
        dualrpc_testing::StartServer(
            root_->path(), {"--raw_max_output_bytes=1073741824"});
    ASSERT_THAT(server, IsOk());
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete root_;
    root_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    absl::StatusOr<std::string> address = server_->Address(GetParam());
    ASSERT_THAT(address, IsOk());
    target_ = absl::StrCat(GetParam(), "://", *address);
  }

  static dualrpc_testing::TempDir* root_;
  static dualrpc_testing::ServerProcess* server_;
  std::string target_;
};

dualrpc_testing::TempDir* BlockingFairnessTest::root_ = nullptr;
dualrpc_testing::ServerProcess* BlockingFairnessTest::server_ = nullptr;

TEST_P(BlockingFairnessTest, AFreshClientsListingStartsWhileTenConnectionsFlood) {
  std::shared_ptr<rpc::Channel> channel =
      NewChannel(target_, /*connections=*/1, /*distinct=*/true);
  ASSERT_NE(channel, nullptr);
  v1::FileServiceClient fresh(channel);
  rpc::CallOptions options;
  options.timeout = absl::Seconds(60);
  // Connected, and the directory's names cached, before the measurement:
  // what is measured is the wait for the executor.
  ASSERT_THAT(fresh.ListDirectory(ListBig(), options), IsOk());

  std::unique_ptr<FloodProcess> flood = FloodProcess::Start(target_);
  ASSERT_NE(flood, nullptr);
  // The server's queue is saturated once the flood's first refusal is back.
  ASSERT_EQ(flood->ReadLine(absl::Seconds(60)), "saturated");

  const absl::Time started = absl::Now();
  absl::StatusOr<v1::ListDirectoryResponse> listed =
      fresh.ListDirectory(ListBig(), options);
  const absl::Time finished = absl::Now();
  const absl::Duration latency = finished - started;

  const std::optional<std::string> done = flood->ReadLine(absl::Seconds(90));
  ASSERT_TRUE(done.has_value()) << "the flood did not finish";
  const std::vector<std::string> fields = absl::StrSplit(*done, ' ');
  ASSERT_EQ(fields.size(), 6u) << *done;
  ASSERT_EQ(fields[0], "done") << *done;
  int ok = 0, refused = 0, queue_full = 0, other = 0;
  int64_t last_done_nanos = 0;
  ASSERT_TRUE(absl::SimpleAtoi(fields[1], &ok) &&
              absl::SimpleAtoi(fields[2], &refused) &&
              absl::SimpleAtoi(fields[3], &queue_full) &&
              absl::SimpleAtoi(fields[4], &other) &&
              absl::SimpleAtoi(fields[5], &last_done_nanos))
      << *done;
  EXPECT_EQ(flood->Wait(absl::Seconds(30)), 0);

  const absl::Duration flood_after =
      absl::FromUnixNanos(last_done_nanos) - finished;
  std::fprintf(stderr,
               "%s: fresh ListDirectory took %.1f ms during the flood (the "
               "flood's last call ended %.1f ms later); flood: ok %d, "
               "refused per connection %d, refused queue full %d, other %d\n",
               GetParam().c_str(), absl::ToDoubleMilliseconds(latency),
               absl::ToDoubleMilliseconds(flood_after), ok, refused,
               queue_full, other);
  RecordProperty("fresh_list_latency_ms",
                 std::to_string(absl::ToInt64Milliseconds(latency)));
  RecordProperty("flood_ok", std::to_string(ok));
  RecordProperty("flood_refused_per_connection", std::to_string(refused));

  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->entries_size(), 1000);
  EXPECT_LT(latency, absl::Seconds(1));
  // Measured under the attack, not after it.
  EXPECT_GT(flood_after, absl::ZeroDuration());
  EXPECT_EQ(ok + refused + queue_full + other, kFloodCalls);
  EXPECT_EQ(queue_full, 0);
  EXPECT_EQ(other, 0);
  EXPECT_GT(ok, 0);
  // Each connection keeps at most 64 queued (4 run at a time): most of the
  // 1,000 it sends at once are its excess.
  EXPECT_GT(refused, kFloodCalls / 2);
}

INSTANTIATE_TEST_SUITE_P(Transports, BlockingFairnessTest,
                         ::testing::Values("raw", "grpc"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace dualrpc
