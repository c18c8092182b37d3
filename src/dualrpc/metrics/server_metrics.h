#ifndef DUALRPC_METRICS_SERVER_METRICS_H_
#define DUALRPC_METRICS_SERVER_METRICS_H_

// The server's Prometheus metrics (issue 13, names in docs/OPERATIONS.md and
// the decisions D4). Two sources, one registry:
//
//  - per call: MetricsInterceptor (metrics_interceptor.h), one interceptor
//    of the registry's stage, so the same on every transport, counting into
//    a CallTable (call_table.h);
//  - per connection and process: hooks read at scrape time (AddTransport,
//    SetExecutor, SetAccessLogDropped), so that keeping them costs no call
//    anything.
//
// main() owns the one ServerMetrics and wires it; nothing here is global.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dualrpc/rpc/transport_stats.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace dualrpc::metrics {

class CallTable;

// The blocking executor's figures (base::BlockingExecutor), as a snapshot.
struct ExecutorFigures {
  // Tasks accepted and not yet started.
  std::int64_t queued_tasks = 0;
  // Pool threads running a task now.
  std::int64_t busy_threads = 0;
  // Tasks refused since start (queue full).
  std::int64_t rejected_total = 0;
  // Tasks refused since start because their connection had its share of
  // the queue queued (--blocking_queue_per_connection).
  std::int64_t rejected_per_connection_total = 0;
};

// What /readyz answers; the same moments grpc.health.v1 flips.
enum class Readiness {
  kStarting,  // not every configured port listens yet
  kReady,
  kDraining,  // a drain has begun
};

// The upper bounds of dualrpc_server_call_duration_seconds, in seconds:
// 50 µs to 10 s in 1-2.5-5 steps (2 to 2.5 times apart).
const std::vector<double>& CallDurationBuckets();

class ServerMetrics {
 public:
  struct Options {
    // dualrpc_build_info's labels. Defaults: the project's version and the
    // CMake build type this library was compiled in.
    std::string version;
    std::string build_type;
  };

  ServerMetrics();
  explicit ServerMetrics(Options options);
  ~ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // The per-call figures, for MetricsInterceptor.
  CallTable* call_table() { return call_table_.get(); }
  // For metrics other layers keep as prometheus-cpp objects of their own;
  // collected with the rest. (The per-call figures are not here: see
  // CallTable for why.)
  prometheus::Registry& registry() { return *registry_; }

  // Connection figures of `transport` ("raw", "grpc", "listen"), read by
  // `stats` at every scrape (on the HTTP server's thread, under this
  // object's mutex: it must be quick and must not call back in here). A
  // second hook for the same name replaces the first. `stats` must stay
  // callable until this object is destroyed or the hook replaced: main
  // adds hooks of servers that outlive it.
  void AddTransport(std::string transport,
                    std::function<rpc::TransportStats()> stats);
  // The executor's figures; same rules as AddTransport. Without it the
  // executor metrics are left out.
  void SetExecutor(std::function<ExecutorFigures()> figures);
  // The access log's dropped lines (D3); same rules. Without it
  // dualrpc_access_log_dropped_lines_total is left out.
  void SetAccessLogDropped(std::function<std::int64_t()> dropped_lines);

  // true: every port listens (kReady). false: a drain has begun
  // (kDraining); before the first SetReady(true) it stays kStarting.
  // Thread-safe, never blocks.
  void SetReady(bool ready);
  Readiness readiness() const;

  // Every family: the call table's, the registry's and those read from the
  // hooks now.
  // Thread-safe.
  std::vector<prometheus::MetricFamily> Collect() const;
  // Collect() in Prometheus text format 0.0.4.
  std::string SerializeText() const;

 private:
  // The prometheus::Collectable that reads the hooks at scrape time
  // (connection, executor, access-log figures, readiness, build info).
  class ScrapeTimeFigures;

  std::unique_ptr<CallTable> call_table_;
  std::unique_ptr<prometheus::Registry> registry_;
  std::unique_ptr<ScrapeTimeFigures> figures_;
};

}  // namespace dualrpc::metrics

#endif  // DUALRPC_METRICS_SERVER_METRICS_H_
