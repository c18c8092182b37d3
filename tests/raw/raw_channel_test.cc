// RawChannel (the raw transport's client) against a real RawServer on
// loopback: multiplexing with out-of-order completion, local deadlines with
// CANCEL, reconnect after the server went away, and GOAWAY during a drain.

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gtest/gtest.h"
#include "dualrpc/raw/client/raw_channel.h"
#include "dualrpc/raw/server/raw_server.h"
#include "dualrpc/rpc/service_registry.h"

namespace dualrpc::raw {
namespace {

constexpr char kEcho[] = "/test.Parking/Echo";
constexpr char kPark[] = "/test.Parking/Park";
constexpr char kPeer[] = "/test.Parking/Peer";

// Echo answers at once; Park holds every call until the test releases it.
class Parking {
 public:
  void Register(rpc::ServiceRegistry* registry) {
    auto factory = [] { return std::make_unique<v1::EchoRequest>(); };
    auto response_factory = [] { return std::make_unique<v1::EchoResponse>(); };
    ASSERT_TRUE(registry
                    ->AddMethod({kEcho, factory, response_factory,
                                 [](rpc::ServerCallContext*, const google::protobuf::Message* request,
                                    google::protobuf::Message* response, rpc::UnaryDone done) {
                                   static_cast<v1::EchoResponse*>(response)->set_payload(
                                       static_cast<const v1::EchoRequest*>(request)->payload());
                                   std::move(done)(absl::OkStatus());
                                 }})
                    .ok());
    // Answers with the caller's address: which connection the call came on.
    ASSERT_TRUE(registry
                    ->AddMethod({kPeer, factory, response_factory,
                                 [](rpc::ServerCallContext* context, const google::protobuf::Message*,
                                    google::protobuf::Message* response, rpc::UnaryDone done) {
                                   static_cast<v1::EchoResponse*>(response)->set_payload(
                                       context->peer());
                                   std::move(done)(absl::OkStatus());
                                 }})
                    .ok());
    ASSERT_TRUE(registry
                    ->AddMethod({kPark, factory, response_factory,
                                 [this](rpc::ServerCallContext* context,
                                        const google::protobuf::Message* request,
                                        google::protobuf::Message* response, rpc::UnaryDone done) {
                                   static_cast<v1::EchoResponse*>(response)->set_payload(
                                       static_cast<const v1::EchoRequest*>(request)->payload());
                                   absl::MutexLock lock(&mu_);
                                   parked_.push_back({context, std::move(done)});
                                 }})
                    .ok());
  }

  void WaitForParked(std::size_t n) {
    absl::MutexLock lock(&mu_);
    wanted_ = n;
    mu_.Await(absl::Condition(this, &Parking::EnoughParked));
  }

  bool AnyCancelled() {
    absl::MutexLock lock(&mu_);
    return std::any_of(parked_.begin(), parked_.end(),
                       [](const Call& call) { return call.context->IsCancelled(); });
  }

  // Completes every parked call, last parked first.
  void ReleaseInReverse() {
    std::vector<Call> calls;
    {
      absl::MutexLock lock(&mu_);
      calls.swap(parked_);
    }
    for (auto it = calls.rbegin(); it != calls.rend(); ++it) std::move(it->done)(absl::OkStatus());
  }

 private:
  struct Call {
    rpc::ServerCallContext* context;
    rpc::UnaryDone done;
  };
  bool EnoughParked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return parked_.size() >= wanted_; }

  absl::Mutex mu_;
  std::vector<Call> parked_ ABSL_GUARDED_BY(mu_);
  std::size_t wanted_ ABSL_GUARDED_BY(mu_) = 0;
};

std::unique_ptr<RawServer> StartServer(const rpc::ServiceRegistry* registry,
                                       const std::string& address = "127.0.0.1:0") {
  RawServer::Options options;
  options.listen_address = address;
  options.event_loop_threads = 1;
  absl::StatusOr<std::unique_ptr<RawServer>> server = RawServer::Start(options, registry);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

absl::StatusOr<std::string> Call(rpc::Channel& channel, const char* method, const std::string& payload,
                                 absl::Duration timeout = absl::Seconds(10)) {
  v1::EchoRequest request;
  request.set_payload(payload);
  v1::EchoResponse response;
  absl::Notification done;
  absl::Status status;
  rpc::CallOptions options;
  options.timeout = timeout;
  channel.StartUnaryCall(method, request, &response, options, [&](absl::Status s) {
    status = std::move(s);
    done.Notify();
  });
  done.WaitForNotification();
  if (!status.ok()) return status;
  return response.payload();
}

class RawChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    parking_.Register(&registry_);
    server_ = StartServer(&registry_);
    ASSERT_NE(server_, nullptr);
    channel_ = *raw::RawChannel::Create(server_->address());
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
  absl::BlockingCounter pending(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    requests[i].set_payload(absl::StrCat("call-", i));
    channel_->StartUnaryCall(kPark, requests[i], &responses[i], {}, [&, i](absl::Status status) {
      statuses[i] = std::move(status);
      {
        absl::MutexLock lock(&mu);
        completion_order.push_back(i);
      }
      // Last: once the count reaches zero the test may destroy `mu`.
      pending.DecrementCount();
    });
  }
  parking_.WaitForParked(kCalls);
  parking_.ReleaseInReverse();
  pending.Wait();
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i];
    EXPECT_EQ(responses[i].payload(), requests[i].payload());
  }
  // The server completed them last-first, and the client matched each
  // response to its call by id.
  EXPECT_EQ(completion_order.front(), kCalls - 1);
  EXPECT_EQ(completion_order.back(), 0);
}

TEST_F(RawChannelTest, LocalDeadlineCancelsTheServerCall) {
  absl::StatusOr<std::string> result = Call(*channel_, kPark, "slow", absl::Milliseconds(50));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
  parking_.WaitForParked(1);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!parking_.AnyCancelled() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_TRUE(parking_.AnyCancelled());
  // The connection is still good.
  EXPECT_EQ(*Call(*channel_, kEcho, "after"), "after");
}

TEST_F(RawChannelTest, ReconnectsAfterTheServerWentAway) {
  ASSERT_EQ(*Call(*channel_, kEcho, "first"), "first");
  const std::string address = server_->address();
  server_.reset();  // Drains and closes: the connection is gone.
  EXPECT_EQ(Call(*channel_, kEcho, "nobody").status().code(), absl::StatusCode::kUnavailable);

  server_ = StartServer(&registry_, address);
  ASSERT_NE(server_, nullptr);
  EXPECT_EQ(*Call(*channel_, kEcho, "again"), "again");
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
  parking_.WaitForParked(1);
  server_->Drain(absl::Seconds(30));
  parking_.ReleaseInReverse();
  done.WaitForNotification();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(response.payload(), "in flight");
  server_->Wait();
  // Not accepting any more: a new call cannot be served.
  EXPECT_EQ(Call(*channel_, kEcho, "late").status().code(), absl::StatusCode::kUnavailable);
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
      channel->StartUnaryCall(kEcho, request, &response, {}, [this](absl::Status status) {
        if (!status.ok()) {
          last_error = std::move(status);
          done.Notify();
          return;
        }
        if (response.payload() != request.payload()) ++mismatches;
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
  chain.done.WaitForNotification();
  ASSERT_TRUE(chain.last_error.ok()) << chain.last_error;
  EXPECT_EQ(chain.completed, kCalls);
  EXPECT_EQ(chain.mismatches, 0);
}

// A call started from a response's done goes on the connection that response
// came on (the slot it freed), not round-robin: a closed loop keeps its
// follow-ups in one send per connection.
TEST_F(RawChannelTest, CallStartedFromDoneStaysOnItsConnection) {
  raw::RawChannelOptions options;
  options.connections = 2;
  std::shared_ptr<raw::RawChannel> channel =
      *raw::RawChannel::Create(server_->address(), options);
  // Round-robin from outside the I/O thread: two calls, two connections.
  absl::StatusOr<std::string> first = Call(*channel, kPeer, "");
  absl::StatusOr<std::string> second = Call(*channel, kPeer, "");
  ASSERT_TRUE(first.ok() && second.ok());
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
      channel->StartUnaryCall(kPeer, request, &response, {}, [this](absl::Status status) {
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
  chain.done.WaitForNotification();
  ASSERT_TRUE(chain.error.ok()) << chain.error;
  ASSERT_EQ(chain.peers.size(), kLinks);
  for (const std::string& peer : chain.peers) EXPECT_EQ(peer, chain.peers.front());
}

// A done that retries after the connection was lost goes through the
// mailbox, not into unbounded recursion, and fails cleanly.
TEST_F(RawChannelTest, RetryFromDoneAfterServerLossFailsCleanly) {
  ASSERT_EQ(*Call(*channel_, kEcho, "warm"), "warm");
  server_.reset();
  absl::Notification done;
  int attempts = 0;
  absl::Status last;
  v1::EchoRequest request;
  v1::EchoResponse response;
  std::function<void()> attempt = [&] {
    channel_->StartUnaryCall(kEcho, request, &response, {}, [&](absl::Status status) {
      last = std::move(status);
      if (++attempts < 50) {
        attempt();
      } else {
        done.Notify();
      }
    });
  };
  attempt();
  done.WaitForNotification();
  EXPECT_EQ(attempts, 50);
  EXPECT_EQ(last.code(), absl::StatusCode::kUnavailable) << last;
}

TEST(RawChannelNoServerTest, UnreachableServerIsUnavailable) {
  auto channel = *raw::RawChannel::Create("127.0.0.1:1");
  EXPECT_EQ(Call(*channel, kEcho, "x").status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace dualrpc::raw
