#ifndef DUALRPC_BENCH_DUALRPC_CONTENDER_H_
#define DUALRPC_BENCH_DUALRPC_CONTENDER_H_

#include <string>

#include "contender.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/rpc/call.h"

namespace dualrpc::bench {

// The project's own transports, driven the way an application would: the
// generated dualrpc::v1::FileServiceClient over dualrpc::CreateChannel, with
// EchoAsync / ListDirectoryAsync (every completion starts the caller's next
// call from the transport's completion thread), ChannelFactoryOptions::
// connections = the shape's connections, no deadline. The variants of
// issue 11 differ only in `target` (raws://, grpcs://, a shared port), the
// channel's TLS options and the metadata every call carries (a token).
class DualrpcContender final : public Contender {
 public:
  struct Options {
    // The name in the report: "raw", "grpc", "raw-tls", "raw-auth", ...
    std::string transport;
    // A URI for CreateChannel ("raw://HOST:PORT", "grpcs://HOST:PORT").
    std::string target;
    // grpcs:// and raws:// only.
    client::TlsChannelOptions tls;
    // Sent with every call (e.g. "authorization: Bearer ...").
    rpc::Metadata metadata;
  };

  // `server` is not owned.
  DualrpcContender(Options options, const ServerProcess* server)
      : transport_(std::move(options.transport)),
        target_(std::move(options.target)),
        tls_(std::move(options.tls)),
        server_(server) {
    call_options_.metadata = std::move(options.metadata);
  }

  absl::string_view transport() const override { return transport_; }
  bool Supports(const Workload&) const override { return true; }
  const ServerProcess* server() const override { return server_; }
  absl::Status Run(const Workload& workload, const LoadShape& shape,
                   RunControl* control) override;

 private:
  const std::string transport_;
  const std::string target_;
  const client::TlsChannelOptions tls_;
  // Every call's: no deadline; the metadata of Options.
  rpc::CallOptions call_options_;
  const ServerProcess* const server_;
};

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_DUALRPC_CONTENDER_H_
