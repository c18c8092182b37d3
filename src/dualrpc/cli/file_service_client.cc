#include "dualrpc/cli/file_service_client.h"

#include <memory>

#include "dualrpc/cli/channel_file_service_client.h"
#include "dualrpc/client/channel_factory.h"

namespace dualrpc::cli {

absl::StatusOr<std::shared_ptr<rpc::Channel>> MakeChannel(
    absl::string_view target, const ChannelSettings& settings) {
  client::ChannelFactoryOptions options;
  options.max_response_bytes = kMaxResponseBytes;
  if (settings.connect_timeout.has_value()) {
    // grpcurl's -connect-timeout: a blocking dial on gRPC, the bound of each
    // (lazy) connect on raw.
    options.connect_timeout = *settings.connect_timeout;
    options.connect_first = true;
  }
  options.keepalive_time = settings.keepalive_time;
  options.authority = settings.authority;
  return client::CreateChannel(target, options);
}

absl::StatusOr<std::unique_ptr<FileServiceClient>> MakeClient(
    absl::string_view target) {
  absl::StatusOr<std::shared_ptr<rpc::Channel>> channel = MakeChannel(target);
  if (!channel.ok()) return channel.status();
  return MakeChannelFileServiceClient(*std::move(channel));
}

}  // namespace dualrpc::cli
