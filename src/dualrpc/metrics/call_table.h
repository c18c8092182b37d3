#ifndef DUALRPC_METRICS_CALL_TABLE_H_
#define DUALRPC_METRICS_CALL_TABLE_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "dualrpc/rpc/interceptor.h"
#include "dualrpc/rpc/service_registry.h"
#include "prometheus/metric_family.h"

namespace dualrpc::metrics {

// The per-call figures behind the dualrpc_server_call* families: relaxed
// atomic cells per (method, transport, code), turned into Prometheus
// families only when scraped (Collect).
//
// Why not prometheus-cpp's Counter and Histogram: Family::Add locks and
// hashes a label map, Counter::Increment is a compare-exchange loop on a
// double behind two calls into the shared library, and Histogram::Observe
// takes a mutex. Here each thread that records has its own shard of cells
// (found through a one-entry thread-local cache), which only that thread
// writes: a call costs a lock-free probe keyed by the `const rpc::Method*`
// in its thread's shard, atomic loads of its slots (filled on first use
// under a mutex) and a relaxed load and store per figure: no locked
// read-modify-write per figure (docs/BENCHMARKS.md, "Logging and metrics").
// Collect sums the shards.
// A call may start on one thread and end on another (blocking methods): the
// in-flight gauge is the sum of every shard's starts minus ends.
//
// Labels: `method` the Method's path, `transport` "raw", "grpc" or, for a
// context that names neither, "other"; `code` the gRPC code name. Methods
// with the same path (copies of a registry) are summed.
//
// Thread-safe: RecordStart / RecordEnd from any threads at once, Collect
// from any thread meanwhile (a snapshot consistent per figure, not across
// figures). Methods passed must outlive the table.
class CallTable {
 public:
  CallTable();
  ~CallTable();
  CallTable(const CallTable&) = delete;
  CallTable& operator=(const CallTable&) = delete;

  // dualrpc_server_calls_in_flight up.
  void RecordStart(const rpc::Method& method, absl::string_view transport);
  // dualrpc_server_calls_in_flight down, and the call's figures counted.
  void RecordEnd(const rpc::CallRecord& record);

  // The seven dualrpc_server_call* families (those with samples).
  std::vector<prometheus::MetricFamily> Collect() const;

 private:
  static constexpr std::size_t kTransports = 3;  // raw, grpc, other
  // absl::StatusCode 0 (OK) to 16 (UNAUTHENTICATED); anything else counts
  // as UNKNOWN.
  static constexpr std::size_t kCodes = 17;

  struct Cells;
  struct MethodCells;
  struct Shard;

  static std::size_t SlotHash(const rpc::Method* method);
  static std::size_t TransportIndex(absl::string_view transport);
  // The calling thread's shard (made on its first call).
  Shard* LocalShard();
  Shard* LocalShardSlow();
  MethodCells* Find(Shard* shard, const rpc::Method* method);
  MethodCells* FindSlow(Shard* shard, const rpc::Method* method);
  Cells* CellsFor(MethodCells* method, std::size_t transport, std::size_t code);

  // Never reused by another table in the process: the key of the
  // thread-local shard cache (an address could be).
  const std::uint64_t id_;
  mutable absl::Mutex mu_;
  // Owns every Shard (and, through them, every MethodCells and Cells); a
  // thread's shard outlives the thread, so its counts stay.
  std::vector<std::unique_ptr<Shard>> shards_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::thread::id, Shard*> shard_of_thread_
      ABSL_GUARDED_BY(mu_);
  // The duration buckets' upper bounds in nanoseconds, for RecordEnd.
  std::vector<std::int64_t> bucket_bounds_ns_;
};

}  // namespace dualrpc::metrics

#endif  // DUALRPC_METRICS_CALL_TABLE_H_
