#ifndef DUALRPC_BENCH_DUALRPC_CONTENDER_H_
#define DUALRPC_BENCH_DUALRPC_CONTENDER_H_

#include <string>

#include "contender.h"

namespace dualrpc::bench {

// The project's own transports, driven the way an application would: the
// generated dualrpc::v1::FileServiceClient over dualrpc::CreateChannel, with
// EchoAsync / ListDirectoryAsync (every completion starts the caller's next
// call from the transport's completion thread), ChannelFactoryOptions::
// connections = the shape's connections, no deadline.
class DualrpcContender final : public Contender {
 public:
  // `transport` is "raw" or "grpc"; `target` a URI for CreateChannel
  // ("raw://HOST:PORT", "grpc://HOST:PORT"); `server` is not owned.
  DualrpcContender(std::string transport, std::string target,
                   const ServerProcess* server)
      : transport_(std::move(transport)),
        target_(std::move(target)),
        server_(server) {}

  absl::string_view transport() const override { return transport_; }
  bool Supports(const Workload&) const override { return true; }
  const ServerProcess* server() const override { return server_; }
  absl::Status Run(const Workload& workload, const LoadShape& shape,
                   RunControl* control) override;

 private:
  const std::string transport_;
  const std::string target_;
  const ServerProcess* const server_;
};

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_DUALRPC_CONTENDER_H_
