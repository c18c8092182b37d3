#include "dualrpc/inspection/health_service.h"

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "dualrpc/rpc/stream.h"

namespace dualrpc::inspection {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

// One Watch call. The status to report (`wanted_`) may change on any thread
// (SetNotServing); the reactor writes it whenever no write is outstanding
// and it differs from what was last written, so a client that reads slowly
// gets the latest status, never a backlog. Finish runs once: when the call
// ends (a failed write, or OnCancel with no write outstanding).
class HealthService::WatchReactor final
    : public rpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  WatchReactor(rpc::ServerStream* stream, HealthService* health,
               std::string service)
      : ServerWriteReactor(stream),
        health_(health),
        service_(std::move(service)) {}

  // The name watched.
  const std::string& service() const { return service_; }

  // Sets the status to report and writes it if the stream is free.
  void Report(HealthCheckResponse::ServingStatus status) {
    absl::MutexLock lock(&mu_);
    wanted_ = status;
    MaybeWriteLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    write_outstanding_ = false;
    if (!ok || cancelled_) {
      FinishLocked();
      return;
    }
    MaybeWriteLocked();
  }
  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    if (!write_outstanding_) FinishLocked();
  }
  void OnDone() override {
    {
      absl::MutexLock lock(&health_->mu_);
      health_->watchers_.erase(this);
    }
    delete this;
  }

 private:
  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || cancelled_ || write_outstanding_) return;
    if (written_ && response_.status() == wanted_) return;
    response_.set_status(wanted_);
    written_ = true;
    write_outstanding_ = true;
    // No callback runs inside StartWrite (rpc/stream.h), so holding mu_ is
    // safe.
    StartWrite(response_);
  }
  void FinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(absl::CancelledError("watch ended"));
  }

  HealthService* const health_;
  const std::string service_;
  absl::Mutex mu_;
  HealthCheckResponse::ServingStatus wanted_ ABSL_GUARDED_BY(mu_) =
      HealthCheckResponse::UNKNOWN;
  HealthCheckResponse response_ ABSL_GUARDED_BY(mu_);  // the last written
  bool written_ ABSL_GUARDED_BY(mu_) = false;
  bool write_outstanding_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

HealthService::HealthService(const std::vector<std::string>& service_names)
    : service_names_(service_names.begin(), service_names.end()) {}

HealthService::~HealthService() {
  absl::MutexLock lock(&mu_);
  // A watcher left would call back into a destroyed service.
  if (!watchers_.empty()) std::abort();
}

absl::Status HealthService::Register(rpc::ServiceRegistry* registry) {
  rpc::Method watch = rpc::internal::StreamingMethodShell<HealthCheckRequest,
                                                          HealthCheckResponse>(
      kWatchPath, rpc::MethodKind::kServerStreaming);
  watch.start_stream = [this](rpc::ServerStream* stream,
                              const google::protobuf::Message* request,
                              google::protobuf::Message*)
      -> rpc::ServerStreamReactor* {
    // The transport made `request` with new_request.
    return Watch(stream, static_cast<const HealthCheckRequest*>(request));
  };
  std::vector<rpc::Method> methods;
  methods.push_back(
      rpc::MakeUnaryMethod(kCheckPath, this, &HealthService::Check));
  methods.push_back(std::move(watch));
  return registry->AddMethods(std::move(methods));
}

HealthCheckResponse::ServingStatus HealthService::StatusOfLocked(
    const std::string& service) const {
  if (!service.empty() && service_names_.count(service) == 0) {
    return HealthCheckResponse::SERVICE_UNKNOWN;
  }
  return serving_ ? HealthCheckResponse::SERVING
                  : HealthCheckResponse::NOT_SERVING;
}

void HealthService::SetNotServing() {
  absl::MutexLock lock(&mu_);
  if (!serving_) return;
  serving_ = false;
  // Each watcher's own name: an unknown one stays SERVICE_UNKNOWN, which it
  // already reported, so Report writes nothing new for it.
  for (WatchReactor* watcher : watchers_) {
    watcher->Report(StatusOfLocked(watcher->service()));
  }
}

void HealthService::Check(rpc::ServerCallContext* /*context*/,
                          const HealthCheckRequest* request,
                          HealthCheckResponse* response, rpc::UnaryDone done) {
  HealthCheckResponse::ServingStatus status;
  {
    absl::MutexLock lock(&mu_);
    status = StatusOfLocked(request->service());
  }
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    // grpc++'s default health service answers an unknown name this way.
    std::move(done)(absl::NotFoundError("service name unknown"));
    return;
  }
  response->set_status(status);
  std::move(done)(absl::OkStatus());
}

rpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    rpc::ServerStream* stream, const HealthCheckRequest* request) {
  auto* watcher = new WatchReactor(stream, this, request->service());
  absl::MutexLock lock(&mu_);
  watchers_.insert(watcher);
  watcher->Report(StatusOfLocked(watcher->service()));
  return watcher;
}

std::size_t HealthService::watchers() const {
  absl::MutexLock lock(&mu_);
  return watchers_.size();
}

}  // namespace dualrpc::inspection
