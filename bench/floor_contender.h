#ifndef DUALRPC_BENCH_FLOOR_CONTENDER_H_
#define DUALRPC_BENCH_FLOOR_CONTENDER_H_

#include <string>

#include "contender.h"

namespace dualrpc::bench {

// The floor's client: the shape's connections, non-blocking with
// TCP_NODELAY, all served by one epoll I/O thread that reads responses and,
// in the same pass, writes the next requests (one write per connection per
// pass). Responses come back in order, so a FIFO of start times per
// connection is all the bookkeeping there is. Open loop: the pacer thread
// writes the requests.
class FloorContender final : public Contender {
 public:
  // `address` is "HOST:PORT"; `server` is not owned.
  FloorContender(std::string address, const ServerProcess* server)
      : address_(std::move(address)), server_(server) {}

  absl::string_view transport() const override { return "floor"; }
  bool Supports(const Workload& workload) const override {
    // A stream's ping-pong is the floor's closed-loop echo on the same
    // shape, and a flood its pipelined echo: the same bytes, no streams.
    return workload.kind == Workload::Kind::kEcho ||
           workload.kind == Workload::Kind::kEchoStream ||
           workload.kind == Workload::Kind::kStreamFlood;
  }
  const ServerProcess* server() const override { return server_; }
  absl::Status Run(const Workload& workload, const LoadShape& shape,
                   RunControl* control) override;

 private:
  const std::string address_;
  const ServerProcess* const server_;
};

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_FLOOR_CONTENDER_H_
