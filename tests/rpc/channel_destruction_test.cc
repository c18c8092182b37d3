// rpc::Channel's destruction contract (rpc/channel.h), one body on BOTH
// transports: a channel (or the generated client holding its last
// reference) destroyed inside its own done, with calls in flight, and from
// another thread while calls complete; each call's done runs exactly once.
// And the blocking and typed calls of rpc/client_call.h completing when a
// channel drops their done without running it.

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "dualrpc/grpc/grpc_channel.h"
#include "dualrpc/grpc/grpc_server.h"
#include "dualrpc/grpc/registry_grpc_service.h"
#include "dualrpc/raw/client/raw_channel.h"
#include "dualrpc/raw/server/raw_server.h"
#include "dualrpc/rpc/client_call.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/test/v1/inventory.dualrpc.h"
#include "google/protobuf/empty.pb.h"
#include "gtest/gtest.h"
#include "rpc/inventory_service.h"
#include "testing/wait.h"

namespace dualrpc::rpc {
namespace {

using ::dualrpc::test::v1::InventoryClient;
using ::dualrpc::test::v1::Item;
using ::dualrpc::test::v1::Item_Key;

// Longest wait for anything in these tests; a pass takes milliseconds.
constexpr absl::Duration kWait = absl::Seconds(20);

Item_Key Key(const std::string& sku) {
  Item_Key key;
  key.set_sku(sku);
  return key;
}

// The statuses that calls' dones were run with, by call index: counts how
// often each ran, so that "exactly once" is checked, not assumed.
class Outcomes {
 public:
  explicit Outcomes(int calls) : runs_(calls, 0), statuses_(calls) {}

  void Record(int call, absl::Status status) {
    absl::MutexLock lock(&mu_);
    ++runs_[call];
    statuses_[call] = std::move(status);
    ++total_runs_;
  }

  // True once `n` dones have run (in total), false after kWait.
  bool WaitForRuns(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return total_runs_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }

  int total_runs() {
    absl::MutexLock lock(&mu_);
    return total_runs_;
  }
  int runs(int call) {
    absl::MutexLock lock(&mu_);
    return runs_[call];
  }
  absl::Status status(int call) {
    absl::MutexLock lock(&mu_);
    return statuses_[call];
  }

 private:
  absl::Mutex mu_;
  std::vector<int> runs_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Status> statuses_ ABSL_GUARDED_BY(mu_);
  int total_runs_ ABSL_GUARDED_BY(mu_) = 0;
};

class ChannelDestructionTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(test::v1::RegisterInventory(&service_, &registry_).ok());
    if (GetParam() == "raw") {
      raw::RawServer::Options options;
      options.event_loop_threads = 2;
      // Room for the held calls on one connection: each call in flight
      // reserves max_message_bytes of its output limit (PROTOCOL.md §4.3).
      options.output_high_water_bytes =
          std::size_t{16} * options.max_message_bytes;
      absl::StatusOr<std::unique_ptr<raw::RawServer>> server =
          raw::RawServer::Start(options, &registry_);
      ASSERT_TRUE(server.ok()) << server.status();
      raw_server_ = *std::move(server);
      return;
    }
    absl::StatusOr<std::vector<std::unique_ptr<::grpc::Service>>> services =
        grpc::MakeGrpcServices(registry_);
    ASSERT_TRUE(services.ok()) << services.status();
    grpc_services_ = *std::move(services);
    std::vector<::grpc::Service*> raw_services;
    for (const auto& service : grpc_services_)
      raw_services.push_back(service.get());
    grpc::GrpcServerOptions options;
    options.listen_address = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<grpc::GrpcServer>> server =
        grpc::GrpcServer::Start(options, raw_services);
    ASSERT_TRUE(server.ok()) << server.status();
    grpc_server_ = *std::move(server);
  }

  // A server waits for its calls: held ones must be completed first.
  void TearDown() override { service_.Shutdown(); }

  std::shared_ptr<Channel> NewChannel() {
    if (GetParam() == "raw") {
      absl::StatusOr<std::shared_ptr<raw::RawChannel>> channel =
          raw::RawChannel::Create(raw_server_->address());
      EXPECT_TRUE(channel.ok()) << channel.status();
      return channel.ok() ? *std::move(channel) : nullptr;
    }
    absl::StatusOr<std::shared_ptr<grpc::GrpcChannel>> channel =
        grpc::GrpcChannel::Create(grpc_server_->address());
    EXPECT_TRUE(channel.ok()) << channel.status();
    return channel.ok() ? *std::move(channel) : nullptr;
  }

  // Starts `count` Hold calls, recorded as calls first..first+count-1 of
  // `outcomes`, and waits until the service holds them all.
  void StartHeldCalls(InventoryClient& client, int first, int count,
                      Outcomes* outcomes) {
    for (int i = first; i < first + count; ++i) {
      client.HoldAsync(
          google::protobuf::Empty(), {},
          [outcomes, i](absl::StatusOr<google::protobuf::Empty> held) {
            outcomes->Record(i, held.status());
          });
    }
    ASSERT_TRUE(
        service_.WaitForHeldCalls(count, dualrpc_testing::kWaitTimeout));
  }

  // Declared in dependency order: servers stopped before the service goes.
  InventoryService service_;
  ServiceRegistry registry_;
  std::vector<std::unique_ptr<::grpc::Service>> grpc_services_;
  std::unique_ptr<grpc::GrpcServer> grpc_server_;
  std::unique_ptr<raw::RawServer> raw_server_;
};

// The channel's last reference dropped inside one of its dones, with
// another call in flight. The raw channel used to join its own I/O thread
// there (std::terminate, "Resource deadlock avoided", exit 134).
TEST_P(ChannelDestructionTest, ChannelDroppedInsideItsOwnDone) {
  std::shared_ptr<Channel> channel = NewChannel();
  ASSERT_NE(channel, nullptr);
  Outcomes outcomes(2);
  {
    InventoryClient holder(channel);
    StartHeldCalls(holder, /*first=*/1, /*count=*/1, &outcomes);
  }
  const Item_Key request = Key("apple");
  Item response;
  // The done waits until StartUnaryCall has returned: the channel must not
  // be destroyed under a call of its own method.
  absl::Notification started;
  channel->StartUnaryCall(
      InventoryClient::kGetItemMethod, request, &response, {},
      [&](absl::Status status) {
        outcomes.Record(0, std::move(status));
        EXPECT_TRUE(started.WaitForNotificationWithTimeout(kWait));
        channel.reset();
      });
  started.Notify();
  ASSERT_TRUE(outcomes.WaitForRuns(2))
      << "dones run: " << outcomes.total_runs();
  EXPECT_EQ(outcomes.status(0).code(), absl::StatusCode::kNotFound)
      << outcomes.status(0);
  EXPECT_EQ(outcomes.status(1).code(), absl::StatusCode::kCancelled)
      << outcomes.status(1);
  EXPECT_EQ(outcomes.runs(0), 1);
  EXPECT_EQ(outcomes.runs(1), 1);
}

// The same through a generated client that holds the last reference.
TEST_P(ChannelDestructionTest, GeneratedClientDroppedInsideItsOwnDone) {
  auto client = std::make_unique<InventoryClient>(NewChannel());
  Outcomes outcomes(3);
  StartHeldCalls(*client, /*first=*/1, /*count=*/2, &outcomes);
  absl::Notification started;
  client->GetItemAsync(Key("apple"), {}, [&](absl::StatusOr<Item> item) {
    outcomes.Record(0, item.status());
    EXPECT_TRUE(started.WaitForNotificationWithTimeout(kWait));
    client.reset();
  });
  started.Notify();
  ASSERT_TRUE(outcomes.WaitForRuns(3))
      << "dones run: " << outcomes.total_runs();
  EXPECT_EQ(outcomes.status(0).code(), absl::StatusCode::kNotFound)
      << outcomes.status(0);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(outcomes.runs(i), 1) << i;
  for (int i = 1; i < 3; ++i) {
    EXPECT_EQ(outcomes.status(i).code(), absl::StatusCode::kCancelled)
        << outcomes.status(i);
  }
}

// Destroyed off the transport's threads with calls parked at the server:
// every done has run, with CANCELLED, by the time the destructor returns
// (gRPC used to leave them in flight until the server answered).
TEST_P(ChannelDestructionTest, DestroyedWithCallsInFlightCompletesThemFirst) {
  constexpr int kCalls = 8;
  auto client = std::make_unique<InventoryClient>(NewChannel());
  Outcomes outcomes(kCalls);
  StartHeldCalls(*client, 0, kCalls, &outcomes);
  client.reset();
  // No waiting: the contract says "before the destructor returns".
  EXPECT_EQ(outcomes.total_runs(), kCalls);
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(outcomes.runs(i), 1) << i;
    EXPECT_EQ(outcomes.status(i).code(), absl::StatusCode::kCancelled)
        << outcomes.status(i);
  }
}

// Destroyed on another thread while responses are arriving: each done runs
// exactly once, all before the destroying thread is done.
TEST_P(ChannelDestructionTest, DestroyedFromAnotherThreadWhileCallsComplete) {
  constexpr int kHeld = 4;
  constexpr int kQuick = 300;
  auto client = std::make_unique<InventoryClient>(NewChannel());
  Outcomes outcomes(kHeld + kQuick);
  StartHeldCalls(*client, 0, kHeld, &outcomes);
  for (int i = kHeld; i < kHeld + kQuick; ++i) {
    client->GetItemAsync(Key("apple"), {},
                         [&outcomes, i](absl::StatusOr<Item> item) {
                           outcomes.Record(i, item.status());
                         });
  }
  std::thread destroyer(
      [client = std::move(client)]() mutable { client.reset(); });
  destroyer.join();
  EXPECT_EQ(outcomes.total_runs(), kHeld + kQuick);
  for (int i = 0; i < kHeld + kQuick; ++i) {
    EXPECT_EQ(outcomes.runs(i), 1) << i;
    const absl::StatusCode code = outcomes.status(i).code();
    if (i < kHeld) {
      EXPECT_EQ(code, absl::StatusCode::kCancelled) << outcomes.status(i);
    } else {
      EXPECT_TRUE(code == absl::StatusCode::kNotFound ||
                  code == absl::StatusCode::kCancelled)
          << outcomes.status(i);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(BothTransports, ChannelDestructionTest,
                         ::testing::Values("grpc", "raw"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// A Channel that breaks its contract: keeps each done and destroys it
// unrun on DropAll(), as a transport destroyed with the call pending would.
class DroppingChannel final : public Channel {
 public:
  ClientStream* NewStream(absl::string_view, MethodKind,
                               const CallOptions&,
                               ClientStreamReactor* reactor) override {
    return NewFailedStream(
        reactor, absl::UnimplementedError("this fake has no streaming calls"));
  }
  void StartUnaryCall(absl::string_view, const google::protobuf::MessageLite&,
                      google::protobuf::MessageLite*, const CallOptions&,
                      UnaryDone done) override {
    {
      absl::MutexLock lock(&mu_);
      dones_.push_back(std::move(done));
    }
    if (!started_.HasBeenNotified()) started_.Notify();
  }
  void DropAll() {
    std::vector<UnaryDone> dropped;
    absl::MutexLock lock(&mu_);
    dropped.swap(dones_);
  }
  // True once a call was started, false after `timeout`.
  bool WaitUntilStarted(absl::Duration timeout) {
    return started_.WaitForNotificationWithTimeout(timeout);
  }

 private:
  absl::Mutex mu_;
  std::vector<UnaryDone> dones_ ABSL_GUARDED_BY(mu_);
  absl::Notification started_;
};

// Runs `call` on its own thread and returns its result, or nullopt if it
// did not return within kWait (the thread is then left behind, detached,
// with what it uses: a hung call cannot be joined).
template <typename Result>
std::optional<Result> ReturnsInTime(absl::AnyInvocable<Result()> call,
                                    DroppingChannel* channel) {
  struct Shared {
    absl::AnyInvocable<Result()> call;
    std::optional<Result> result;
    absl::Notification returned;
  };
  auto shared = std::make_shared<Shared>();
  shared->call = std::move(call);
  std::thread caller([shared]() {
    shared->result = shared->call();
    shared->returned.Notify();
  });
  // Once the call is pending in the channel, the channel drops it.
  EXPECT_TRUE(channel->WaitUntilStarted(kWait));
  channel->DropAll();
  if (!shared->returned.WaitForNotificationWithTimeout(kWait)) {
    caller.detach();
    return std::nullopt;
  }
  caller.join();
  return std::move(shared->result);
}

TEST(DroppedDoneTest, BlockingCallCompletesWhenTheChannelDropsItsDone) {
  auto channel = std::make_shared<DroppingChannel>();
  std::optional<absl::StatusOr<Item>> item =
      ReturnsInTime<absl::StatusOr<Item>>(
          [channel]() {
            return CallUnaryAndWait<Item>(
                *channel, InventoryClient::kGetItemMethod, Key("apple"), {});
          },
          channel.get());
  ASSERT_TRUE(item.has_value())
      << "CallUnaryAndWait still waits on a dropped call";
  EXPECT_EQ(item->status().code(), absl::StatusCode::kInternal)
      << item->status();
  EXPECT_EQ(item->status(), DroppedCallStatus());
}

TEST(DroppedDoneTest,
     GeneratedBlockingCallCompletesWhenTheChannelDropsItsDone) {
  auto channel = std::make_shared<DroppingChannel>();
  InventoryClient client(channel);
  std::optional<absl::StatusOr<Item>> item =
      ReturnsInTime<absl::StatusOr<Item>>(
          [&client]() { return client.GetItem(Key("apple")); }, channel.get());
  ASSERT_TRUE(item.has_value())
      << "the generated GetItem still waits on a dropped call";
  EXPECT_EQ(item->status(), DroppedCallStatus());
}

TEST(DroppedDoneTest, TypedCallCompletesWhenTheChannelDropsItsDone) {
  auto channel = std::make_shared<DroppingChannel>();
  InventoryClient client(channel);
  absl::Notification done;
  absl::Status status;
  client.GetItemAsync(Key("apple"), {}, [&](absl::StatusOr<Item> item) {
    status = item.status();
    done.Notify();
  });
  EXPECT_FALSE(done.HasBeenNotified());
  channel->DropAll();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(status, DroppedCallStatus());
}

}  // namespace
}  // namespace dualrpc::rpc
