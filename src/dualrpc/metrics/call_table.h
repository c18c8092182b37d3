#ifndef DUALRPC_METRICS_CALL_TABLE_H_
#define DUALRPC_METRICS_CALL_TABLE_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
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
// takes a mutex. Here a call costs a lock-free probe keyed by the
// `const rpc::Method*`, atomic loads of its slots (filled on first use under
// a mutex) and one relaxed fetch_add per figure.
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
  // One slot of the lookup table: `metrics` is stored before `method` is
  // published (release); neither changes once set.
  struct Slot {
    std::atomic<const rpc::Method*> method{nullptr};
    std::atomic<MethodCells*> cells{nullptr};
  };
  // More methods than kSlots still work, found under mu_.
  static constexpr int kSlotBits = 8;
  static constexpr std::size_t kSlots = std::size_t{1} << kSlotBits;

  static std::size_t SlotHash(const rpc::Method* method);
  static std::size_t TransportIndex(absl::string_view transport);
  MethodCells* Find(const rpc::Method* method);
  MethodCells* FindSlow(const rpc::Method* method);
  Cells* CellsFor(MethodCells* method, std::size_t transport, std::size_t code);

  std::array<Slot, kSlots> slots_;
  mutable absl::Mutex mu_;
  // Owns every MethodCells (and, through them, every Cells).
  absl::flat_hash_map<const rpc::Method*, std::unique_ptr<MethodCells>> owned_
      ABSL_GUARDED_BY(mu_);
  // The duration buckets' upper bounds in nanoseconds, for RecordEnd.
  std::vector<std::int64_t> bucket_bounds_ns_;
};

}  // namespace dualrpc::metrics

#endif  // DUALRPC_METRICS_CALL_TABLE_H_
