#ifndef DUALRPC_TESTS_RPC_INVENTORY_SERVICE_H_
#define DUALRPC_TESTS_RPC_INVENTORY_SERVICE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/test/v1/inventory.dualrpc.h"
#include "google/protobuf/empty.pb.h"

namespace dualrpc::rpc {

// dualrpc.test.v1.Inventory for transport tests: an in-memory stock per
// SKU. Every implemented method echoes request metadata whose key starts
// with "echo-" back as response metadata. Hold parks its call until
// Shutdown(). RemoveItem is left to InventoryBase (UNIMPLEMENTED).
// Thread-safe; completes calls inline, except Hold.
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

  // Blocks until at least `count` Hold calls are parked, or `timeout` has
  // passed: false then.
  bool WaitForHeldCalls(int count, absl::Duration timeout);

  // Completes every parked Hold call with CANCELLED, and every later one at
  // once. Call it before the server stops: a server waits for its calls.
  void Shutdown();

 private:
  absl::Mutex mutex_;
  std::map<std::string, int64_t> stock_ ABSL_GUARDED_BY(mutex_);
  absl::Time update_time_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
  std::vector<UnaryDone> held_ ABSL_GUARDED_BY(mutex_);
  bool shut_down_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace dualrpc::rpc

#endif  // DUALRPC_TESTS_RPC_INVENTORY_SERVICE_H_
