#ifndef DUALRPC_BENCH_CAPNP_CONTENDER_H_
#define DUALRPC_BENCH_CAPNP_CONTENDER_H_

#include <string>

#include "contender.h"

namespace dualrpc::bench {

// The Cap'n Proto RPC client: one capnp::EzRpcClient per connection (each
// on its own TCP_NODELAY socket), all on one KJ event loop (the Run
// thread), every caller a promise chain that sends its next request from
// the previous response — many promises outstanding at once. Open loop: a
// pacer thread hands intended start times to the loop through an eventfd,
// as the raw channel's I/O thread gets its calls.
class CapnpContender final : public Contender {
 public:
  // `address` is "HOST:PORT"; `server` is not owned.
  CapnpContender(std::string address, const ServerProcess* server)
      : address_(std::move(address)), server_(server) {}

  absl::string_view transport() const override { return "capnp"; }
  bool Supports(const Workload& workload) const override {
    return workload.kind == Workload::Kind::kEcho;
  }
  const ServerProcess* server() const override { return server_; }
  absl::Status Run(const Workload& workload, const LoadShape& shape,
                   RunControl* control) override;

 private:
  const std::string address_;
  const ServerProcess* const server_;
};

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_CAPNP_CONTENDER_H_
