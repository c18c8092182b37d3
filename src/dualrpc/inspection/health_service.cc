#include "dualrpc/inspection/health_service.h"

#include <utility>

namespace dualrpc::inspection {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

HealthService::HealthService(const std::vector<std::string>& service_names)
    : service_names_(service_names.begin(), service_names.end()) {}

absl::Status HealthService::Register(rpc::ServiceRegistry* registry) {
  return registry->AddMethod(
      rpc::MakeUnaryMethod(kCheckPath, this, &HealthService::Check));
}

void HealthService::SetNotServing() {
  serving_.store(false, std::memory_order_release);
}

void HealthService::Check(rpc::ServerCallContext* /*context*/,
                          const HealthCheckRequest* request,
                          HealthCheckResponse* response, rpc::UnaryDone done) {
  if (!request->service().empty() &&
      service_names_.count(request->service()) == 0) {
    // grpc++'s default health service answers an unknown name this way.
    std::move(done)(absl::NotFoundError("service name unknown"));
    return;
  }
  response->set_status(serving_.load(std::memory_order_acquire)
                           ? HealthCheckResponse::SERVING
                           : HealthCheckResponse::NOT_SERVING);
  std::move(done)(absl::OkStatus());
}

}  // namespace dualrpc::inspection
