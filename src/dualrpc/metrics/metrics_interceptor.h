#ifndef DUALRPC_METRICS_METRICS_INTERCEPTOR_H_
#define DUALRPC_METRICS_METRICS_INTERCEPTOR_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "dualrpc/metrics/server_metrics.h"
#include "dualrpc/rpc/interceptor.h"
#include "dualrpc/rpc/service_registry.h"

namespace dualrpc::metrics {

// The per-call metrics of ServerMetrics as one interceptor of the registry's
// stage (rpc/interceptor.h), so that every transport is counted by the same
// code: dualrpc_server_calls_in_flight up in OnCallStart and down in
// OnCallEnd; calls, duration, bytes and messages per method × transport ×
// code in OnCallEnd. Labels: `method` the full path, `transport` the
// context's ("raw", "grpc"; "other" for a context that names none), `code`
// the gRPC code name.
//
// Cost: prometheus-cpp's Family::Add locks and hashes a label map, so it is
// called once per (method, transport[, code]), never again for that key:
// the metric objects are cached per `const rpc::Method*` in a lock-free
// open-addressing table, each entry with slots per transport and code filled
// on first use (under a mutex) and read through atomic pointers afterwards.
// A call then pays a table probe, atomic loads and the metric updates
// themselves.
//
// Added to the registry before AuthInterceptor, so that calls the
// authentication refuses are counted too (the stage runs OnCallEnd only for
// the interceptors whose OnCallStart saw the call).
//
// Thread-safe; must outlive every call of the registries it is added to.
// `metrics` is not owned and must outlive this.
class MetricsInterceptor final : public rpc::ServerInterceptor {
 public:
  explicit MetricsInterceptor(const ServerMetrics* metrics);
  ~MetricsInterceptor() override;
  MetricsInterceptor(const MetricsInterceptor&) = delete;
  MetricsInterceptor& operator=(const MetricsInterceptor&) = delete;

  // Never rejects.
  absl::Status OnCallStart(const rpc::Method& method,
                           rpc::ServerCallContext* context) override;
  void OnCallEnd(const rpc::CallRecord& record) override;
  bool wants_call_end() const override { return true; }

 private:
  // "raw", "grpc", anything else.
  static constexpr std::size_t kTransports = 3;
  // absl::StatusCode 0 (OK) to 16 (UNAUTHENTICATED); others count as
  // UNKNOWN.
  static constexpr std::size_t kCodes = 17;

  struct CodeMetrics;
  struct MethodMetrics;
  // One slot of the lookup table: `method` is published (release) after
  // `metrics`, and never changes once set.
  struct Slot {
    std::atomic<const rpc::Method*> method{nullptr};
    std::atomic<MethodMetrics*> metrics{nullptr};
  };
  // More methods than kSlots still work, looked up under mu_.
  static constexpr int kSlotBits = 8;
  static constexpr std::size_t kSlots = std::size_t{1} << kSlotBits;

  static std::size_t SlotHash(const rpc::Method* method);
  static std::size_t TransportIndex(absl::string_view transport);
  MethodMetrics* Lookup(const rpc::Method* method);
  MethodMetrics* LookupSlow(const rpc::Method* method);
  prometheus::Gauge* InFlight(MethodMetrics* metrics, std::size_t transport);
  CodeMetrics* Code(MethodMetrics* metrics, std::size_t transport,
                    std::size_t code);

  const CallFamilies& families_;
  std::array<Slot, kSlots> slots_;
  absl::Mutex mu_;
  // Owns every MethodMetrics (and through them the CodeMetrics).
  absl::flat_hash_map<const rpc::Method*, std::unique_ptr<MethodMetrics>>
      owned_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dualrpc::metrics

#endif  // DUALRPC_METRICS_METRICS_INTERCEPTOR_H_
