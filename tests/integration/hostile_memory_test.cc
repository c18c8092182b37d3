// Issue 12's memory targets against the real dualrpc-server with its
// defaults (--raw_max_output_bytes 8 MiB, --raw_max_buffered_bytes
// 128 MiB): the two attacks of findings 1 and 2 each leave the server's RSS
// under 256 MiB at its peak (VmHWM, and VmRSS sampled throughout) and under
// 64 MiB 2 s after the attackers leave, while a well-behaved client keeps
// getting answers (asserted under 1 s each; the goal is 50 ms, and the
// slowest is printed). Before the fix the first took +3.9 GiB and the
// second 1.75-2.67 GiB, and both kept more than 1.5 GiB afterwards.

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/v1/file_service.dualrpc.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "raw/test_client.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace dualrpc {
namespace {

using ::dualrpc_testing::IsOk;

constexpr std::int64_t kMiB = 1024 * 1024;
constexpr std::int64_t kPeakTarget = 256 * kMiB;
constexpr std::int64_t kAfterTarget = 64 * kMiB;
constexpr char kListMethod[] = "/dualrpc.v1.FileService/ListDirectory";
constexpr char kEchoMethod[] = "/dualrpc.v1.FileService/Echo";

// A field of /proc/PID/status ("VmRSS", "VmHWM") in bytes; -1 if absent.
std::int64_t ProcStatusBytes(pid_t pid, absl::string_view field) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  const std::string prefix = absl::StrCat(field, ":");
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, prefix)) continue;
    rest = absl::StripAsciiWhitespace(rest);
    absl::ConsumeSuffix(&rest, "kB");
    std::int64_t kib = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &kib)) {
      return kib * 1024;
    }
  }
  return -1;
}

absl::Duration AttackTime() {
  const char* long_tests = std::getenv("DUALRPC_LONG_TESTS");
  return long_tests != nullptr && std::string(long_tests) == "1"
             ? absl::Seconds(20)
             : absl::Seconds(3);
}

// Closes with a reset (SO_LINGER 0), as the attacker did.
void Reset(raw::TestClient& attacker) {
  linger abort_close{1, 0};
  ::setsockopt(attacker.fd(), SOL_SOCKET, SO_LINGER, &abort_close,
               sizeof abort_close);
  ::shutdown(attacker.fd(), SHUT_RDWR);
}

// While an attack runs: samples the server's VmRSS every 20 ms and has a
// well-behaved client call Echo and ListDirectory (a small directory) in a
// loop, each timed.
class Watch {
 public:
  Watch(pid_t pid, const std::string& target) : pid_(pid) {
    absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
        client::CreateChannel(target);
    EXPECT_THAT(channel, IsOk());
    if (!channel.ok()) return;
    sampler_ = std::thread([this] {
      while (!stop_.load()) {
        peak_rss_ = std::max(peak_rss_.load(), ProcStatusBytes(pid_, "VmRSS"));
        absl::SleepFor(absl::Milliseconds(20));
      }
    });
    prober_ = std::thread([this, channel = *channel] {
      v1::FileServiceClient client(channel);
      rpc::CallOptions options;
      options.timeout = absl::Seconds(5);
      while (!stop_.load()) {
        v1::EchoRequest echo;
        echo.set_payload("well-behaved");
        absl::Time start = absl::Now();
        absl::Status echoed = client.Echo(echo, options).status();
        Count(echoed, absl::Now() - start);
        v1::ListDirectoryRequest list;
        list.set_path("small");
        start = absl::Now();
        absl::Status listed = client.ListDirectory(list, options).status();
        Count(listed, absl::Now() - start);
        absl::SleepFor(absl::Milliseconds(10));
      }
    });
  }

  // Stops both threads; then the figures are final.
  void Stop() {
    stop_.store(true);
    if (sampler_.joinable()) sampler_.join();
    if (prober_.joinable()) prober_.join();
  }
  ~Watch() { Stop(); }

  std::int64_t peak_rss() const { return peak_rss_.load(); }
  // After Stop only.
  int calls() const { return calls_; }
  int failures() const { return failures_; }
  absl::Duration slowest() const { return slowest_; }

 private:
  void Count(const absl::Status& status, absl::Duration taken) {
    ++calls_;
    if (!status.ok()) ++failures_;
    slowest_ = std::max(slowest_, taken);
  }

  const pid_t pid_;
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> peak_rss_{0};
  std::thread sampler_;
  std::thread prober_;
  // The prober thread's until Stop.
  int calls_ = 0;
  int failures_ = 0;
  absl::Duration slowest_;
};

class HostileMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.MakeDir("big");
    // 10,000 entries with 200-byte names: ~2.2 MB per 10,000-entry page,
    // so that 1,024 of them would be gigabytes.
    dir_.MakeFiles("big", 10000, [](int i) {
      return absl::StrFormat("%s-%07d", std::string(192, 'n'), i);
    });
    ASSERT_FALSE(HasFatalFailure());
    dir_.MakeDir("small");
    dir_.WriteFile("small/a.txt", "a");
    absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
        dualrpc_testing::StartServer(dir_.path());
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    absl::StatusOr<std::string> raw = server_->Address("raw");
    ASSERT_THAT(raw, IsOk());
    raw_address_ = *raw;
    // Warm: the first calls' one-off allocations are not the attack's.
    absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
        client::CreateChannel("raw://" + raw_address_);
    ASSERT_THAT(channel, IsOk());
    v1::FileServiceClient client(*channel);
    ASSERT_THAT(client.Echo(v1::EchoRequest()), IsOk());
    idle_rss_ = ProcStatusBytes(server_->pid(), "VmRSS");
    ASSERT_GT(idle_rss_, 0);
  }

  std::unique_ptr<raw::TestClient> Connect() {
    auto attacker = std::make_unique<raw::TestClient>(raw_address_);
    attacker->Send(raw::PrefaceBytes());
    EXPECT_THAT(attacker->ReadPreface(), IsOk());
    return attacker;
  }

  // The figures after the attackers left: RSS 2 s later, and the peak.
  void CheckAfterwards(const std::string& attack, Watch& watch) {
    // The claim is about what is held 2 s after the attackers left.
    absl::SleepFor(absl::Seconds(2));
    watch.Stop();
    const std::int64_t after = ProcStatusBytes(server_->pid(), "VmRSS");
    const std::int64_t hwm = ProcStatusBytes(server_->pid(), "VmHWM");
    const std::int64_t peak = std::max(watch.peak_rss(), hwm);
    std::fprintf(stderr,
                 "%s: server RSS idle %.1f MiB, peak %.1f MiB (VmHWM %.1f), "
                 "2 s after %.1f MiB; well-behaved client: %d calls, %d "
                 "failed, slowest %s\n",
                 attack.c_str(), idle_rss_ / double(kMiB),
                 watch.peak_rss() / double(kMiB), hwm / double(kMiB),
                 after / double(kMiB), watch.calls(), watch.failures(),
                 absl::FormatDuration(watch.slowest()).c_str());
    RecordProperty("peak_rss_bytes", std::to_string(peak));
    RecordProperty("rss_after_bytes", std::to_string(after));
    RecordProperty("slowest_call_us",
                   std::to_string(absl::ToInt64Microseconds(watch.slowest())));
    EXPECT_LT(peak, kPeakTarget);
    EXPECT_LT(after, kAfterTarget);
    EXPECT_GT(watch.calls(), 10);
    EXPECT_EQ(watch.failures(), 0);
    EXPECT_LT(watch.slowest(), absl::Seconds(1));
  }

  dualrpc_testing::TempDir dir_;
  std::unique_ptr<dualrpc_testing::ServerProcess> server_;
  std::string raw_address_;
  std::int64_t idle_rss_ = 0;
};

// Finding 1: one connection sends 1,024 ListDirectory requests for the
// 10,000-entry directory (page_size 10,000) and never reads.
TEST_F(HostileMemoryTest, ResponseAmplificationFromOneConnection) {
  Watch watch(server_->pid(), "raw://" + raw_address_);
  std::unique_ptr<raw::TestClient> attacker = Connect();
  v1::ListDirectoryRequest request;
  request.set_path("big");
  request.set_page_size(10000);
  std::string burst;
  for (std::uint32_t id = 1; id <= 1024; ++id) {
    burst += raw::RequestBytes(id, kListMethod, request);
  }
  attacker->Send(burst);
  // The attack's time. 3 s is enough for the old server to make the
  // well-behaved client wait seconds (its ListDirectory queued behind the
  // attacker's); DUALRPC_LONG_TESTS=1 holds it 20 s, long enough for the
  // old server's RSS to pass the target too (blocking threads producing
  // 2.2 MB responses into an output that was never bounded).
  absl::SleepFor(AttackTime());
  Reset(*attacker);
  attacker.reset();
  CheckAfterwards("1,024 unread ListDirectory", watch);
}

// Finding 2: 200 connections each send 64 KiB Echos and never read.
TEST_F(HostileMemoryTest, ManyConnectionsThatNeverRead) {
  Watch watch(server_->pid(), "raw://" + raw_address_);
  constexpr int kAttackers = 200;
  std::vector<std::unique_ptr<raw::TestClient>> attackers;
  for (int i = 0; i < kAttackers; ++i) {
    attackers.push_back(Connect());
    // Our side's kernel buffer small, so that the attack's bytes wait in
    // the server (which must bound them), not in this process's socket.
    const int send_buffer = 128 * 1024;
    ::setsockopt(attackers.back()->fd(), SOL_SOCKET, SO_SNDBUF, &send_buffer,
                 sizeof send_buffer);
  }
  v1::EchoRequest echo;
  echo.set_payload(std::string(64 * 1024, 'e'));
  std::vector<std::string> pending(kAttackers);
  std::vector<std::uint32_t> next_id(kAttackers, 0);
  std::vector<bool> done(kAttackers, false);
  // Round-robin over the attackers until every socket stays full (or
  // failed: the server closed it) or the attack's time is up.
  const absl::Time end = absl::Now() + absl::Seconds(4);
  int active = kAttackers;
  while (active > 0 && absl::Now() < end) {
    bool progressed = false;
    for (int i = 0; i < kAttackers; ++i) {
      if (done[i]) continue;
      if (pending[i].empty()) {
        pending[i] = raw::RequestBytes(++next_id[i], kEchoMethod, echo);
      }
      const ssize_t n =
          ::send(attackers[i]->fd(), pending[i].data(), pending[i].size(),
                 MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        pending[i].erase(0, static_cast<std::size_t>(n));
        progressed = true;
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        done[i] = true;  // Closed by the server.
        --active;
      }
    }
    if (!progressed) absl::SleepFor(absl::Milliseconds(20));
  }
  for (std::unique_ptr<raw::TestClient>& attacker : attackers) {
    Reset(*attacker);
  }
  attackers.clear();
  CheckAfterwards("200 connections of unread 64 KiB Echos", watch);
}

}  // namespace
}  // namespace dualrpc
