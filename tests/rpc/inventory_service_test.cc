// InventoryService's streaming methods on their own, through the methods
// RegisterInventory registers, each call on a FakeServerStream (no
// transport): what each writes, how it finishes, and that it keeps the
// stream's contract (FakeServerStream::misuses).

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/test/v1/inventory.dualrpc.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rpc/inventory_service.h"
#include "testing/fake_server_stream.h"
#include "testing/status_matchers.h"
#include "testing/wait.h"

namespace dualrpc::rpc {
namespace {

using ::dualrpc_testing::FakeServerStream;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::kWaitTimeout;
using ::dualrpc_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using test::v1::AddItemsRequest;
using test::v1::AddItemsResponse;
using test::v1::InventoryClient;
using test::v1::Item;

AddItemsRequest::Line MakeLine(const std::string& sku, int64_t quantity) {
  AddItemsRequest::Line line;
  line.mutable_key()->set_sku(sku);
  line.set_quantity(quantity);
  return line;
}

// "sku=quantity" for each item, to compare streams at a glance.
std::vector<std::string> Describe(const std::vector<Item>& items) {
  std::vector<std::string> out;
  for (const Item& item : items) {
    out.push_back(item.key().sku() + "=" + std::to_string(item.quantity()));
  }
  return out;
}

class InventoryStreamingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(test::v1::RegisterInventory(&service_, &registry_), IsOk());
  }
  const Method& method(const char* path) { return *registry_.FindMethod(path); }

  // Adds through the unary method, as another client would.
  void Add(const std::string& sku, int64_t quantity) {
    AddItemsRequest request;
    *request.add_lines() = MakeLine(sku, quantity);
    AddItemsResponse response;
    absl::Status status = absl::UnknownError("not run");
    service_.AddItems(&unary_stream_, &request, &response,
                      [&status](absl::Status s) { status = std::move(s); });
    ASSERT_THAT(status, IsOk());
  }

  InventoryService service_;
  ServiceRegistry registry_;
  // Only its ServerCallContext side serves the unary Add.
  FakeServerStream unary_stream_;
};

TEST_F(InventoryStreamingTest, WatchSendsStockBySkuThenChangesUntilCancel) {
  Add("pear", 2);
  Add("apple", 5);
  FakeServerStream stream(Metadata{{"echo-watch", "1"}, {"other", "x"}});
  stream.Start(method(InventoryClient::kWatchItemsMethod));
  ASSERT_TRUE(stream.WaitForWrites(2));
  ASSERT_TRUE(service_.WaitForWatchers(1, kWaitTimeout));
  Add("apple", 1);
  Add("fig", 3);
  ASSERT_TRUE(stream.WaitForWrites(4));
  EXPECT_THAT(Describe(stream.Writes<Item>()),
              ElementsAre("apple=5", "pear=2", "apple=6", "fig=3"));
  EXPECT_FALSE(stream.finished());

  stream.Cancel();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.status(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(stream.response_metadata(), ElementsAre(Pair("echo-watch", "1")));
  EXPECT_THAT(stream.misuses(), IsEmpty());
  // The watcher is gone: later changes reach no one (and nothing freed).
  EXPECT_TRUE(service_.WaitForWatchers(0, kWaitTimeout));
  Add("fig", 1);
}

// A client that does not read: changes queue behind the write in progress
// and are sent in order once it completes; Shutdown ends the watch after
// them with UNAVAILABLE.
TEST_F(InventoryStreamingTest, WatchQueuesBehindFlowControlAndEndsAtShutdown) {
  Add("a", 1);
  FakeServerStream stream;
  stream.HoldWrites();
  stream.Start(method(InventoryClient::kWatchItemsMethod));
  ASSERT_TRUE(stream.WaitForWrites(1));
  ASSERT_TRUE(service_.WaitForWatchers(1, kWaitTimeout));
  Add("b", 2);
  Add("a", 3);
  service_.Shutdown();
  EXPECT_EQ(stream.write_count(), 1u);  // one write outstanding at a time
  EXPECT_FALSE(stream.finished());
  stream.ReleaseWrites();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(Describe(stream.Writes<Item>()),
              ElementsAre("a=1", "b=2", "a=4"));
  EXPECT_THAT(stream.status(), StatusIs(absl::StatusCode::kUnavailable,
                                        "inventory service is shut down"));
  EXPECT_THAT(stream.misuses(), IsEmpty());
}

TEST_F(InventoryStreamingTest, WatchAfterShutdownSendsTheStockAndEnds) {
  Add("a", 1);
  service_.Shutdown();
  FakeServerStream stream;
  stream.Start(method(InventoryClient::kWatchItemsMethod));
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(Describe(stream.Writes<Item>()), ElementsAre("a=1"));
  EXPECT_THAT(stream.status(), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(InventoryStreamingTest, RestockAddsEachLineAndAnswersInLineOrder) {
  Add("a", 1);
  FakeServerStream watch;
  watch.Start(method(InventoryClient::kWatchItemsMethod));
  ASSERT_TRUE(service_.WaitForWatchers(1, kWaitTimeout));

  FakeServerStream stream(Metadata{{"echo-restock", "yes"}});
  stream.Start(method(InventoryClient::kRestockItemsMethod));
  stream.PushRequest(MakeLine("b", 2));
  stream.PushRequest(MakeLine("a", 4));
  stream.CloseRequests();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.status(), IsOk());
  const auto* response =
      static_cast<const AddItemsResponse*>(stream.response());
  EXPECT_THAT(Describe({response->items().begin(), response->items().end()}),
              ElementsAre("b=2", "a=5"));
  EXPECT_TRUE(response->has_update_time());
  EXPECT_THAT(stream.response_metadata(),
              ElementsAre(Pair("echo-restock", "yes")));
  EXPECT_THAT(stream.misuses(), IsEmpty());
  // Watchers saw each line as it was added.
  ASSERT_TRUE(watch.WaitForWrites(3));
  EXPECT_THAT(Describe(watch.Writes<Item>()),
              ElementsAre("a=1", "b=2", "a=5"));
  watch.Cancel();
  ASSERT_TRUE(watch.WaitForDone());
}

TEST_F(InventoryStreamingTest, RestockFailsAtTheFirstBadLineKeepingEarlierOnes) {
  FakeServerStream stream;
  stream.Start(method(InventoryClient::kRestockItemsMethod));
  stream.PushRequest(MakeLine("a", 2));
  stream.PushRequest(MakeLine("b", 0));
  stream.PushRequest(MakeLine("c", 1));
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                        "quantity 0 for b is below 1"));
  EXPECT_THAT(stream.misuses(), IsEmpty());

  // "a" was added, "c" never read.
  FakeServerStream lookup;
  lookup.Start(method(InventoryClient::kLookupItemsMethod));
  Item::Key key;
  key.set_sku("a");
  lookup.PushRequest(key);
  key.set_sku("c");
  lookup.PushRequest(key);
  lookup.CloseRequests();
  ASSERT_TRUE(lookup.WaitForDone());
  EXPECT_THAT(Describe(lookup.Writes<Item>()), ElementsAre("a=2", "c=0"));
}

TEST_F(InventoryStreamingTest, RestockCancelledEndsTheCall) {
  FakeServerStream stream;
  stream.Start(method(InventoryClient::kRestockItemsMethod));
  stream.PushRequest(MakeLine("a", 2));
  stream.Cancel();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.misuses(), IsEmpty());
}

TEST_F(InventoryStreamingTest, LookupAnswersEachKeyInOrderOneAtATime) {
  Add("a", 3);
  FakeServerStream stream(Metadata{{"echo-lookup", "1"}});
  stream.HoldWrites();
  stream.Start(method(InventoryClient::kLookupItemsMethod));
  Item::Key key;
  for (const char* sku : {"a", "zz", "a"}) {
    key.set_sku(sku);
    stream.PushRequest(key);
  }
  ASSERT_TRUE(stream.WaitForWrites(1));
  // The next key is read only once the answer was taken.
  EXPECT_EQ(stream.write_count(), 1u);
  stream.ReleaseWrites();
  stream.CloseRequests();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.status(), IsOk());
  EXPECT_THAT(Describe(stream.Writes<Item>()),
              ElementsAre("a=3", "zz=0", "a=3"));
  EXPECT_THAT(stream.response_metadata(), ElementsAre(Pair("echo-lookup", "1")));
  EXPECT_THAT(stream.misuses(), IsEmpty());
}

TEST_F(InventoryStreamingTest, LookupCancelledWhileWritingFinishes) {
  FakeServerStream stream;
  stream.HoldWrites();
  stream.Start(method(InventoryClient::kLookupItemsMethod));
  Item::Key key;
  key.set_sku("a");
  stream.PushRequest(key);
  ASSERT_TRUE(stream.WaitForWrites(1));
  stream.Cancel();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.misuses(), IsEmpty());
}

}  // namespace
}  // namespace dualrpc::rpc
