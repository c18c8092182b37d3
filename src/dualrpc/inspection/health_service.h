#ifndef DUALRPC_INSPECTION_HEALTH_SERVICE_H_
#define DUALRPC_INSPECTION_HEALTH_SERVICE_H_

#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/reactor.h"
#include "dualrpc/rpc/service_registry.h"
#include "grpc/health/v1/health.pb.h"

namespace dualrpc::inspection {

// grpc.health.v1.Health/Check and /Watch as registry methods, answered as
// grpc++'s default health service answers; dualrpc-server serves them on
// both ports (the gRPC port without grpc++'s own). "" (the whole server)
// and each of `service_names` are SERVING until SetNotServing(),
// NOT_SERVING after.
//
// Check: any other name fails the call with NOT_FOUND.
// Watch (server streaming, as grpc++'s): the first message is the name's
// current status, then one message per change; an unknown name is one
// SERVICE_UNKNOWN message (the call does not fail). The stream stays open
// after NOT_SERVING until the client cancels or the server ends the call
// (a drain's grace running out). Docs: docs/PROTOCOL.md §10.
//
// Thread-safe. Must outlive every server that serves it and every Watch
// call they started (the destructor expects no watcher left).
class HealthService {
 public:
  static constexpr char kServiceName[] = "grpc.health.v1.Health";
  static constexpr char kCheckPath[] = "/grpc.health.v1.Health/Check";
  static constexpr char kWatchPath[] = "/grpc.health.v1.Health/Watch";

  explicit HealthService(const std::vector<std::string>& service_names);
  ~HealthService();

  HealthService(const HealthService&) = delete;
  HealthService& operator=(const HealthService&) = delete;

  // Adds Check and Watch to `registry`; fails as ServiceRegistry::AddMethods
  // does (then neither is added).
  absl::Status Register(rpc::ServiceRegistry* registry);

  // Every known name is NOT_SERVING from now on, and every Watch of one is
  // told so. Called when shutdown begins, so that load balancers stop
  // sending before the drain. Idempotent. Any thread.
  void SetNotServing();

  // Completes inline.
  void Check(rpc::ServerCallContext* context,
             const ::grpc::health::v1::HealthCheckRequest* request,
             ::grpc::health::v1::HealthCheckResponse* response,
             rpc::UnaryDone done);

  // The start function of Watch: never blocks.
  rpc::ServerWriteReactor<::grpc::health::v1::HealthCheckResponse>* Watch(
      rpc::ServerStream* stream,
      const ::grpc::health::v1::HealthCheckRequest* request);

  // Watch calls not yet done (a snapshot), for tests and drains.
  std::size_t watchers() const;

 private:
  class WatchReactor;

  ::grpc::health::v1::HealthCheckResponse::ServingStatus StatusOfLocked(
      const std::string& service) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::set<std::string, std::less<>> service_names_;
  mutable absl::Mutex mu_;
  bool serving_ ABSL_GUARDED_BY(mu_) = true;
  // Lock order: mu_ before a WatchReactor's own mutex. A watcher leaves the
  // set in its OnDone, before it is deleted.
  std::set<WatchReactor*> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dualrpc::inspection

#endif  // DUALRPC_INSPECTION_HEALTH_SERVICE_H_
