// The generated client and service base (protoc-gen-dualrpc, for the
// test-only inventory.proto — another package, nested messages, well-known
// types) over BOTH transports: one InventoryService registered in a
// ServiceRegistry, served on a real loopback socket either by GrpcServer
// (through MakeGrpcServices) or by RawServer, and called through the same
// InventoryClient over GrpcChannel or RawChannel. Every test runs on both.
// The streaming cases need the raw and gRPC streaming transports (issue 10);
// until those land, their channels fail every stream with UNIMPLEMENTED.

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
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
#include "dualrpc/rpc/blocking_stream.h"
#include "dualrpc/rpc/reactor.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/test/v1/inventory.dualrpc.h"
#include "gmock/gmock.h"
#include "google/protobuf/empty.pb.h"
#include "gtest/gtest.h"
#include "rpc/inventory_service.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/wait.h"

namespace dualrpc::rpc {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;

using ::dualrpc::rpc::InventoryService;
using ::dualrpc::test::v1::AddItemsRequest;
using ::dualrpc::test::v1::AddItemsResponse;
using ::dualrpc::test::v1::InventoryClient;
using ::dualrpc::test::v1::Item;
using ::dualrpc::test::v1::Item_Key;
using ::dualrpc::test::v1::Summary;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

AddItemsRequest AddRequest(
    const std::vector<std::pair<std::string, int64_t>>& lines) {
  AddItemsRequest request;
  for (const auto& [sku, quantity] : lines) {
    AddItemsRequest::Line* line = request.add_lines();
    line->mutable_key()->set_sku(sku);
    line->set_quantity(quantity);
  }
  return request;
}

Item_Key Key(const std::string& sku) {
  Item_Key key;
  key.set_sku(sku);
  return key;
}

// InventoryService served on one transport, and a generated client of it.
class PluginFixture : public ::testing::Test {
 protected:
  // Serves the registry on `transport` ("grpc" or "raw") and connects
  // client_ to it.
  void Serve(const std::string& transport) {
    ASSERT_THAT(test::v1::RegisterInventory(&service_, &registry_),
                dualrpc_testing::IsOk());
    if (transport == "raw") {
      raw::RawServer::Options options;
      options.event_loop_threads = 2;
      absl::StatusOr<std::unique_ptr<raw::RawServer>> server =
          raw::RawServer::Start(options, &registry_);
      ASSERT_THAT(server, IsOk());
      raw_server_ = *std::move(server);
      absl::StatusOr<std::shared_ptr<raw::RawChannel>> channel =
          raw::RawChannel::Create(raw_server_->address());
      ASSERT_THAT(channel, IsOk());
      client_ = std::make_unique<InventoryClient>(*std::move(channel));
      return;
    }
    absl::StatusOr<std::vector<std::unique_ptr<::grpc::Service>>> services =
        grpc::MakeGrpcServices(registry_);
    ASSERT_THAT(services, IsOk());
    grpc_services_ = *std::move(services);
    std::vector<::grpc::Service*> raw_services;
    for (const auto& service : grpc_services_) {
      raw_services.push_back(service.get());
    }
    grpc::GrpcServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.health_service_names = registry_.ServiceNames();
    absl::StatusOr<std::unique_ptr<grpc::GrpcServer>> server =
        grpc::GrpcServer::Start(options, raw_services);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);

    absl::StatusOr<std::shared_ptr<grpc::GrpcChannel>> channel =
        grpc::GrpcChannel::Create(server_->address());
    ASSERT_THAT(channel, IsOk());
    client_ = std::make_unique<InventoryClient>(*std::move(channel));
  }

  // A server waits for its calls: held ones must be completed first.
  void TearDown() override { service_.Shutdown(); }

  // Declared in dependency order: destroyed client first, service last.
  // server_ is set on "grpc" only, raw_server_ on "raw" only.
  InventoryService service_;
  ServiceRegistry registry_;
  std::vector<std::unique_ptr<::grpc::Service>> grpc_services_;
  std::unique_ptr<grpc::GrpcServer> server_;
  std::unique_ptr<raw::RawServer> raw_server_;
  std::unique_ptr<InventoryClient> client_;
};

// The cases both transports must pass alike.
class PluginTest : public PluginFixture,
                   public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(Serve(GetParam())); }
};

// The cases about gRPC alone (server reflection, health).
class PluginGrpcTest : public PluginFixture {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(Serve("grpc")); }
};

TEST_P(PluginTest, SynchronousCallsCarryNestedAndWellKnownTypes) {
  absl::StatusOr<AddItemsResponse> added =
      client_->AddItems(AddRequest({{"apple", 3}, {"pear", 2}, {"apple", 4}}));
  ASSERT_THAT(added, IsOk());
  ASSERT_EQ(added->items_size(), 3);
  EXPECT_EQ(added->items(0).key().sku(), "apple");
  EXPECT_EQ(added->items(0).quantity(), 3);
  EXPECT_EQ(added->items(2).quantity(), 7);
  EXPECT_GT(added->update_time().seconds(), 0);

  absl::StatusOr<Item> apple = client_->GetItem(Key("apple"));
  ASSERT_THAT(apple, IsOk());
  EXPECT_EQ(apple->quantity(), 7);

  absl::StatusOr<Summary> summary =
      client_->GetSummary(google::protobuf::Empty());
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->item_count(), 2);
  EXPECT_EQ(summary->total_quantity(), 9);
  EXPECT_EQ(summary->update_time().seconds(), added->update_time().seconds());
  EXPECT_EQ(summary->update_time().nanos(), added->update_time().nanos());
}

TEST_P(PluginTest, AsynchronousCallsComplete) {
  constexpr int kCalls = 100;
  dualrpc_testing::Countdown pending(kCalls);
  absl::Mutex mutex;
  int ok_calls = 0;
  for (int i = 0; i < kCalls; ++i) {
    client_->AddItemsAsync(AddRequest({{"plum", 1}}), {},
                           [&](absl::StatusOr<AddItemsResponse> response) {
                             if (response.ok() && response->items_size() == 1) {
                               absl::MutexLock lock(&mutex);
                               ++ok_calls;
                             }
                             pending.CountDown();
                           });
  }
  ASSERT_TRUE(pending.WaitForZero());
  EXPECT_EQ(ok_calls, kCalls);

  absl::Notification done;
  absl::StatusOr<Item> plum;
  client_->GetItemAsync(Key("plum"), {}, [&](absl::StatusOr<Item> item) {
    plum = std::move(item);
    done.Notify();
  });
  ASSERT_TRUE(
      done.WaitForNotificationWithTimeout(dualrpc_testing::kWaitTimeout));
  ASSERT_THAT(plum, IsOk());
  EXPECT_EQ(plum->quantity(), kCalls);
}

// The caller-supplied-response form: the same message serves call after
// call, and each call leaves exactly its own response in it.
TEST_P(PluginTest, CallerSuppliedResponseIsReusedAcrossCalls) {
  ASSERT_THAT(client_->AddItems(AddRequest({{"plum", 3}, {"fig", 5}})), IsOk());
  Item item;
  for (const auto& [name, quantity] :
       std::vector<std::pair<std::string, int64_t>>{
           {"plum", 3}, {"fig", 5}, {"plum", 3}}) {
    absl::Notification done;
    absl::Status status;
    client_->GetItemAsync(Key(name), &item, {}, [&](absl::Status call_status) {
      status = std::move(call_status);
      done.Notify();
    });
    ASSERT_TRUE(
        done.WaitForNotificationWithTimeout(dualrpc_testing::kWaitTimeout));
    ASSERT_THAT(status, IsOk());
    EXPECT_EQ(item.key().sku(), name);
    EXPECT_EQ(item.quantity(), quantity);
  }
  absl::Notification failed;
  absl::Status status;
  client_->GetItemAsync(Key("durian"), &item, {},
                        [&](absl::Status call_status) {
                          status = std::move(call_status);
                          failed.Notify();
                        });
  ASSERT_TRUE(
      failed.WaitForNotificationWithTimeout(dualrpc_testing::kWaitTimeout));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(PluginTest, DeadlineExceededWhileServerHoldsTheCall) {
  CallOptions options;
  options.timeout = absl::Milliseconds(100);
  absl::StatusOr<google::protobuf::Empty> held =
      client_->Hold(google::protobuf::Empty(), options);
  EXPECT_THAT(held, StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_P(PluginTest, HeldCallEndsWhenServiceShutsDown) {
  absl::Notification done;
  absl::Status status;
  client_->HoldAsync(google::protobuf::Empty(), {},
                     [&](absl::StatusOr<google::protobuf::Empty> response) {
                       status = response.status();
                       done.Notify();
                     });
  ASSERT_TRUE(service_.WaitForHeldCalls(1, dualrpc_testing::kWaitTimeout));
  service_.Shutdown();
  ASSERT_TRUE(
      done.WaitForNotificationWithTimeout(dualrpc_testing::kWaitTimeout));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kCancelled));
}

TEST_P(PluginTest, CallInFlightOutlivesClientAndChannel) {
  absl::Notification done;
  absl::Status status;
  client_->HoldAsync(google::protobuf::Empty(), {},
                     [&](absl::StatusOr<google::protobuf::Empty> response) {
                       status = response.status();
                       done.Notify();
                     });
  ASSERT_TRUE(service_.WaitForHeldCalls(1, dualrpc_testing::kWaitTimeout));
  client_.reset();  // the last reference to the GrpcChannel
  service_.Shutdown();
  ASSERT_TRUE(
      done.WaitForNotificationWithTimeout(dualrpc_testing::kWaitTimeout));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kCancelled));
}

TEST_P(PluginTest, MetadataRoundTrip) {
  const std::string binary("\0\xff\n", 3);
  Metadata response_metadata;
  CallOptions options;
  options.metadata = {
      {"echo-text", "hello"}, {"echo-blob-bin", binary}, {"not-echoed", "x"}};
  options.response_metadata = &response_metadata;
  absl::StatusOr<Summary> summary =
      client_->GetSummary(google::protobuf::Empty(), options);
  ASSERT_THAT(summary, IsOk());
  EXPECT_THAT(response_metadata, Contains(Pair("echo-text", "hello")));
  EXPECT_THAT(response_metadata, Contains(Pair("echo-blob-bin", binary)));
  EXPECT_THAT(response_metadata, Not(Contains(Pair("not-echoed", "x"))));
}

TEST_P(PluginTest, ResponseMetadataArrivesWithErrors) {
  Metadata response_metadata;
  CallOptions options;
  options.metadata = {{"echo-text", "sorry"}};
  options.response_metadata = &response_metadata;
  absl::StatusOr<Item> item = client_->GetItem(Key("missing"), options);
  EXPECT_THAT(item, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(response_metadata, Contains(Pair("echo-text", "sorry")));
}

TEST_P(PluginTest, InvalidRequestMetadataFailsBeforeSending) {
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{
           {"Upper", "x"},
           {"grpc-reserved", "x"},
           {"", "x"},
           {"text", std::string("\n", 1)}}) {
    CallOptions options;
    options.metadata = {{key, value}};
    EXPECT_EQ(
        client_->GetSummary(google::protobuf::Empty(), options).status().code(),
        absl::StatusCode::kInvalidArgument)
        << key;
  }
}

TEST_P(PluginTest, MethodNotOverriddenIsUnimplemented) {
  absl::StatusOr<google::protobuf::Empty> removed =
      client_->RemoveItem(Key("apple"));
  EXPECT_THAT(removed, StatusIs(absl::StatusCode::kUnimplemented));
  EXPECT_THAT(removed.status().message(), HasSubstr("RemoveItem"));
}

TEST_P(PluginTest, ErrorStatusPassesThrough) {
  absl::StatusOr<AddItemsResponse> added =
      client_->AddItems(AddRequest({{"fig", 1}, {"fig", 0}}));
  EXPECT_EQ(added.status(),
            absl::InvalidArgumentError("quantity 0 for fig is below 1"));
  // Nothing was added.
  EXPECT_THAT(client_->GetItem(Key("fig")),
              StatusIs(absl::StatusCode::kNotFound));
}

// ---- Streaming (issue 10): the generated clients' blocking helpers and
// async reactors, the same bodies over both transports. ----

std::vector<std::string> Describe(const std::vector<Item>& items) {
  std::vector<std::string> out;
  for (const Item& item : items) {
    out.push_back(item.key().sku() + "=" + std::to_string(item.quantity()));
  }
  return out;
}

AddItemsRequest::Line Line(const std::string& sku, int64_t quantity) {
  AddItemsRequest::Line line;
  line.mutable_key()->set_sku(sku);
  line.set_quantity(quantity);
  return line;
}

// Reads `count` items from `reader` (fewer if the stream ends first).
std::vector<Item> ReadItems(ClientReader<Item>& reader, int count) {
  std::vector<Item> items;
  Item item;
  while (static_cast<int>(items.size()) < count && reader.Read(&item)) {
    items.push_back(item);
  }
  return items;
}

TEST_P(PluginTest, ServerStreamingSendsStockThenChangesUntilCancelled) {
  ASSERT_THAT(client_->AddItems(AddRequest({{"pear", 2}, {"apple", 5}})),
              IsOk());
  std::unique_ptr<ClientReader<Item>> watch =
      client_->WatchItems(google::protobuf::Empty());
  EXPECT_THAT(Describe(ReadItems(*watch, 2)),
              ElementsAre("apple=5", "pear=2"));
  ASSERT_TRUE(service_.WaitForWatchers(1, dualrpc_testing::kWaitTimeout));
  ASSERT_THAT(client_->AddItems(AddRequest({{"apple", 1}})), IsOk());
  EXPECT_THAT(Describe(ReadItems(*watch, 1)), ElementsAre("apple=6"));
  watch->Cancel();
  Item item;
  EXPECT_FALSE(watch->Read(&item));
  EXPECT_THAT(watch->Finish(), StatusIs(absl::StatusCode::kCancelled));
  // The server saw the cancellation: its watcher is gone.
  EXPECT_TRUE(service_.WaitForWatchers(0, dualrpc_testing::kWaitTimeout));
}

// The server ends the stream with an error after some messages; the
// trailers arrive with it.
TEST_P(PluginTest, ServerStreamingErrorAfterMessagesCarriesTrailers) {
  ASSERT_THAT(client_->AddItems(AddRequest({{"a", 1}, {"b", 2}})), IsOk());
  Metadata trailers;
  CallOptions options;
  options.metadata = {{"echo-watch", "yes"}, {"not-echoed", "x"}};
  options.response_metadata = &trailers;
  std::unique_ptr<ClientReader<Item>> watch =
      client_->WatchItems(google::protobuf::Empty(), options);
  EXPECT_THAT(Describe(ReadItems(*watch, 2)), ElementsAre("a=1", "b=2"));
  ASSERT_TRUE(service_.WaitForWatchers(1, dualrpc_testing::kWaitTimeout));
  service_.Shutdown();
  Item item;
  EXPECT_FALSE(watch->Read(&item));
  EXPECT_THAT(watch->Finish(), StatusIs(absl::StatusCode::kUnavailable,
                                        "inventory service is shut down"));
  EXPECT_THAT(trailers, Contains(Pair("echo-watch", "yes")));
  EXPECT_THAT(trailers, Not(Contains(Pair("not-echoed", "x"))));
}

TEST_P(PluginTest, ServerStreamingDeadlineMidStream) {
  ASSERT_THAT(client_->AddItems(AddRequest({{"a", 1}})), IsOk());
  CallOptions options;
  options.timeout = absl::Milliseconds(300);
  std::unique_ptr<ClientReader<Item>> watch =
      client_->WatchItems(google::protobuf::Empty(), options);
  EXPECT_THAT(Describe(ReadItems(*watch, 1)), ElementsAre("a=1"));
  // Nothing more comes: the next read ends at the deadline.
  Item item;
  EXPECT_FALSE(watch->Read(&item));
  EXPECT_THAT(watch->Finish(), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(service_.WaitForWatchers(0, dualrpc_testing::kWaitTimeout));
}

TEST_P(PluginTest, ClientStreamingAddsEachLine) {
  Metadata trailers;
  CallOptions options;
  options.metadata = {{"echo-restock", "1"}};
  options.response_metadata = &trailers;
  AddItemsResponse response;
  std::unique_ptr<ClientWriter<AddItemsRequest::Line>> restock =
      client_->RestockItems(&response, options);
  for (int i = 1; i <= 50; ++i) {
    ASSERT_TRUE(restock->Write(Line(i % 2 == 0 ? "even" : "odd", i)));
  }
  EXPECT_TRUE(restock->WritesDone());
  ASSERT_THAT(restock->Finish(), IsOk());
  ASSERT_EQ(response.items_size(), 50);
  EXPECT_EQ(response.items(49).key().sku(), "even");
  EXPECT_EQ(response.items(49).quantity(), 2 + 4 + 6 + 8 + 10 + 12 + 14 + 16 +
                                               18 + 20 + 22 + 24 + 26 + 28 +
                                               30 + 32 + 34 + 36 + 38 + 40 +
                                               42 + 44 + 46 + 48 + 50);
  EXPECT_GT(response.update_time().seconds(), 0);
  EXPECT_THAT(trailers, Contains(Pair("echo-restock", "1")));
}

// The server fails the call at a bad line; the lines before it stay added,
// and the client's later writes fail.
TEST_P(PluginTest, ClientStreamingErrorMidStream) {
  AddItemsResponse response;
  std::unique_ptr<ClientWriter<AddItemsRequest::Line>> restock =
      client_->RestockItems(&response);
  ASSERT_TRUE(restock->Write(Line("fig", 2)));
  ASSERT_TRUE(restock->Write(Line("fig", 0)));
  // Writes stop succeeding once the server's status arrived.
  bool wrote = true;
  for (int i = 0; i < 10000 && wrote; ++i) wrote = restock->Write(Line("x", 1));
  EXPECT_FALSE(wrote);
  EXPECT_THAT(restock->Finish(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "quantity 0 for fig is below 1"));
  absl::StatusOr<Item> fig = client_->GetItem(Key("fig"));
  ASSERT_THAT(fig, IsOk());
  EXPECT_EQ(fig->quantity(), 2);
  EXPECT_THAT(client_->GetItem(Key("x")),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(PluginTest, BidiAnswersEachKeyInOrder) {
  ASSERT_THAT(client_->AddItems(AddRequest({{"a", 3}})), IsOk());
  Metadata trailers;
  CallOptions options;
  options.metadata = {{"echo-lookup", "2"}};
  options.response_metadata = &trailers;
  std::unique_ptr<ClientReaderWriter<Item_Key, Item>> lookup =
      client_->LookupItems(options);
  Item item;
  for (const char* sku : {"a", "missing", "a"}) {
    ASSERT_TRUE(lookup->Write(Key(sku)));
    ASSERT_TRUE(lookup->Read(&item));
    EXPECT_EQ(item.key().sku(), sku);
  }
  EXPECT_EQ(item.quantity(), 3);
  EXPECT_TRUE(lookup->WritesDone());
  EXPECT_FALSE(lookup->Read(&item));
  EXPECT_THAT(lookup->Finish(), IsOk());
  EXPECT_THAT(trailers, Contains(Pair("echo-lookup", "2")));
}

// More keys than one flow-control window holds, written before any answer
// is read: the server's writes wait for the client's reads (LookupItems
// reads a key only once its answer was taken), so the writer must be on a
// thread of its own and nothing may deadlock.
TEST_P(PluginTest, BidiFlowControlWithConcurrentReaderAndWriter) {
  constexpr int kKeys = 5000;
  const std::string sku(100, 'k');
  std::unique_ptr<ClientReaderWriter<Item_Key, Item>> lookup =
      client_->LookupItems();
  std::thread writer([&] {
    for (int i = 0; i < kKeys; ++i) {
      if (!lookup->Write(Key(sku))) return;
    }
    lookup->WritesDone();
  });
  int answers = 0;
  Item item;
  while (lookup->Read(&item)) ++answers;
  writer.join();
  EXPECT_EQ(answers, kKeys);
  EXPECT_THAT(lookup->Finish(), IsOk());
}

// The async forms: typed reactors driven by the application.
class Watcher final : public ClientReadReactor<Item> {
 public:
  // Cancels after `count` items.
  explicit Watcher(int count) : count_(count) {}
  void OnReadDone(bool ok) override {
    if (!ok) return;
    absl::MutexLock lock(&mutex_);
    items_.push_back(item_);
    if (static_cast<int>(items_.size()) == count_) {
      Cancel();
      return;
    }
    StartRead(&item_);
  }
  void OnDone(const absl::Status& status) override {
    absl::MutexLock lock(&mutex_);
    status_ = status;
    done_.Notify();
  }
  void Begin() {
    StartRead(&item_);
    StartCall();
  }
  bool WaitForDone() {
    return done_.WaitForNotificationWithTimeout(dualrpc_testing::kWaitTimeout);
  }
  std::vector<Item> items() {
    absl::MutexLock lock(&mutex_);
    return items_;
  }
  absl::Status status() {
    absl::MutexLock lock(&mutex_);
    return status_;
  }

 private:
  const int count_;
  Item item_;  // one read at a time
  absl::Mutex mutex_;
  std::vector<Item> items_ ABSL_GUARDED_BY(mutex_);
  absl::Status status_ ABSL_GUARDED_BY(mutex_);
  absl::Notification done_;
};

TEST_P(PluginTest, AsyncServerStreamingReactorCancels) {
  ASSERT_THAT(client_->AddItems(AddRequest({{"c", 3}, {"a", 1}, {"b", 2}})),
              IsOk());
  Watcher watcher(/*count=*/2);
  client_->WatchItemsAsync(google::protobuf::Empty(), {}, &watcher);
  watcher.Begin();
  ASSERT_TRUE(watcher.WaitForDone());
  EXPECT_THAT(Describe(watcher.items()), ElementsAre("a=1", "b=2"));
  EXPECT_THAT(watcher.status(), StatusIs(absl::StatusCode::kCancelled));
}

class Restocker final : public ClientWriteReactor<AddItemsRequest::Line> {
 public:
  explicit Restocker(std::vector<AddItemsRequest::Line> lines)
      : lines_(std::move(lines)) {}
  void Begin() {
    WriteNext();
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (ok) WriteNext();
  }
  void OnDone(const absl::Status& status) override {
    status_ = status;
    done_.Notify();
  }
  bool WaitForDone() {
    return done_.WaitForNotificationWithTimeout(dualrpc_testing::kWaitTimeout);
  }
  // Valid once WaitForDone returned true.
  const absl::Status& status() const { return status_; }

 private:
  // Writes complete one at a time, so next_ needs no lock.
  void WriteNext() {
    if (next_ == lines_.size()) {
      StartWritesDone();
      return;
    }
    StartWrite(lines_[next_++]);
  }
  const std::vector<AddItemsRequest::Line> lines_;
  std::size_t next_ = 0;
  absl::Status status_;
  absl::Notification done_;
};

TEST_P(PluginTest, AsyncClientStreamingReactorGetsTheResponse) {
  AddItemsResponse response;
  Restocker restocker({Line("a", 1), Line("b", 2), Line("a", 3)});
  client_->RestockItemsAsync({}, &response, &restocker);
  restocker.Begin();
  ASSERT_TRUE(restocker.WaitForDone());
  ASSERT_THAT(restocker.status(), IsOk());
  EXPECT_THAT(Describe({response.items().begin(), response.items().end()}),
              ElementsAre("a=1", "b=2", "a=4"));
}

// Writes every key, reads every answer, with both directions in flight.
class Looker final : public ClientBidiReactor<Item_Key, Item> {
 public:
  explicit Looker(std::vector<std::string> skus) : skus_(std::move(skus)) {}
  void Begin() {
    StartRead(&item_);
    WriteNext();
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (ok) WriteNext();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      absl::MutexLock lock(&mutex_);
      answers_.push_back(item_);
    }
    StartRead(&item_);
  }
  void OnDone(const absl::Status& status) override {
    absl::MutexLock lock(&mutex_);
    status_ = status;
    done_.Notify();
  }
  bool WaitForDone() {
    return done_.WaitForNotificationWithTimeout(dualrpc_testing::kWaitTimeout);
  }
  std::vector<Item> answers() {
    absl::MutexLock lock(&mutex_);
    return answers_;
  }
  absl::Status status() {
    absl::MutexLock lock(&mutex_);
    return status_;
  }

 private:
  // Writes complete one at a time (OnWriteDone), so next_ needs no lock.
  void WriteNext() {
    if (next_ == skus_.size()) {
      StartWritesDone();
      return;
    }
    StartWrite(Key(skus_[next_++]));
  }
  const std::vector<std::string> skus_;
  std::size_t next_ = 0;
  Item item_;  // one read at a time
  absl::Mutex mutex_;
  std::vector<Item> answers_ ABSL_GUARDED_BY(mutex_);
  absl::Status status_ ABSL_GUARDED_BY(mutex_);
  absl::Notification done_;
};

TEST_P(PluginTest, AsyncBidiReactorReadsWhileWriting) {
  ASSERT_THAT(client_->AddItems(AddRequest({{"b", 7}})), IsOk());
  Looker looker({"a", "b", "c", "b"});
  client_->LookupItemsAsync({}, &looker);
  looker.Begin();
  ASSERT_TRUE(looker.WaitForDone());
  EXPECT_THAT(looker.status(), IsOk());
  EXPECT_THAT(Describe(looker.answers()),
              ElementsAre("a=0", "b=7", "c=0", "b=7"));
}

// Cancelling a bidi call from the client mid-stream ends it on both sides.
TEST_P(PluginTest, BidiCancelledMidStream) {
  std::unique_ptr<ClientReaderWriter<Item_Key, Item>> lookup =
      client_->LookupItems();
  Item item;
  ASSERT_TRUE(lookup->Write(Key("a")));
  ASSERT_TRUE(lookup->Read(&item));
  lookup->Cancel();
  EXPECT_FALSE(lookup->Read(&item));
  EXPECT_FALSE(lookup->Write(Key("b")));
  EXPECT_THAT(lookup->Finish(), StatusIs(absl::StatusCode::kCancelled));
}

// buf curl knows nothing of this service but what server reflection says.
TEST_F(PluginGrpcTest, ReflectionDescribesRegistryServices) {
  const std::string url = "http://" + server_->address();
  const std::vector<std::string> buf = {DUALRPC_BUF_PATH, "curl", "--protocol",
                                        "grpc", "--http2-prior-knowledge"};
  auto run = [&](std::vector<std::string> args,
                 const std::string& stdin_text = "") {
    args.insert(args.begin(), buf.begin(), buf.end());
    return dualrpc_testing::RunCommand(args, stdin_text);
  };

  dualrpc_testing::CommandResult methods = run({"--list-methods", url});
  ASSERT_EQ(methods.exit_code, 0) << methods.stderr_text;
  EXPECT_THAT(methods.stdout_text,
              HasSubstr("dualrpc.test.v1.Inventory/AddItems"));
  EXPECT_THAT(methods.stdout_text,
              HasSubstr("dualrpc.test.v1.Inventory/GetItem"));

  dualrpc_testing::CommandResult added =
      run({"-d", "@-", url + "/dualrpc.test.v1.Inventory/AddItems"},
          R"({"lines": [{"key": {"sku": "kiwi"}, "quantity": "5"}]})");
  ASSERT_EQ(added.exit_code, 0) << added.stderr_text;
  EXPECT_THAT(added.stdout_text, HasSubstr(R"("sku": "kiwi")"));
  EXPECT_THAT(added.stdout_text, HasSubstr(R"("quantity": "5")"));

  absl::StatusOr<Item> kiwi = client_->GetItem(Key("kiwi"));
  ASSERT_THAT(kiwi, IsOk());
  EXPECT_EQ(kiwi->quantity(), 5);
}

INSTANTIATE_TEST_SUITE_P(BothTransports, PluginTest,
                         ::testing::Values("grpc", "raw"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace dualrpc::rpc
