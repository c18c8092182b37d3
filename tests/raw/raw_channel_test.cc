// RawChannel (the raw transport's client) against a real RawServer on
// loopback: multiplexing with out-of-order completion, local deadlines with
// CANCEL, reconnect after the server went away, GOAWAY during a drain, and
// a connect that never completes stalling neither the I/O thread nor the
// channel's other connection.

#include "dualrpc/raw/client/raw_channel.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "dualrpc/net/socket_ops.h"
#include "dualrpc/raw/server/raw_server.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "raw/echo_methods.h"
#include "testing/echo_call.h"
#include "testing/status_matchers.h"
#include "testing/unary_method.h"
#include "testing/wait.h"

namespace dualrpc::raw {
namespace {

using ::dualrpc_testing::Eventually;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::kWaitTimeout;
using ::dualrpc_testing::StatusIs;
using ::dualrpc_testing::UnaryMethodFrom;
using ::testing::HasSubstr;

constexpr char kEcho[] = "/test.Parking/Echo";
constexpr char kPark[] = "/test.Parking/Park";
constexpr char kPeer[] = "/test.Parking/Peer";

// Echo answers at once; Park holds every call until the test releases it.
class Parking {
 public:
  void Register(rpc::ServiceRegistry* registry) {
    // Echo, and Peer: which connection the call came on.
    AddEchoAndPeerMethods(kEcho, kPeer, registry);
    ASSERT_THAT(
        registry->AddMethod(UnaryMethodFrom<v1::EchoRequest, v1::EchoResponse>(
            kPark,
            [this](rpc::ServerCallContext* context,
                   const v1::EchoRequest& request, v1::EchoResponse* response,
                   rpc::UnaryDone done) {
              response->set_payload(request.payload());
              absl::MutexLock lock(&mu_);
              parked_.push_back({context, std::move(done)});
            })),
        IsOk());
  }

  // True once at least `n` calls are parked; false if that did not happen
  // within `timeout`.
  bool WaitForParked(std::size_t n, absl::Duration timeout = kWaitTimeout) {
    absl::MutexLock lock(&mu_);
    wanted_ = n;
    return mu_.AwaitWithTimeout(absl::Condition(this, &Parking::EnoughParked),
                                timeout);
  }

  bool AnyCancelled() {
    absl::MutexLock lock(&mu_);
    return std::any_of(parked_.begin(), parked_.end(), [](const Call& call) {
      return call.context->IsCancelled();
    });
  }

  // Completes every parked call, last parked first.
  void ReleaseInReverse() {
    std::vector<Call> calls;
    {
      absl::MutexLock lock(&mu_);
      calls.swap(parked_);
    }
    for (auto it = calls.rbegin(); it != calls.rend(); ++it)
      std::move(it->done)(absl::OkStatus());
  }

 private:
  struct Call {
    rpc::ServerCallContext* context;
    rpc::UnaryDone done;
  };
  bool EnoughParked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return parked_.size() >= wanted_;
  }

  absl::Mutex mu_;
  std::vector<Call> parked_ ABSL_GUARDED_BY(mu_);
  std::size_t wanted_ ABSL_GUARDED_BY(mu_) = 0;
};

std::unique_ptr<RawServer> StartServer(
    const rpc::ServiceRegistry* registry,
    const std::string& address = "127.0.0.1:0",
    RawServer::Options options = {}) {
  options.listen_address = address;
  options.event_loop_threads = 1;
  // Room for 64 parked calls on one connection: each call in flight
  // reserves max_message_bytes of the connection's output limit (§4.3).
  options.output_high_water_bytes =
      std::size_t{80} * options.max_message_bytes;
  absl::StatusOr<std::unique_ptr<RawServer>> server =
      RawServer::Start(options, registry);
  EXPECT_THAT(server, IsOk());
  return server.ok() ? *std::move(server) : nullptr;
}

// One call of `method` with `payload`: the response's payload or the call's
// status. If its done has not run within kWaitTimeout, fails the test and
// returns INTERNAL (a code no caller expects); the done may still run later,
// on state it shares.
absl::StatusOr<std::string> Call(rpc::Channel& channel, const char* method,
                                 const std::string& payload,
                                 absl::Duration timeout = absl::Seconds(10)) {
  return dualrpc_testing::EchoCall(channel, payload, method, timeout);
}

class RawChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    parking_.Register(&registry_);
    server_ = StartServer(&registry_);
    ASSERT_NE(server_, nullptr);
    absl::StatusOr<std::shared_ptr<raw::RawChannel>> channel =
        raw::RawChannel::Create(server_->address());
    ASSERT_THAT(channel, IsOk());
    channel_ = *std::move(channel);
  }
  void TearDown() override { parking_.ReleaseInReverse(); }

  Parking parking_;
  rpc::ServiceRegistry registry_;
  std::unique_ptr<RawServer> server_;
  std::shared_ptr<raw::RawChannel> channel_;
};

TEST_F(RawChannelTest, SixtyFourCallsOnOneConnectionCompleteOutOfOrder) {
  constexpr int kCalls = 64;
  std::vector<v1::EchoRequest> requests(kCalls);
  std::vector<v1::EchoResponse> responses(kCalls);
  std::vector<absl::Status> statuses(kCalls);
  std::vector<int> completion_order;
  absl::Mutex mu;
  dualrpc_testing::Countdown pending(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    requests[i].set_payload(absl::StrCat("call-", i));
    channel_->StartUnaryCall(kPark, requests[i], &responses[i], {},
                             [&, i](absl::Status status) {
                               statuses[i] = std::move(status);
                               {
                                 absl::MutexLock lock(&mu);
                                 completion_order.push_back(i);
                               }
                               // Last: once the count reaches zero the test may
                               // destroy `mu`.
                               pending.CountDown();
                             });
  }
  ASSERT_TRUE(parking_.WaitForParked(kCalls));
  parking_.ReleaseInReverse();
  ASSERT_TRUE(pending.WaitForZero(kWaitTimeout));
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_THAT(statuses[i], IsOk()) << i;
    EXPECT_EQ(responses[i].payload(), requests[i].payload());
  }
  // The server completed them last-first, and the client matched each
  // response to its call by id.
  EXPECT_EQ(completion_order.front(), kCalls - 1);
  EXPECT_EQ(completion_order.back(), 0);
}

TEST_F(RawChannelTest, LocalDeadlineCancelsTheServerCall) {
  absl::StatusOr<std::string> result =
      Call(*channel_, kPark, "slow", absl::Milliseconds(50));
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kDeadlineExceeded));
  ASSERT_TRUE(parking_.WaitForParked(1));
  EXPECT_TRUE(Eventually([this] { return parking_.AnyCancelled(); }));
  // The connection is still good.
  EXPECT_THAT(Call(*channel_, kEcho, "after"), IsOkAndHolds("after"));
}

TEST_F(RawChannelTest, ReconnectsAfterTheServerWentAway) {
  ASSERT_THAT(Call(*channel_, kEcho, "first"), IsOkAndHolds("first"));
  const std::string address = server_->address();
  server_.reset();  // Drains and closes: the connection is gone.
  EXPECT_THAT(Call(*channel_, kEcho, "nobody"),
              StatusIs(absl::StatusCode::kUnavailable));

  server_ = StartServer(&registry_, address);
  ASSERT_NE(server_, nullptr);
  EXPECT_THAT(Call(*channel_, kEcho, "again"), IsOkAndHolds("again"));
}

TEST_F(RawChannelTest, DrainFinishesCallsInFlight) {
  v1::EchoRequest request;
  request.set_payload("in flight");
  v1::EchoResponse response;
  absl::Notification done;
  absl::Status status;
  channel_->StartUnaryCall(kPark, request, &response, {}, [&](absl::Status s) {
    status = std::move(s);
    done.Notify();
  });
  ASSERT_TRUE(parking_.WaitForParked(1));
  server_->Drain(absl::Seconds(30));
  parking_.ReleaseInReverse();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWaitTimeout));
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(response.payload(), "in flight");
  server_->Wait();
  // Not accepting any more: a new call cannot be served.
  EXPECT_THAT(Call(*channel_, kEcho, "late"),
              StatusIs(absl::StatusCode::kUnavailable));
}

// §5.6: the server's SETTINGS max_message_bytes binds the client: a larger
// request fails here with RESOURCE_EXHAUSTED and is never sent, on both
// send paths (posted from this thread, and started from a done on the I/O
// thread). The server's own refusal would say "exceeds the limit of".
TEST_F(RawChannelTest, ServersAnnouncedMessageLimitFailsLargerRequestsLocally) {
  constexpr char kCounted[] = "/test.Counted/Echo";
  std::atomic<int> served{0};
  rpc::ServiceRegistry registry;
  ASSERT_THAT(
      registry.AddMethod(UnaryMethodFrom<v1::EchoRequest, v1::EchoResponse>(
          kCounted,
          [&served](rpc::ServerCallContext*, const v1::EchoRequest& request,
                    v1::EchoResponse* response, rpc::UnaryDone done) {
            served.fetch_add(1);
            response->set_payload(request.payload());
            std::move(done)(absl::OkStatus());
          })),
      IsOk());
  RawServer::Options options;
  options.max_message_bytes = 1000;
  std::unique_ptr<RawServer> small =
      StartServer(&registry, "127.0.0.1:0", options);
  ASSERT_NE(small, nullptr);
  absl::StatusOr<std::shared_ptr<raw::RawChannel>> created =
      raw::RawChannel::Create(small->address());
  ASSERT_THAT(created, IsOk());
  std::shared_ptr<raw::RawChannel> channel = *std::move(created);
  // The first call connects; its answer comes after the SETTINGS.
  ASSERT_THAT(Call(*channel, kCounted, "small"), IsOkAndHolds("small"));

  const std::string big(2000, 'x');  // Under the client's own 4 MiB.
  EXPECT_THAT(Call(*channel, kCounted, big),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("exceeds the server's limit of 1000 bytes")));

  v1::EchoRequest first;
  first.set_payload("first");
  v1::EchoRequest second;
  second.set_payload(big);
  v1::EchoResponse first_response;
  v1::EchoResponse second_response;
  absl::Notification done;
  absl::Status chained;
  channel->StartUnaryCall(
      kCounted, first, &first_response, {}, [&](absl::Status status) {
        EXPECT_THAT(status, IsOk());
        channel->StartUnaryCall(kCounted, second, &second_response, {},
                                [&](absl::Status status) {
                                  chained = std::move(status);
                                  done.Notify();
                                });
      });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWaitTimeout));
  EXPECT_THAT(chained,
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("exceeds the server's limit of 1000 bytes")));
  // The connection is unharmed: nothing oversized reached the server.
  EXPECT_THAT(Call(*channel, kCounted, "after"), IsOkAndHolds("after"));
  EXPECT_EQ(served.load(), 3) << "an oversized request reached the server";
}

// Each call starts the next from its done, on the channel's I/O thread (the
// direct path that skips the mailbox), as pipelined callers do.
TEST_F(RawChannelTest, CallsChainedFromDoneComplete) {
  constexpr int kCalls = 200;
  struct Chain {
    raw::RawChannel* channel = nullptr;
    v1::EchoRequest request;
    v1::EchoResponse response;
    int completed = 0;
    int mismatches = 0;
    absl::Status last_error;
    absl::Notification done;

    void Start() {
      request.set_payload(absl::StrCat("link-", completed));
      channel->StartUnaryCall(kEcho, request, &response, {},
                              [this](absl::Status status) {
                                if (!status.ok()) {
                                  last_error = std::move(status);
                                  done.Notify();
                                  return;
                                }
                                if (response.payload() != request.payload())
                                  ++mismatches;
                                if (++completed == kCalls) {
                                  done.Notify();
                                  return;
                                }
                                Start();
                              });
    }
  } chain;
  chain.channel = channel_.get();
  chain.Start();
  ASSERT_TRUE(chain.done.WaitForNotificationWithTimeout(kWaitTimeout));
  ASSERT_THAT(chain.last_error, IsOk());
  EXPECT_EQ(chain.completed, kCalls);
  EXPECT_EQ(chain.mismatches, 0);
}

// A call started from a response's done goes on the connection that response
// came on (the slot it freed), not round-robin: a closed loop keeps its
// follow-ups in one send per connection.
TEST_F(RawChannelTest, CallStartedFromDoneStaysOnItsConnection) {
  raw::RawChannelOptions options;
  options.connections = 2;
  absl::StatusOr<std::shared_ptr<raw::RawChannel>> created =
      raw::RawChannel::Create(server_->address(), options);
  ASSERT_THAT(created, IsOk());
  std::shared_ptr<raw::RawChannel> channel = *std::move(created);
  // Round-robin from outside the I/O thread: two calls, two connections.
  absl::StatusOr<std::string> first = Call(*channel, kPeer, "");
  absl::StatusOr<std::string> second = Call(*channel, kPeer, "");
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  ASSERT_NE(*first, *second);

  constexpr int kLinks = 6;
  struct Chain {
    raw::RawChannel* channel = nullptr;
    v1::EchoRequest request;
    v1::EchoResponse response;
    std::vector<std::string> peers;
    absl::Status error;
    absl::Notification done;

    void Start() {
      channel->StartUnaryCall(kPeer, request, &response, {},
                              [this](absl::Status status) {
                                if (!status.ok()) error = std::move(status);
                                peers.push_back(response.payload());
                                if (!error.ok() || peers.size() == kLinks) {
                                  done.Notify();
                                  return;
                                }
                                Start();
                              });
    }
  } chain;
  chain.channel = channel.get();
  chain.Start();
  ASSERT_TRUE(chain.done.WaitForNotificationWithTimeout(kWaitTimeout));
  ASSERT_THAT(chain.error, IsOk());
  ASSERT_EQ(chain.peers.size(), kLinks);
  for (const std::string& peer : chain.peers)
    EXPECT_EQ(peer, chain.peers.front());
}

// A done that retries after the connection was lost goes through the
// mailbox, not into unbounded recursion, and fails cleanly.
TEST_F(RawChannelTest, RetryFromDoneAfterServerLossFailsCleanly) {
  ASSERT_THAT(Call(*channel_, kEcho, "warm"), IsOkAndHolds("warm"));
  server_.reset();
  absl::Notification done;
  int attempts = 0;
  absl::Status last;
  v1::EchoRequest request;
  v1::EchoResponse response;
  std::function<void()> attempt = [&] {
    channel_->StartUnaryCall(kEcho, request, &response, {},
                             [&](absl::Status status) {
                               last = std::move(status);
                               if (++attempts < 50) {
                                 attempt();
                               } else {
                                 done.Notify();
                               }
                             });
  };
  attempt();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWaitTimeout));
  EXPECT_EQ(attempts, 50);
  EXPECT_THAT(last, StatusIs(absl::StatusCode::kUnavailable));
}

// A listening socket (backlog 0) whose first connection is relayed to
// `target` and whose later connects never complete: once FillBacklog()
// has queued one unaccepted connection, the kernel drops further SYNs, so a
// connect stays in progress for as long as the client waits. Loopback
// only, no network needed. Destroying it closes everything, which ends any
// connect still in progress.
class StalledListener {
 public:
  explicit StalledListener(std::string target) : target_(std::move(target)) {
    absl::StatusOr<base::ScopedFd> listener = net::Listen("127.0.0.1:0", 0);
    EXPECT_THAT(listener, IsOk());
    if (listener.ok()) listener_ = *std::move(listener);
    int stop[2];
    EXPECT_EQ(::pipe(stop), 0);
    stop_read_.Reset(stop[0]);
    stop_write_.Reset(stop[1]);
    relay_ = std::thread([this]() { Relay(); });
  }
  ~StalledListener() {
    stop_write_.Reset();  // EOF on stop_read_ ends the relay.
    relay_.join();
  }

  std::string address() const {
    return net::LocalAddress(listener_.get())->ToHostPort();
  }

  // After the relayed connection is up: queues one connection that nobody
  // accepts, which fills the backlog. False if it did not connect in time.
  bool FillBacklog() {
    bool in_progress = false;
    absl::StatusOr<base::ScopedFd> filler =
        net::StartConnect(*net::LocalAddress(listener_.get()), &in_progress);
    if (!filler.ok()) return false;
    pollfd writable{filler->get(), POLLOUT, 0};
    if (in_progress && ::poll(&writable, 1, 5000) != 1) return false;
    filler_ = *std::move(filler);
    return net::FinishConnect(filler_.get(),
                              *net::LocalAddress(listener_.get()))
        .ok();
  }

 private:
  // Accepts one connection, connects it to target_ and copies bytes both
  // ways until either side closes or the listener is destroyed.
  void Relay() {
    pollfd accept_fds[2] = {{listener_.get(), POLLIN, 0},
                            {stop_read_.get(), POLLIN, 0}};
    if (::poll(accept_fds, 2, -1) < 1 || accept_fds[1].revents != 0) return;
    net::SocketAddress peer;
    absl::StatusOr<base::ScopedFd> client = net::Accept(listener_.get(), &peer);
    if (!client.ok() || !client->valid()) return;
    absl::StatusOr<std::vector<net::SocketAddress>> server =
        net::Resolve(target_);
    if (!server.ok()) return;
    bool in_progress = false;
    absl::StatusOr<base::ScopedFd> upstream =
        net::StartConnect(server->front(), &in_progress);
    if (!upstream.ok()) return;
    pollfd connected{upstream->get(), POLLOUT, 0};
    if (in_progress && ::poll(&connected, 1, 5000) != 1) return;
    const int sides[2] = {client->get(), upstream->get()};
    char bytes[64 * 1024];
    for (;;) {
      pollfd fds[3] = {{sides[0], POLLIN, 0},
                       {sides[1], POLLIN, 0},
                       {stop_read_.get(), POLLIN, 0}};
      if (::poll(fds, 3, -1) < 0 && errno != EINTR) return;
      if (fds[2].revents != 0) return;
      for (int from = 0; from < 2; ++from) {
        if (fds[from].revents == 0) continue;
        const ssize_t n = ::read(sides[from], bytes, sizeof bytes);
        if (n == 0 || (n < 0 && errno != EAGAIN)) return;
        for (ssize_t sent = 0; n > 0 && sent < n;) {
          const ssize_t wrote =
              ::send(sides[1 - from], bytes + sent, n - sent, MSG_NOSIGNAL);
          if (wrote < 0 && errno != EAGAIN) return;
          if (wrote < 0) {
            pollfd room{sides[1 - from], POLLOUT, 0};
            ::poll(&room, 1, 1000);
            continue;
          }
          sent += wrote;
        }
      }
    }
  }

  const std::string target_;
  base::ScopedFd listener_;
  base::ScopedFd filler_;
  base::ScopedFd stop_read_;
  base::ScopedFd stop_write_;
  std::thread relay_;
};

// Starts an Echo of `payload`; `*done` is notified with `*status` set.
struct AsyncCall {
  v1::EchoRequest request;
  v1::EchoResponse response;
  absl::Status status;
  absl::Notification done;

  void Start(rpc::Channel& channel, const std::string& payload,
             absl::Duration timeout = absl::InfiniteDuration()) {
    request.set_payload(payload);
    rpc::CallOptions options;
    options.timeout = timeout;
    channel.StartUnaryCall(kEcho, request, &response, options,
                           [this](absl::Status s) {
                             status = std::move(s);
                             done.Notify();
                           });
  }
};

// Two connections; the first is relayed to the server, the second's connect
// never completes. The stalled connect used to block the I/O thread for its
// whole timeout, stalling the healthy connection's calls too.
TEST_F(RawChannelTest, StalledConnectDoesNotDelayTheOtherConnection) {
  raw::RawChannelOptions options;
  options.connections = 2;
  options.connect_timeout = absl::Seconds(3);
  StalledListener listener(server_->address());
  absl::StatusOr<std::shared_ptr<raw::RawChannel>> created =
      raw::RawChannel::Create(listener.address(), options);
  ASSERT_THAT(created, IsOk());
  std::shared_ptr<raw::RawChannel> channel = *std::move(created);
  // Round-robin from outside the I/O thread: connection 0, 1, 0.
  AsyncCall first;
  first.Start(*channel, "first");
  ASSERT_TRUE(first.done.WaitForNotificationWithTimeout(kWaitTimeout));
  ASSERT_THAT(first.status, IsOk());
  ASSERT_TRUE(listener.FillBacklog());

  AsyncCall stalled;
  stalled.Start(*channel, "stalled");
  AsyncCall third;
  third.Start(*channel, "third");
  // Well within the 3 s that the stalled connect may take.
  ASSERT_TRUE(third.done.WaitForNotificationWithTimeout(absl::Seconds(1)))
      << "a call on the healthy connection waited for the other's connect";
  EXPECT_THAT(third.status, IsOk());
  EXPECT_EQ(third.response.payload(), "third");
  EXPECT_FALSE(stalled.done.HasBeenNotified());

  // The call that waited for the connect fails when the connect times out.
  ASSERT_TRUE(stalled.done.WaitForNotificationWithTimeout(kWaitTimeout));
  EXPECT_THAT(stalled.status,
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("timed out")));
}

// An infinite connect timeout used to become poll(-1): the I/O thread hung
// for good. Now it sets no timer at all, the other connection keeps
// working, the waiting call ends at its own deadline, and the channel can
// still be destroyed.
TEST_F(RawChannelTest, InfiniteConnectTimeoutDoesNotHangTheLoop) {
  raw::RawChannelOptions options;
  options.connections = 2;
  options.connect_timeout = absl::InfiniteDuration();
  // Declared first, destroyed last: an early failed ASSERT closes the
  // listener first, which ends the stalled connect (the old I/O thread
  // would otherwise keep the test from ending).
  std::shared_ptr<raw::RawChannel> channel;
  StalledListener listener(server_->address());
  absl::StatusOr<std::shared_ptr<raw::RawChannel>> created =
      raw::RawChannel::Create(listener.address(), options);
  ASSERT_THAT(created, IsOk());
  channel = *std::move(created);
  AsyncCall first;
  first.Start(*channel, "first");
  ASSERT_TRUE(first.done.WaitForNotificationWithTimeout(kWaitTimeout));
  ASSERT_THAT(first.status, IsOk());
  ASSERT_TRUE(listener.FillBacklog());

  AsyncCall bounded;
  bounded.Start(*channel, "bounded", absl::Milliseconds(300));
  AsyncCall third;
  third.Start(*channel, "third");
  ASSERT_TRUE(third.done.WaitForNotificationWithTimeout(absl::Seconds(2)))
      << "the I/O thread is stuck in the stalled connect";
  EXPECT_THAT(third.status, IsOk());
  // Queued behind the connect, but bounded by its own deadline.
  ASSERT_TRUE(bounded.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_THAT(bounded.status, StatusIs(absl::StatusCode::kDeadlineExceeded));

  // A call with no deadline waits for the connect; destruction cancels it.
  AsyncCall waiting;
  waiting.Start(*channel, "waiting");
  AsyncCall again;
  again.Start(*channel, "again");  // Connection 0: still healthy.
  ASSERT_TRUE(again.done.WaitForNotificationWithTimeout(absl::Seconds(2)));
  // With the connect still stalled (the listener is alive).
  channel.reset();
  ASSERT_TRUE(waiting.done.HasBeenNotified());
  EXPECT_THAT(waiting.status, StatusIs(absl::StatusCode::kCancelled));
}

TEST(RawChannelNoServerTest, UnreachableServerIsUnavailable) {
  absl::StatusOr<std::shared_ptr<raw::RawChannel>> channel =
      raw::RawChannel::Create("127.0.0.1:1");
  ASSERT_THAT(channel, IsOk());
  EXPECT_THAT(Call(**channel, kEcho, "x"),
              StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace dualrpc::raw
