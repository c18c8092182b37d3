// The soak (issue 12, "Fuzzing and sanitizers, kept running"): the real
// dualrpc-server under minutes of mixed load on both transports, then the
// claim that it gives back what the load took.
//
// Load, for DUALRPC_SOAK_SECONDS (default kDefaultSoakSeconds; scripts/test
// runs 30 s in CI and as long as asked with --long), from kWorkersPerTransport
// threads per transport plus one churn thread:
//  - each worker cycles through Echo, paged ListDirectory, ListDirectory
//    under a deadline too short to meet, WalkTree cancelled after its first
//    response, and EchoStream, and replaces its channel (so its
//    connections) every kCallsPerChannel calls;
//  - the churn thread opens TCP connections to both ports and drops them
//    mid-preface or mid-frame, half of them with RST (SO_LINGER 0).
// Every call ends with a code its kind allows (OK; DEADLINE_EXCEEDED and
// CANCELLED where the test asked for them); anything else fails the test.
//
// Then: the server's open fds (/proc/PID/fd) come back to the baseline taken
// after a warm-up round of the same load, and its RSS (/proc/PID/status)
// comes back within kRssSlack of that baseline; SIGTERM stops it with exit
// code 0, which in the ASan build (scripts/test --sanitize address) includes
// LeakSanitizer finding nothing at exit.

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/channel.h"
#include "dualrpc/v1/file_service.dualrpc.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gtest/gtest.h"
#include "testing/sanitizers.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace dualrpc {
namespace {

using ::dualrpc_testing::Eventually;
using ::dualrpc_testing::IsOk;

constexpr int kDefaultSoakSeconds = 20;
constexpr int kWorkersPerTransport = 2;
constexpr int kCallsPerChannel = 40;
constexpr int kDirectoryEntries = 300;
// What the allocator may keep of the load's peak once it has gone (glibc
// arenas, the listing cache's names, gRPC's slab caches); under ASan its
// quarantine holds freed memory too (ASAN_OPTIONS quarantine_size_mb,
// scripts/test sets 64). A real leak under minutes of churn is larger, and
// LeakSanitizer catches the rest in the ASan build.
#ifdef DUALRPC_TESTING_ASAN
constexpr std::int64_t kRssSlack = 128 << 20;
#else
// Free pages left in grpc's threads' malloc arenas made a 30 s soak settle
// 115 MiB above its baseline until the server's HeapReleaser
// (--heap_release_interval) gave them back (52 -> 103 MiB after); 64 MiB
// leaves room for what a trim cannot return and still fails a leak of a few
// KiB per call.
constexpr std::int64_t kRssSlack = 64 << 20;
#endif

int SoakSeconds() {
  const char* value = std::getenv("DUALRPC_SOAK_SECONDS");
  int seconds = 0;
  if (value != nullptr && absl::SimpleAtoi(value, &seconds) && seconds > 0) {
    return seconds;
  }
  return kDefaultSoakSeconds;
}

// VmRSS or VmHWM of `pid` in bytes; -1 if unreadable.
std::int64_t StatusBytes(pid_t pid, absl::string_view field) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (!absl::StartsWith(line, absl::StrCat(field, ":"))) continue;
    std::vector<absl::string_view> parts =
        absl::StrSplit(line, ' ', absl::SkipWhitespace());
    std::int64_t kib = 0;
    if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kib)) {
      return kib * 1024;
    }
  }
  return -1;
}

int OpenFds(pid_t pid) {
  DIR* dir = ::opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (dir == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count;
}

// Failures the load saw, by description; thread-safe.
class Findings {
 public:
  void Check(const absl::Status& status,
             std::initializer_list<absl::StatusCode> allowed,
             absl::string_view what) {
    ++calls_;
    if (status.ok()) return;
    for (absl::StatusCode code : allowed) {
      if (status.code() == code) return;
    }
    absl::MutexLock lock(&mu_);
    if (failures_.size() < 20) {
      failures_.push_back(absl::StrCat(what, ": ", status.ToString()));
    }
    ++failure_count_;
  }
  std::int64_t calls() const { return calls_.load(); }
  std::vector<std::string> failures() const {
    absl::MutexLock lock(&mu_);
    return failures_;
  }
  int failure_count() const {
    absl::MutexLock lock(&mu_);
    return failure_count_;
  }

 private:
  std::atomic<std::int64_t> calls_{0};
  mutable absl::Mutex mu_;
  std::vector<std::string> failures_ ABSL_GUARDED_BY(mu_);
  int failure_count_ ABSL_GUARDED_BY(mu_) = 0;
};

rpc::CallOptions Timeout(absl::Duration timeout) {
  rpc::CallOptions options;
  options.timeout = timeout;
  return options;
}

constexpr absl::Duration kCallTimeout = absl::Seconds(20);

// One call of kind `step % 5` on `client`.
void OneCall(v1::FileServiceClient& client, int step, Findings* findings) {
  switch (step % 5) {
    case 0: {
      v1::EchoRequest request;
      request.set_payload(std::string(1 + step % 4096, 'e'));
      absl::StatusOr<v1::EchoResponse> response =
          client.Echo(request, Timeout(kCallTimeout));
      findings->Check(response.status(), {}, "Echo");
      if (response.ok() && response->payload() != request.payload()) {
        findings->Check(absl::DataLossError("payload differs"), {}, "Echo");
      }
      return;
    }
    case 1: {
      v1::ListDirectoryRequest request;
      request.set_path("many");
      request.set_page_size(100);
      for (int page = 0; page < 4; ++page) {
        absl::StatusOr<v1::ListDirectoryResponse> response =
            client.ListDirectory(request, Timeout(kCallTimeout));
        findings->Check(response.status(), {}, "ListDirectory");
        if (!response.ok() || response->next_page_token().empty()) return;
        request.set_page_token(response->next_page_token());
      }
      return;
    }
    case 2: {
      // A deadline that expires before, during or after the work.
      v1::ListDirectoryRequest request;
      request.set_path("many");
      const absl::Duration deadline = absl::Microseconds(1 + step % 300);
      findings->Check(client.ListDirectory(request, Timeout(deadline)).status(),
                      {absl::StatusCode::kDeadlineExceeded},
                      "ListDirectory deadline");
      return;
    }
    case 3: {
      v1::WalkTreeRequest request;
      request.set_path("");
      auto reader = client.WalkTree(request, Timeout(kCallTimeout));
      v1::WalkTreeResponse response;
      reader->Read(&response);
      reader->Cancel();
      findings->Check(reader->Finish(), {absl::StatusCode::kCancelled},
                      "WalkTree cancelled");
      return;
    }
    default: {
      auto stream = client.EchoStream(Timeout(kCallTimeout));
      v1::EchoRequest request;
      v1::EchoResponse response;
      bool ok = true;
      for (int i = 0; i < 3 && ok; ++i) {
        request.set_payload(absl::StrCat("m", i));
        ok = stream->Write(request) && stream->Read(&response);
      }
      if (ok) {
        stream->WritesDone();
        findings->Check(stream->Finish(), {}, "EchoStream");
      } else {
        stream->Cancel();
        findings->Check(stream->Finish(), {absl::StatusCode::kCancelled},
                        "EchoStream");
      }
      return;
    }
  }
}

// Calls until `until`, with a new channel every kCallsPerChannel calls.
void Worker(const std::string& target, absl::Time until, int seed,
            Findings* findings) {
  for (int step = seed; absl::Now() < until;) {
    absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
        client::CreateChannel(target);
    if (!channel.ok()) {
      findings->Check(channel.status(), {}, "CreateChannel");
      return;
    }
    v1::FileServiceClient client(*channel);
    for (int i = 0; i < kCallsPerChannel && absl::Now() < until; ++i) {
      OneCall(client, step++, findings);
    }
  }
}

// Opens a TCP connection to `port`, writes `bytes` and drops it, with RST
// when `reset`. The connect gives up after a second: when the churn
// outpaces the server's accepts (a loaded machine), a SYN to a full backlog
// is retried by the kernel for up to ~2 minutes, which used to stretch a
// 30 s soak to 150 s.
void DropConnection(int port, absl::string_view bytes, bool reset) {
  const int fd =
      ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool connected =
      ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  if (!connected && errno == EINPROGRESS) {
    pollfd ready{fd, POLLOUT, 0};
    int error = 0;
    socklen_t length = sizeof error;
    connected = ::poll(&ready, 1, 1000) == 1 &&
                ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 &&
                error == 0;
  }
  if (connected) {
    (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (reset) {
      linger option{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, sizeof option);
    }
  }
  ::close(fd);
}

int PortOf(const std::string& address) {
  int port = 0;
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return -1;
  }
  return port;
}

// Connections each port gets per second from the churn thread. Bounded:
// unbounded, this loop opened thousands per second, more than grpc-core
// closes on a loaded 2-core machine (it keeps a dropped connection's fd
// until its handshake is torn down), and the server ran into its fd limit
// (EMFILE: failed listings on both transports). A connection flood is
// grpc_hostile_test's subject; the soak is about what is left behind.
constexpr int kChurnPerSecond = 500;

void Churn(int raw_port, int grpc_port, absl::Time until) {
  // A client preface and the start of a REQUEST frame header; the HTTP/2
  // client preface cut short.
  static constexpr absl::string_view kRaw("DRPC\x01\x01\x00\x00\x00\x00\x01",
                                          11);
  static constexpr absl::string_view kHttp2("PRI * HTTP/2.0\r\n\r\nSM");
  const absl::Time start = absl::Now();
  for (int i = 0; absl::Now() < until; ++i) {
    const bool reset = i % 2 == 0;
    DropConnection(raw_port, kRaw.substr(0, 1 + i % kRaw.size()), reset);
    DropConnection(grpc_port, kHttp2.substr(0, 1 + i % kHttp2.size()), reset);
    absl::SleepFor(start + absl::Seconds(1) * (i + 1) / kChurnPerSecond -
                   absl::Now());
  }
}

class SoakTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.MakeDir("many");
    for (int i = 0; i < kDirectoryEntries; ++i) {
      root_.WriteFile(absl::StrCat("many/entry-", i), "x");
    }
    root_.MakeDir("tree");
    root_.MakeDir("tree/a");
    root_.MakeDir("tree/a/b");
    root_.WriteFile("tree/a/b/leaf", "leaf");
  }

  // The whole load, both transports, until `seconds` have passed.
  void Load(int seconds, Findings* findings) {
    const absl::Time until = absl::Now() + absl::Seconds(seconds);
    std::vector<std::thread> threads;
    for (const std::string transport : {"grpc", "raw"}) {
      const std::string target =
          transport + "://" + server_->Address(transport).value_or("");
      for (int i = 0; i < kWorkersPerTransport; ++i) {
        threads.emplace_back(Worker, target, until, i * 7, findings);
      }
    }
    threads.emplace_back(Churn, PortOf(server_->Address("raw").value_or("")),
                         PortOf(server_->Address("grpc").value_or("")), until);
    for (std::thread& thread : threads) thread.join();
  }

  dualrpc_testing::TempDir root_;
  std::unique_ptr<dualrpc_testing::ServerProcess> server_;
};

TEST_F(SoakTest, MixedLoadLeavesNoFdsMemoryOrLeaksBehind) {
  absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
      // The listing cache off: it keeps names by design (up to
      // --listing_cache_names), which is not what the RSS check is about.
      dualrpc_testing::StartServer(
          root_.path(), {"--shutdown_grace=5s", "--listing_cache_names=0"});
  ASSERT_THAT(server, IsOk());
  server_ = *std::move(server);
  const pid_t pid = server_->pid();
  const int fresh_fds = OpenFds(pid);
  ASSERT_GT(fresh_fds, 0);

  // Warm-up: what the first calls create once (threads, caches, gRPC's
  // pools) is the baseline, not a leak.
  Findings warmup;
  Load(std::max(2, SoakSeconds() / 10), &warmup);
  EXPECT_EQ(warmup.failure_count(), 0);
  // Every warm-up connection has closed once the count is back where the
  // fresh server started; if it never is, the lowest count seen is the
  // baseline (and the assertion below still needs it to come back to that).
  int baseline_fds = OpenFds(pid);
  Eventually(
      [&] {
        baseline_fds = std::min(baseline_fds, OpenFds(pid));
        return baseline_fds <= fresh_fds;
      },
      absl::Seconds(10));
  const std::int64_t baseline_rss = StatusBytes(pid, "VmRSS");
  ASSERT_GT(baseline_rss, 0);

  Findings findings;
  const absl::Time start = absl::Now();
  Load(SoakSeconds(), &findings);
  const double load_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const std::int64_t peak_rss = StatusBytes(pid, "VmHWM");
  const int fds_after_load = OpenFds(pid);

  int fds = -1;
  const bool fds_back = Eventually([&] {
    fds = OpenFds(pid);
    return fds <= baseline_fds;
  });
  std::int64_t rss = -1;
  const bool rss_back = Eventually([&] {
    rss = StatusBytes(pid, "VmRSS");
    return rss >= 0 && rss <= baseline_rss + kRssSlack;
  });

  const std::string figures = absl::StrCat(
      "soak ", load_seconds, " s, ", findings.calls(), " calls; fds fresh ",
      fresh_fds, " baseline ", baseline_fds, " after load ", fds_after_load,
      " settled ", fds, "; RSS baseline ", baseline_rss >> 20, " MiB, peak ",
      peak_rss >> 20, " MiB, settled ", rss >> 20, " MiB");
  std::cerr << figures << "\n";
  RecordProperty("figures", figures);
  RecordProperty("calls", static_cast<int>(findings.calls()));

  EXPECT_EQ(findings.failure_count(), 0)
      << "first failures:\n  " << absl::StrJoin(findings.failures(), "\n  ");
  EXPECT_GT(findings.calls(), 0);
  EXPECT_TRUE(fds_back) << figures;
  EXPECT_TRUE(rss_back) << figures;

  // A clean exit; under ASan, LeakSanitizer reports at exit and fails it.
  ASSERT_THAT(server_->Signal(SIGTERM), IsOk());
  absl::StatusOr<int> exit_code = server_->WaitForExit(absl::Seconds(30));
  ASSERT_THAT(exit_code, IsOk());
  EXPECT_EQ(*exit_code, 0) << server_->StderrText();
}

}  // namespace
}  // namespace dualrpc
