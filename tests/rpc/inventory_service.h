#ifndef DUALRPC_TESTS_RPC_INVENTORY_SERVICE_H_
#define DUALRPC_TESTS_RPC_INVENTORY_SERVICE_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/reactor.h"
#include "dualrpc/rpc/stream.h"
#include "dualrpc/test/v1/inventory.dualrpc.h"
#include "google/protobuf/empty.pb.h"

namespace dualrpc::rpc {

// dualrpc.test.v1.Inventory for transport tests: an in-memory stock per
// SKU. Every implemented method echoes request metadata whose key starts
// with "echo-" back as response metadata (trailers). Hold parks its call
// until Shutdown(). RemoveItem is left to InventoryBase (UNIMPLEMENTED).
// Thread-safe; completes unary calls inline, except Hold.
//
// Streaming methods use the typed reactors of rpc/reactor.h; each reactor
// deletes itself in OnDone. WatchItems sends the stock, then each change,
// and ends when the client cancels or at Shutdown(), with UNAVAILABLE
// ("inventory service is shut down") once the changes queued before it are
// sent. RestockItems and LookupItems read one message at a time (LookupItems
// reads the next key only once the previous answer was taken: flow control
// reaches the client).
class InventoryService final : public test::v1::InventoryBase {
 public:
  InventoryService() = default;
  // Runs Shutdown().
  ~InventoryService() override;

  void AddItems(ServerCallContext* context,
                const test::v1::AddItemsRequest* request,
                test::v1::AddItemsResponse* response, UnaryDone done) override;
  void GetItem(ServerCallContext* context, const test::v1::Item_Key* request,
               test::v1::Item* response, UnaryDone done) override;
  void GetSummary(ServerCallContext* context,
                  const google::protobuf::Empty* request,
                  test::v1::Summary* response, UnaryDone done) override;
  void Hold(ServerCallContext* context, const google::protobuf::Empty* request,
            google::protobuf::Empty* response, UnaryDone done) override;
  ServerWriteReactor<test::v1::Item>* WatchItems(
      ServerStream* stream, const google::protobuf::Empty* request) override;
  ServerReadReactor<test::v1::AddItemsRequest::Line>* RestockItems(
      ServerStream* stream, test::v1::AddItemsResponse* response) override;
  ServerBidiReactor<test::v1::Item::Key, test::v1::Item>* LookupItems(
      ServerStream* stream) override;

  // Blocks until at least `count` Hold calls are parked, or `timeout` has
  // passed: false then.
  bool WaitForHeldCalls(int count, absl::Duration timeout);

  // Blocks until at least `count` WatchItems calls are watching, or
  // `timeout` has passed: false then.
  bool WaitForWatchers(int count, absl::Duration timeout);

  // Completes every parked Hold call with CANCELLED, and every later one at
  // once; ends every WatchItems call (see above), and every later one after
  // its snapshot. Call it before the server stops: a server waits for its
  // calls.
  void Shutdown();

  // WatchItems' reactor (in the .cc).
  class Watcher;

 private:
  // Adds `line` (valid) to the stock and tells the watchers; the item's new
  // stock.
  test::v1::Item Restock(const test::v1::AddItemsRequest::Line& line)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void RemoveWatcher(Watcher* watcher) ABSL_LOCKS_EXCLUDED(mutex_);

  absl::Mutex mutex_;
  std::map<std::string, int64_t> stock_ ABSL_GUARDED_BY(mutex_);
  absl::Time update_time_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
  std::vector<UnaryDone> held_ ABSL_GUARDED_BY(mutex_);
  bool shut_down_ ABSL_GUARDED_BY(mutex_) = false;
  // The WatchItems calls in progress (not owned: each deletes itself).
  std::set<Watcher*> watchers_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace dualrpc::rpc

#endif  // DUALRPC_TESTS_RPC_INVENTORY_SERVICE_H_
