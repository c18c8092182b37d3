#ifndef DUALRPC_METRICS_METRICS_INTERCEPTOR_H_
#define DUALRPC_METRICS_METRICS_INTERCEPTOR_H_

#include "absl/status/status.h"
#include "dualrpc/metrics/call_table.h"
#include "dualrpc/metrics/server_metrics.h"
#include "dualrpc/rpc/interceptor.h"
#include "dualrpc/rpc/service_registry.h"

namespace dualrpc::metrics {

// The per-call metrics of ServerMetrics as one interceptor of the registry's
// stage (rpc/interceptor.h), so that every transport is counted by the same
// code: dualrpc_server_calls_in_flight up in OnCallStart and down in
// OnCallEnd; calls, duration, bytes and messages per method × transport ×
// code in OnCallEnd, into the ServerMetrics's CallTable (labels and cost
// there).
//
// main adds it before AuthInterceptor, so that the calls authentication
// refuses are counted too: the stage runs OnCallEnd only for the
// interceptors whose OnCallStart saw the call.
//
// Thread-safe; never blocks after a method's first call on a transport with
// a code. `metrics` is not owned and must outlive this and every call of
// the registries it is added to.
class MetricsInterceptor final : public rpc::ServerInterceptor {
 public:
  explicit MetricsInterceptor(ServerMetrics* metrics)
      : calls_(metrics->call_table()) {}

  // Never rejects.
  absl::Status OnCallStart(const rpc::Method& method,
                           rpc::ServerCallContext* context) override {
    calls_->RecordStart(method, context->transport());
    return absl::OkStatus();
  }
  void OnCallEnd(const rpc::CallRecord& record) override {
    calls_->RecordEnd(record);
  }
  bool wants_call_end() const override { return true; }

 private:
  CallTable* const calls_;
};

}  // namespace dualrpc::metrics

#endif  // DUALRPC_METRICS_METRICS_INTERCEPTOR_H_
