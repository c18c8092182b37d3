// raw::BalancedChannel (issue 13, decision D2) against real dualrpc-server
// processes on loopback: each serves a root holding one file, backend-<i>,
// so that a ListDirectory of "" says which backend answered. The servers go
// away as they do in production (SIGKILL, SIGTERM, SIGSTOP), never through
// fakes. Backoff and health-check intervals are shortened so that each
// test runs in seconds.

#include "dualrpc/raw/client/balanced_channel.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace dualrpc::raw {
namespace {

using ::dualrpc_testing::Eventually;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::kWaitTimeout;
using ::dualrpc_testing::ServerProcess;
using ::dualrpc_testing::StartServer;
using ::dualrpc_testing::StatusIs;
using ::dualrpc_testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kListDirectory[] = "/dualrpc.v1.FileService/ListDirectory";
constexpr int kBackends = 3;

// Which backend answers: the one file of its root. Blocks (bounded by
// `timeout`, and by kWaitTimeout for the done).
absl::StatusOr<std::string> WhoAnswers(
    rpc::Channel& channel, absl::Duration timeout = absl::Seconds(10)) {
  v1::ListDirectoryRequest request;
  v1::ListDirectoryResponse response;
  rpc::CallOptions options;
  options.timeout = timeout;
  absl::Notification done;
  absl::Status status;
  channel.StartUnaryCall(kListDirectory, request, &response, options,
                         [&](absl::Status result) {
                           status = std::move(result);
                           done.Notify();
                         });
  if (!done.WaitForNotificationWithTimeout(timeout + kWaitTimeout)) {
    return absl::InternalError("the call never completed");
  }
  if (!status.ok()) return status;
  if (response.entries_size() != 1) {
    return absl::InternalError(response.DebugString());
  }
  return response.entries(0).name();
}

// Short enough that ejection and readmission take well under a second.
BalancedChannelOptions FastOptions() {
  BalancedChannelOptions options;
  options.backend.connect_timeout = absl::Seconds(2);
  options.health_check_interval = absl::Milliseconds(200);
  options.health_check_timeout = absl::Milliseconds(300);
  options.backoff_initial = absl::Milliseconds(100);
  options.backoff_max = absl::Milliseconds(300);
  return options;
}

// A TCP port on 127.0.0.1 that refuses connections while `fd` is open:
// bound, never listening.
std::string RefusingAddress(base::ScopedFd* fd) {
  *fd = base::ScopedFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(fd->get(), reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::getsockname(fd->get(), reinterpret_cast<sockaddr*>(&address),
                    &length) != 0) {
    ADD_FAILURE() << "cannot bind a refusing port";
    return "127.0.0.1:1";
  }
  return absl::StrCat("127.0.0.1:", ntohs(address.sin_port));
}

// Closed-loop load: `callers` threads each making one call after another
// until Stop(), counting answers per backend and failures by message.
class Load {
 public:
  Load(rpc::Channel& channel, int callers) {
    for (int i = 0; i < callers; ++i) {
      threads_.emplace_back([this, &channel]() {
        while (!stop_.load()) {
          absl::StatusOr<std::string> who = WhoAnswers(channel);
          absl::MutexLock lock(&mu_);
          if (who.ok()) {
            ++answers_[*who];
            ++total_answers_;
          } else {
            failures_.push_back(who.status());
          }
        }
      });
    }
  }
  ~Load() { Stop(); }

  // True once `count` more calls have been answered (within kWaitTimeout).
  bool WaitForAnswers(int count) {
    absl::MutexLock lock(&mu_);
    target_ = total_answers_ + count;
    return mu_.AwaitWithTimeout(absl::Condition(this, &Load::Reached),
                                kWaitTimeout);
  }

  void Stop() {
    stop_.store(true);
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

  std::map<std::string, int> answers() {
    absl::MutexLock lock(&mu_);
    return answers_;
  }
  std::vector<absl::Status> failures() {
    absl::MutexLock lock(&mu_);
    return failures_;
  }
  void ResetAnswers() {
    absl::MutexLock lock(&mu_);
    answers_.clear();
  }

 private:
  bool Reached() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return total_answers_ >= target_;
  }

  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  int target_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int> answers_ ABSL_GUARDED_BY(mu_);
  int total_answers_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<absl::Status> failures_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

class BalancedChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < kBackends; ++i) {
      roots_[i].WriteFile(absl::StrCat("backend-", i), "");
      ASSERT_NO_FATAL_FAILURE(Start(i, "127.0.0.1:0"));
    }
  }

  void TearDown() override {
    // A stopped server cannot run its SIGTERM handler; SIGKILL (the
    // launcher's last resort) works either way, SIGCONT makes it quick.
    for (auto& server : servers_) {
      if (server != nullptr && server->Alive()) {
        EXPECT_THAT(server->Signal(SIGCONT), IsOk());
      }
    }
  }

  void Start(int i, const std::string& raw_listen) {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        StartServer(roots_[i].path(), {"--raw_listen=" + raw_listen});
    ASSERT_THAT(server, IsOk());
    servers_[i] = *std::move(server);
    absl::StatusOr<std::string> address = servers_[i]->Address("raw");
    ASSERT_THAT(address, IsOk());
    addresses_[i] = *address;
  }

  std::vector<std::string> Addresses() const {
    return {addresses_, addresses_ + kBackends};
  }

  std::shared_ptr<BalancedChannel> Channel(
      std::vector<std::string> addresses,
      BalancedChannelOptions options = FastOptions()) {
    absl::StatusOr<std::shared_ptr<BalancedChannel>> channel =
        BalancedChannel::Create(std::move(addresses), std::move(options));
    EXPECT_THAT(channel, IsOk());
    return channel.ok() ? *channel : nullptr;
  }

  // SIGKILL, and waits until it is gone.
  void Kill(int i) {
    ASSERT_THAT(servers_[i]->Signal(SIGKILL), IsOk());
    ASSERT_THAT(servers_[i]->WaitForExit(kWaitTimeout), IsOk());
  }

  TempDir roots_[kBackends];
  std::unique_ptr<ServerProcess> servers_[kBackends];
  std::string addresses_[kBackends];
};

TEST_F(BalancedChannelTest, CallsGoRoundRobinOverEveryBackend) {
  std::shared_ptr<BalancedChannel> channel = Channel(Addresses());
  ASSERT_NE(channel, nullptr);
  EXPECT_EQ(channel->BackendAddresses(), Addresses());
  for (int call = 0; call < 30; ++call) {
    // In order: backend-0, backend-1, backend-2, backend-0, ...
    EXPECT_THAT(WhoAnswers(*channel),
                IsOkAndHolds(absl::StrCat("backend-", call % kBackends)))
        << "call " << call;
  }
}

TEST_F(BalancedChannelTest, DuplicateAddressesWeigh) {
  std::shared_ptr<BalancedChannel> channel =
      Channel({addresses_[0], addresses_[0], addresses_[1]});
  ASSERT_NE(channel, nullptr);
  std::map<std::string, int> answers;
  for (int call = 0; call < 30; ++call) {
    absl::StatusOr<std::string> who = WhoAnswers(*channel);
    ASSERT_THAT(who, IsOk());
    ++answers[*who];
  }
  EXPECT_EQ(answers["backend-0"], 20);
  EXPECT_EQ(answers["backend-1"], 10);
}

// Only the calls in flight on the killed server fail; every later call is
// answered by the other two.
TEST_F(BalancedChannelTest, KilledBackendIsEjectedAndOnlyItsCallsInFlightFail) {
  constexpr int kCallers = 6;
  std::shared_ptr<BalancedChannel> channel = Channel(Addresses());
  ASSERT_NE(channel, nullptr);
  Load load(*channel, kCallers);
  ASSERT_TRUE(load.WaitForAnswers(60));
  ASSERT_NO_FATAL_FAILURE(Kill(1));
  ASSERT_TRUE(load.WaitForAnswers(30));  // some may still be backend-1's
  load.ResetAnswers();
  ASSERT_TRUE(load.WaitForAnswers(150));
  load.Stop();

  const std::map<std::string, int> answers = load.answers();
  EXPECT_EQ(answers.count("backend-1"), 0u);
  EXPECT_GT(answers.at("backend-0"), 0);
  EXPECT_GT(answers.at("backend-2"), 0);
  // At most one call per caller can have been on backend-1 when it died.
  const std::vector<absl::Status> failures = load.failures();
  EXPECT_LE(failures.size(), static_cast<size_t>(kCallers));
  for (const absl::Status& failure : failures) {
    // Lost with the connection, never refused: a call that found the
    // port closed was not sent, and went to another backend.
    EXPECT_THAT(failure, StatusIs(absl::StatusCode::kUnavailable,
                                  Not(HasSubstr("refused"))));
  }
  RecordProperty("calls_failed_on_the_killed_backend",
                 static_cast<int>(failures.size()));
  EXPECT_EQ(channel->EjectedCount(), 1);
}

// A drain (SIGTERM: GOAWAY, then exit) fails nothing: the calls it took
// finish there, the ones it did not take go elsewhere.
TEST_F(BalancedChannelTest, DrainedBackendFailsNoCall) {
  std::shared_ptr<BalancedChannel> channel = Channel(Addresses());
  ASSERT_NE(channel, nullptr);
  Load load(*channel, 6);
  ASSERT_TRUE(load.WaitForAnswers(60));
  ASSERT_THAT(servers_[1]->Signal(SIGTERM), IsOk());
  EXPECT_THAT(servers_[1]->WaitForExit(kWaitTimeout), IsOkAndHolds(0));
  load.ResetAnswers();
  ASSERT_TRUE(load.WaitForAnswers(150));
  load.Stop();
  EXPECT_THAT(load.failures(), ::testing::IsEmpty());
  EXPECT_EQ(load.answers().count("backend-1"), 0u);
}

// SIGSTOP keeps the connection up and answers nothing: only the health
// check (PING without PONG) can tell, and ejects it.
TEST_F(BalancedChannelTest, StoppedBackendIsEjectedByTheHealthCheck) {
  std::shared_ptr<BalancedChannel> channel = Channel(Addresses());
  ASSERT_NE(channel, nullptr);
  for (int call = 0; call < kBackends; ++call) {
    ASSERT_THAT(WhoAnswers(*channel), IsOk());  // every connection up
  }
  ASSERT_THAT(servers_[1]->Signal(SIGSTOP), IsOk());
  EXPECT_TRUE(Eventually([&]() { return channel->EjectedCount() == 1; }));
  std::map<std::string, int> answers;
  for (int call = 0; call < 30; ++call) {
    absl::StatusOr<std::string> who = WhoAnswers(*channel, absl::Seconds(5));
    ASSERT_THAT(who, IsOk()) << "call " << call;
    ++answers[*who];
  }
  EXPECT_EQ(answers.count("backend-1"), 0u);
  EXPECT_EQ(answers["backend-0"], 15);
  EXPECT_EQ(answers["backend-2"], 15);
}

// Killed, then started again on the same port: readmitted after backoff.
TEST_F(BalancedChannelTest, RestartedBackendIsUsedAgainAfterBackoff) {
  std::shared_ptr<BalancedChannel> channel = Channel(Addresses());
  ASSERT_NE(channel, nullptr);
  for (int call = 0; call < kBackends; ++call) {
    ASSERT_THAT(WhoAnswers(*channel), IsOk());
  }
  ASSERT_NO_FATAL_FAILURE(Kill(1));
  // Its next pick finds the port closed (retried elsewhere) and ejects it.
  for (int call = 0; call < kBackends; ++call) {
    ASSERT_THAT(WhoAnswers(*channel), IsOk());
  }
  EXPECT_EQ(channel->EjectedCount(), 1);
  const std::string address = addresses_[1];
  ASSERT_NO_FATAL_FAILURE(Start(1, address));
  ASSERT_EQ(addresses_[1], address);
  EXPECT_TRUE(Eventually([&]() { return channel->EjectedCount() == 0; }));
  std::map<std::string, int> answers;
  for (int call = 0; call < 30; ++call) {
    absl::StatusOr<std::string> who = WhoAnswers(*channel);
    ASSERT_THAT(who, IsOk());
    ++answers[*who];
  }
  EXPECT_EQ(answers["backend-1"], 10);
}

TEST_F(BalancedChannelTest, EveryBackendDownIsUnavailableNamingTheLastError) {
  std::shared_ptr<BalancedChannel> channel = Channel(Addresses());
  ASSERT_NE(channel, nullptr);
  for (int i = 0; i < kBackends; ++i) ASSERT_NO_FATAL_FAILURE(Kill(i));
  const absl::Time start = absl::Now();
  EXPECT_THAT(WhoAnswers(*channel),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("no raw backend is available (3 ejected): ")));
  // At once (wait_for_ready is false), not at the deadline.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_THAT(WhoAnswers(*channel),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("no raw backend is available (3 ejected)")));
}

// The first address refuses connections: every call's attempt there is
// unsent, so it goes to the next backend and no call fails.
TEST_F(BalancedChannelTest, RefusingFirstAddressStillServesEveryCall) {
  base::ScopedFd refusing;
  const std::string refused = RefusingAddress(&refusing);
  std::shared_ptr<BalancedChannel> channel =
      Channel({refused, addresses_[0], addresses_[1]});
  ASSERT_NE(channel, nullptr);
  std::map<std::string, int> answers;
  for (int call = 0; call < 30; ++call) {
    absl::StatusOr<std::string> who = WhoAnswers(*channel);
    ASSERT_THAT(who, IsOk()) << "call " << call;
    ++answers[*who];
  }
  EXPECT_EQ(answers["backend-0"] + answers["backend-1"], 30);
  EXPECT_GT(answers["backend-0"], 0);
  EXPECT_GT(answers["backend-1"], 0);
}

TEST_F(BalancedChannelTest, RawDnsResolvesLocalhostIntoBackends) {
  const std::string& address = addresses_[2];
  const std::string port = address.substr(address.rfind(':') + 1);
  absl::StatusOr<std::shared_ptr<BalancedChannel>> channel =
      BalancedChannel::CreateForDns("localhost:" + port, FastOptions());
  ASSERT_THAT(channel, IsOk());
  EXPECT_THAT((*channel)->BackendAddresses(),
              ::testing::Contains("127.0.0.1:" + port));
  // localhost may also resolve to ::1, where nothing listens: retried.
  for (int call = 0; call < 6; ++call) {
    EXPECT_THAT(WhoAnswers(**channel), IsOkAndHolds("backend-2"));
  }
  EXPECT_THAT(BalancedChannel::CreateForDns("unresolvable.invalid:1"),
              StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace dualrpc::raw
