#ifndef DUALRPC_INSPECTION_HEALTH_SERVICE_H_
#define DUALRPC_INSPECTION_HEALTH_SERVICE_H_

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/service_registry.h"
#include "grpc/health/v1/health.pb.h"

namespace dualrpc::inspection {

// grpc.health.v1.Health/Check for transports that serve a ServiceRegistry
// (the raw transport; the gRPC transport uses grpc++'s default health
// service, which answers the same). "" (the whole server) and each of
// `service_names` are SERVING until SetNotServing(), NOT_SERVING after; any
// other name is NOT_FOUND. Watch is server-streaming and so not offered
// (docs/PROTOCOL.md §10). Thread-safe.
class HealthService {
 public:
  static constexpr char kServiceName[] = "grpc.health.v1.Health";
  static constexpr char kCheckPath[] = "/grpc.health.v1.Health/Check";

  explicit HealthService(const std::vector<std::string>& service_names);

  HealthService(const HealthService&) = delete;
  HealthService& operator=(const HealthService&) = delete;

  // Adds Check to `registry`; fails as ServiceRegistry::AddMethod does.
  // This object must outlive every server that serves `registry`.
  absl::Status Register(rpc::ServiceRegistry* registry);

  // Every known name answers NOT_SERVING from now on. Called when shutdown
  // begins, so that load balancers stop sending before the drain. Idempotent.
  void SetNotServing();

  // Completes inline.
  void Check(rpc::ServerCallContext* context,
             const ::grpc::health::v1::HealthCheckRequest* request,
             ::grpc::health::v1::HealthCheckResponse* response,
             rpc::UnaryDone done);

 private:
  const std::set<std::string, std::less<>> service_names_;
  std::atomic<bool> serving_{true};
};

}  // namespace dualrpc::inspection

#endif  // DUALRPC_INSPECTION_HEALTH_SERVICE_H_
