#ifndef DUALRPC_METRICS_METRICS_HTTP_SERVER_H_
#define DUALRPC_METRICS_METRICS_HTTP_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dualrpc/metrics/server_metrics.h"

struct mg_context;
struct mg_connection;

namespace dualrpc::metrics {

struct MetricsHttpServerOptions {
  // HOST:PORT (ValidateListenAddress); port 0 picks a free port.
  std::string listen_address;
  // civetweb worker threads: requests served at once. Scrapes and probes
  // are small and rare.
  int threads = 2;
  // Largest request head (request line and headers) accepted, in bytes;
  // larger ones are answered 400 (civetweb 1.15) and the connection closed.
  // civetweb's default.
  int max_request_bytes = 16384;
  // A connection that has not sent a whole request within this many
  // milliseconds is closed.
  int request_timeout_ms = 10000;
};

// The metrics port (--metrics_listen) on civetweb's C API (libcivetweb;
// prometheus-cpp's Exposer cannot answer /readyz with 503):
//
//   GET /metrics  200, ServerMetrics::SerializeText(), Content-Type
//                 text/plain; version=0.0.4
//   GET /healthz  200 "ok" while the process runs
//   GET /readyz   200 "ready" (Readiness::kReady); 503 "not ready: starting"
//                 or "not ready: draining"
//   anything else 404; a method other than GET or HEAD on those paths 405.
//
// Requests are served on civetweb's own threads (options.threads), never on
// a transport's. Owned by main; the destructor stops the threads and closes
// the port (requests in progress finish first). `metrics` is not owned and
// must outlive this.
class MetricsHttpServer {
 public:
  // INVALID_ARGUMENT naming `address` unless it is HOST:PORT with HOST an
  // IPv4 literal, "localhost" (bound as 127.0.0.1) or a bracketed IPv6
  // literal where libcivetweb supports IPv6 (Debian's does not), and PORT
  // 0..65535. For flag validation before anything listens.
  static absl::Status ValidateListenAddress(absl::string_view address);

  // Listens and serves. The error of ValidateListenAddress, or UNAVAILABLE
  // naming the address when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      MetricsHttpServerOptions options, const ServerMetrics* metrics);

  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The bound HOST:PORT (the port chosen when 0 was asked for), as the
  // ready file's "metrics".
  const std::string& address() const { return address_; }

 private:
  MetricsHttpServer(const ServerMetrics* metrics) : metrics_(metrics) {}

  static int HandleRequest(mg_connection* connection, void* server);
  int Serve(mg_connection* connection) const;

  const ServerMetrics* const metrics_;
  mg_context* context_ = nullptr;
  int port_ = 0;
  std::string address_;
};

}  // namespace dualrpc::metrics

#endif  // DUALRPC_METRICS_METRICS_HTTP_SERVER_H_
