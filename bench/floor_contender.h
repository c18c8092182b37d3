#ifndef DUALRPC_BENCH_FLOOR_CONTENDER_H_
#define DUALRPC_BENCH_FLOOR_CONTENDER_H_

#include <memory>
#include <string>

#include "contender.h"
#include "floor_stream.h"

namespace dualrpc::bench {

// The floor's client: the shape's connections, non-blocking with
// TCP_NODELAY, all served by one epoll I/O thread that reads responses and,
// in the same pass, writes the next requests (one write per connection per
// pass). Responses come back in order, so a FIFO of start times per
// connection is all the bookkeeping there is. Open loop: the pacer thread
// writes the requests. With a TLS context ("floor-tls"), every connection
// handshakes (blocking, before the clock starts) and then does the same
// over OpenSSL's SSL_read / SSL_write (floor_stream.h).
class FloorContender final : public Contender {
 public:
  // `address` is "HOST:PORT"; `server` is not owned; `tls` is a client
  // context or null for plaintext.
  FloorContender(std::string address, const ServerProcess* server,
                 std::shared_ptr<FloorTlsContext> tls = nullptr)
      : address_(std::move(address)), server_(server), tls_(std::move(tls)) {}

  absl::string_view transport() const override {
    return tls_ == nullptr ? "floor" : "floor-tls";
  }
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
  const std::shared_ptr<FloorTlsContext> tls_;
};

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_FLOOR_CONTENDER_H_
