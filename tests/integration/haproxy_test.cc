// More than one server (issue 13 §4): three real dualrpc-server replicas
// behind a real HAProxy (examples/haproxy/haproxy.cfg, run as is: raw in
// TCP mode checked with PING/PONG, gRPC in HTTP/2 mode checked with a
// Health/Check), and the same scenario with client-side balancing and no
// HAProxy (raw://A,B,C and grpc://A,B,C, decisions D1/D2).
//
// The scenario, on both transports at once: a closed-loop Echo load (8
// threads per transport, each with its own channel, so its own
// connection); SIGTERM one replica — the drain must cost zero calls; then
// SIGKILL another — the calls it had in flight fail, and the load goes on on
// the last replica. The number lost to the kill is printed (and recorded as
// a test property), not asserted: the goal is "only those in flight".

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/rpc/client_call.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/haproxy_process.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

#ifndef DUALRPC_SOURCE_DIR
#error "DUALRPC_SOURCE_DIR must name the source tree"
#endif

namespace dualrpc {
namespace {

using ::dualrpc_testing::HaproxyProcess;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::ServerProcess;

constexpr char kHaproxyConfig[] =
    DUALRPC_SOURCE_DIR "/examples/haproxy/haproxy.cfg";
constexpr char kEchoPath[] = "/dualrpc.v1.FileService/Echo";
constexpr int kReplicas = 3;
constexpr int kThreadsPerTransport = 8;
// Calls each transport must complete in a phase before the next step: many
// round trips on every connection, few enough to keep the test short.
constexpr int kCallsPerPhase = 300;
// Long against a closed loop's calls (each well under a millisecond), so
// that the drain ends because its calls are done, not because time is up.
constexpr char kShutdownGrace[] = "--shutdown_grace=20s";
// Health says NOT_SERVING this long before the ports close: several of the
// config's 200 ms check intervals, so that HAProxy has taken the replica out
// of the gRPC backend before grpc++ refuses late calls (with CANCELLED).
constexpr char kShutdownDelay[] = "--shutdown_delay=1s";
// How a single-address raw channel reports a call that a GOAWAY's
// last_call_id shows the server did not run (raw/client/client_connection).
constexpr absl::string_view kNotRunByServer = "server is going away";

std::string ReadSourceFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The hex words of the config's `keyword` lines within `backend`, joined.
std::string CheckBytesOf(absl::string_view config, absl::string_view backend,
                         absl::string_view keyword) {
  std::string hex;
  bool in_backend = false;
  for (absl::string_view line : absl::StrSplit(config, '\n')) {
    if (absl::StartsWith(line, "backend ") || absl::StartsWith(line, "frontend ")) {
      in_backend = line == absl::StrCat("backend ", backend);
      continue;
    }
    line = absl::StripAsciiWhitespace(line);
    if (in_backend && absl::ConsumePrefix(&line, keyword)) {
      absl::StrAppend(&hex, absl::StripAsciiWhitespace(line));
    }
  }
  return hex;
}

std::string HexOf(const net::Buffer& buffer) {
  return absl::BytesToHexString(buffer.View());
}

// A port nothing listens on right now (bound, read, closed): HAProxy cannot
// bind port 0, so the test picks one and retries if another process takes it
// first.
absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    return absl::InternalError("bind or getsockname");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// ---- the load --------------------------------------------------------------

// Where the load is in the scenario. A call counts in the phase in which it
// completes.
enum Phase : int { kWarm = 0, kDraining, kKilled, kRecovered, kPhases };
constexpr std::array<const char*, kPhases> kPhaseNames = {
    "warm", "draining", "killed", "recovered"};

struct PhaseCounts {
  int64_t ok = 0;
  int64_t failed = 0;
  // Of `failed`: calls a GOAWAY showed the server never ran
  // (kNotRunByServer).
  int64_t not_run_by_server = 0;
  // Of `failed`: CANCELLED (this side never cancels): grpc++ cancels the
  // calls that reach it once its shutdown began.
  int64_t cancelled_by_server = 0;
  // The first few failures, for the message.
  std::vector<std::string> failures;
};

// A closed-loop Echo load on one target: `threads` threads, each with its
// own channel (client::CreateChannel), each starting its next call when the
// previous one completes. Thread-safe; Stop (or the destructor) joins.
class ClosedLoop {
 public:
  ClosedLoop(std::string name, std::string target, int threads,
             const std::atomic<int>* phase)
      : name_(std::move(name)), target_(std::move(target)), phase_(phase) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~ClosedLoop() { Stop(); }

  void Stop() {
    stopping_.store(true);
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

  const std::string& name() const { return name_; }
  const std::string& target() const { return target_; }

  PhaseCounts Counts(Phase phase) const {
    absl::MutexLock lock(&mu_);
    return counts_[phase];
  }

 private:
  void Run() {
    absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
        client::CreateChannel(target_);
    if (!channel.ok()) {
      Record(channel.status());
      return;
    }
    v1::EchoRequest request;
    request.set_payload("closed loop");
    rpc::CallOptions options;
    options.timeout = absl::Seconds(10);
    while (!stopping_.load()) {
      absl::StatusOr<v1::EchoResponse> response =
          rpc::CallUnaryAndWait<v1::EchoResponse>(**channel, kEchoPath,
                                                  request, options);
      Record(response.ok() && response->payload() != request.payload()
                 ? absl::InternalError("wrong payload")
                 : response.status());
    }
  }

  void Record(const absl::Status& status) {
    const int phase = phase_->load();
    absl::MutexLock lock(&mu_);
    PhaseCounts& counts = counts_[phase];
    if (status.ok()) {
      ++counts.ok;
      return;
    }
    ++counts.failed;
    if (absl::StrContains(status.message(), kNotRunByServer)) {
      ++counts.not_run_by_server;
    }
    if (absl::IsCancelled(status)) ++counts.cancelled_by_server;
    if (counts.failures.size() < 5) counts.failures.push_back(status.ToString());
  }

  const std::string name_;
  const std::string target_;
  const std::atomic<int>* const phase_;
  std::atomic<bool> stopping_{false};
  mutable absl::Mutex mu_;
  std::array<PhaseCounts, kPhases> counts_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

std::string Describe(const ClosedLoop& load, Phase phase) {
  const PhaseCounts counts = load.Counts(phase);
  return absl::StrCat(load.name(), " (", load.target(), ") ",
                      kPhaseNames[phase], ": ", counts.ok, " ok, ",
                      counts.failed, " failed",
                      counts.failures.empty() ? "" : ": ",
                      absl::StrJoin(counts.failures, "; "));
}

// ---- the scenario ------------------------------------------------------------

// How the load reaches the replicas.
enum class Balancing { kHaproxy, kClientSide };

class ScaleOutTest : public ::testing::TestWithParam<Balancing> {
 protected:
  void SetUp() override {
    for (int i = 0; i < kReplicas; ++i) {
      absl::StatusOr<std::unique_ptr<ServerProcess>> replica =
          dualrpc_testing::StartServer(root_.path(),
                                       {kShutdownGrace, kShutdownDelay});
      ASSERT_THAT(replica, IsOk());
      replicas_.push_back(*std::move(replica));
    }
  }

  std::string ReplicaAddress(int i, const char* transport) const {
    return replicas_[i]->Address(transport).value_or("");
  }

  // HAProxy on examples/haproxy/haproxy.cfg in front of the replicas, with
  // 200 ms checks; returns once every replica is UP on both backends.
  void StartHaproxy() {
    for (int attempt = 0; attempt < 3 && haproxy_ == nullptr; ++attempt) {
      absl::StatusOr<int> raw_port = FreeLoopbackPort();
      absl::StatusOr<int> grpc_port = FreeLoopbackPort();
      ASSERT_THAT(raw_port, IsOk());
      ASSERT_THAT(grpc_port, IsOk());
      dualrpc_testing::HaproxyOptions options;
      options.config_path = kHaproxyConfig;
      raw_frontend_ = absl::StrCat("127.0.0.1:", *raw_port);
      grpc_frontend_ = absl::StrCat("127.0.0.1:", *grpc_port);
      options.environment = {{"DUALRPC_RAW_FRONTEND", raw_frontend_},
                             {"DUALRPC_GRPC_FRONTEND", grpc_frontend_},
                             {"DUALRPC_CHECK_INTER", "200ms"}};
      for (int i = 0; i < kReplicas; ++i) {
        options.environment.emplace_back(absl::StrCat("DUALRPC_RAW_", i + 1),
                                         ReplicaAddress(i, "raw"));
        options.environment.emplace_back(absl::StrCat("DUALRPC_GRPC_", i + 1),
                                         ReplicaAddress(i, "grpc"));
      }
      absl::StatusOr<std::unique_ptr<HaproxyProcess>> started =
          HaproxyProcess::Start(std::move(options));
      if (started.ok()) {
        haproxy_ = *std::move(started);
      } else if (!absl::StrContains(started.status().message(),
                                    "cannot bind")) {
        FAIL() << started.status();
      }  // else a port was taken between the pick and the bind: again.
    }
    ASSERT_NE(haproxy_, nullptr) << "no free frontend ports in 3 attempts";
    for (int i = 0; i < kReplicas; ++i) {
      ASSERT_TRUE(WaitForStatus(i, "UP")) << haproxy_->LogText();
    }
  }

  // The HAProxy servers of replica `i`, by the config's names.
  static std::string RawServer(int i) { return absl::StrCat("raw", i + 1); }
  static std::string GrpcServer(int i) { return absl::StrCat("grpc", i + 1); }

  // Whether HAProxy shows replica `i` as `status` on both backends within
  // the usual wait.
  bool WaitForStatus(int i, absl::string_view status) {
    return dualrpc_testing::Eventually([&] {
      return absl::StartsWith(
                 haproxy_->ServerStatus("dualrpc_raw_replicas", RawServer(i)),
                 status) &&
             absl::StartsWith(
                 haproxy_->ServerStatus("dualrpc_grpc_replicas", GrpcServer(i)),
                 status);
    });
  }

  // Moves the load to `phase` and waits until every transport has made
  // kCallsPerPhase calls in it.
  ::testing::AssertionResult EnterPhaseAndRun(Phase phase) {
    phase_.store(phase);
    const bool ran = dualrpc_testing::Eventually(
        [&] {
          for (const auto& load : loads_) {
            if (load->Counts(phase).ok < kCallsPerPhase) return false;
          }
          return true;
        },
        absl::Seconds(30));
    if (ran) return ::testing::AssertionSuccess();
    ::testing::AssertionResult failure = ::testing::AssertionFailure();
    failure << "fewer than " << kCallsPerPhase << " calls in phase "
            << kPhaseNames[phase] << ":";
    for (const auto& load : loads_) failure << "\n  " << Describe(*load, phase);
    return failure;
  }

  void RunScenario(const std::string& raw_target,
                   const std::string& grpc_target) {
    loads_.push_back(std::make_unique<ClosedLoop>(
        "raw", raw_target, kThreadsPerTransport, &phase_));
    loads_.push_back(std::make_unique<ClosedLoop>(
        "grpc", grpc_target, kThreadsPerTransport, &phase_));
    ASSERT_TRUE(EnterPhaseAndRun(kWarm));
    if (haproxy_ != nullptr) {
      // The replica about to drain holds raw connections and answers gRPC
      // calls, or the drain would prove nothing.
      absl::StatusOr<std::map<std::string, std::string>> raw =
          haproxy_->ServerStats("dualrpc_raw_replicas", RawServer(0));
      absl::StatusOr<std::map<std::string, std::string>> grpc =
          haproxy_->ServerStats("dualrpc_grpc_replicas", GrpcServer(0));
      ASSERT_THAT(raw, IsOk());
      ASSERT_THAT(grpc, IsOk());
      EXPECT_NE((*raw)["scur"], "0") << "no raw connection on replica 1";
      EXPECT_NE((*grpc)["stot"], "0") << "no gRPC call on replica 1";
    }

    // SIGTERM: the drain. Health flips, ports close, calls in flight finish.
    phase_.store(kDraining);
    ASSERT_THAT(replicas_[0]->Signal(SIGTERM), IsOk());
    EXPECT_THAT(replicas_[0]->WaitForExit(absl::Seconds(30)), IsOkAndHolds(0))
        << replicas_[0]->StderrText();
    if (haproxy_ != nullptr) {
      EXPECT_TRUE(WaitForStatus(0, "DOWN"));
    }
    ASSERT_TRUE(EnterPhaseAndRun(kDraining));
    for (const auto& load : loads_) {
      std::cout << Describe(*load, kWarm) << "\n"
                << Describe(*load, kDraining) << "\n";
      EXPECT_EQ(load->Counts(kWarm).failed, 0) << Describe(*load, kWarm);
      const PhaseCounts drained = load->Counts(kDraining);
      // Raw through HAProxy too: the two-phase drain (PROTOCOL.md §5.3)
      // answers every call the client wrote before it read the notice, and
      // the client writes no call after it, so none is left to resend.
      RecordProperty(absl::StrCat(load->name(), "_not_run_on_drain"),
                     std::to_string(drained.not_run_by_server));
      EXPECT_EQ(drained.failed, 0)
          << "the drain cost calls: " << Describe(*load, kDraining);
    }

    // SIGKILL: calls in flight on that replica are lost, no more.
    phase_.store(kKilled);
    ASSERT_THAT(replicas_[1]->Signal(SIGKILL), IsOk());
    EXPECT_THAT(replicas_[1]->WaitForExit(absl::Seconds(10)),
                IsOkAndHolds(-1));
    if (haproxy_ != nullptr) {
      EXPECT_TRUE(WaitForStatus(1, "DOWN"));
    }
    // Calls succeed again afterwards, on the last replica.
    ASSERT_TRUE(EnterPhaseAndRun(kRecovered));
    for (auto& load : loads_) load->Stop();
    for (const auto& load : loads_) {
      const PhaseCounts killed = load->Counts(kKilled);
      std::cout << Describe(*load, kKilled) << "\n"
                << Describe(*load, kRecovered) << "\n";
      RecordProperty(absl::StrCat(load->name(), "_failed_on_kill"),
                     std::to_string(killed.failed));
    }
    EXPECT_TRUE(replicas_[2]->Alive());
    if (haproxy_ != nullptr) {
      EXPECT_TRUE(haproxy_->Alive()) << haproxy_->LogText();
      EXPECT_TRUE(absl::StartsWith(
          haproxy_->ServerStatus("dualrpc_raw_replicas", RawServer(2)), "UP"));
    }
  }

  void TearDown() override {
    loads_.clear();
    if (haproxy_ != nullptr) {
      haproxy_->Stop();
      if (HasFailure()) {
        // Its events (checks, state changes, alerts), not its traffic log.
        std::cout << "HAProxy's log, without the traffic lines:\n";
        for (absl::string_view line :
             absl::StrSplit(haproxy_->LogText(), '\n')) {
          if (!absl::StartsWith(line, "127.0.0.1:")) std::cout << line << "\n";
        }
      }
    }
  }

  dualrpc_testing::TempDir root_;
  std::vector<std::unique_ptr<ServerProcess>> replicas_;
  std::unique_ptr<HaproxyProcess> haproxy_;
  std::string raw_frontend_;
  std::string grpc_frontend_;
  std::atomic<int> phase_{kWarm};
  std::vector<std::unique_ptr<ClosedLoop>> loads_;
};

// The config's raw check is the protocol's preface and PING, and expects
// the PONG, byte for byte as raw/wire encodes them (docs/PROTOCOL.md §2,
// §5.2); its gRPC check ends in a SERVING HealthCheckResponse.
TEST(HaproxyConfigTest, ChecksAreTheProtocolsBytes) {
  const std::string config = ReadSourceFile(kHaproxyConfig);
  ASSERT_FALSE(config.empty()) << kHaproxyConfig;
  constexpr absl::string_view kOpaque = "haproxy!";
  static_assert(kOpaque.size() == raw::kPingPayloadSize);
  net::Buffer ping;
  // A 1.1 client's preface: the PONG is then the first frame (a 1.2 one
  // gets SETTINGS first, §5.6).
  raw::AppendPreface(&ping, raw::kMajorVersion, raw::kStreamingMinorVersion);
  raw::AppendFrame(&ping, raw::FrameType::kPing, 0, 0, {kOpaque});
  net::Buffer pong;
  raw::AppendFrame(&pong, raw::FrameType::kPing, raw::kFlagAck, 0, {kOpaque});
  EXPECT_EQ(CheckBytesOf(config, "dualrpc_raw_replicas", "tcp-check send-binary"),
            HexOf(ping));
  EXPECT_EQ(
      CheckBytesOf(config, "dualrpc_raw_replicas", "tcp-check expect binary"),
      HexOf(pong));
  // gRPC's length-prefixed message: not compressed, 2 bytes, field 1
  // (status) = SERVING.
  EXPECT_EQ(CheckBytesOf(config, "dualrpc_grpc_replicas",
                         "tcp-check expect min-recv 0 binary"),
            "0000000002" + absl::BytesToHexString("\x08\x01"));
}

TEST_P(ScaleOutTest, DrainLosesNoCallAndKillOnlyThoseInFlight) {
  if (GetParam() == Balancing::kHaproxy) {
    ASSERT_EQ(::access(dualrpc_testing::kHaproxyPath, X_OK), 0)
        << dualrpc_testing::kHaproxyPath
        << " is missing: scripts/bootstrap installs Debian's haproxy";
    ASSERT_NO_FATAL_FAILURE(StartHaproxy());
    RunScenario("raw://" + raw_frontend_, "grpc://" + grpc_frontend_);
    return;
  }
  std::vector<std::string> raw_addresses, grpc_addresses;
  for (int i = 0; i < kReplicas; ++i) {
    raw_addresses.push_back(ReplicaAddress(i, "raw"));
    grpc_addresses.push_back(ReplicaAddress(i, "grpc"));
  }
  const std::string raw_target =
      absl::StrCat("raw://", absl::StrJoin(raw_addresses, ","));
  const std::string grpc_target =
      absl::StrCat("grpc://", absl::StrJoin(grpc_addresses, ","));
  for (const std::string& target : {raw_target, grpc_target}) {
    absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
        client::CreateChannel(target);
    if (absl::IsInvalidArgument(channel.status())) {
      GTEST_SKIP() << "client-side balancing over several addresses "
                      "(decisions D1/D2, branch wip-lb) is not in this tree: "
                   << target << ": " << channel.status();
    }
  }
  RunScenario(raw_target, grpc_target);
}

INSTANTIATE_TEST_SUITE_P(
    BothBalancers, ScaleOutTest,
    ::testing::Values(Balancing::kHaproxy, Balancing::kClientSide),
    [](const auto& info) {
      return info.param == Balancing::kHaproxy ? "Haproxy" : "ClientSide";
    });

}  // namespace
}  // namespace dualrpc
