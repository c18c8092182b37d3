#include "cli/file_service_client.h"

#include <memory>

#include "cli/channel_file_service_client.h"
#include "client/channel_factory.h"

namespace dualrpc::cli {

absl::StatusOr<std::unique_ptr<FileServiceClient>> MakeClient(
    absl::string_view target) {
  ChannelFactoryOptions options;
  options.max_response_bytes = kMaxResponseBytes;
  absl::StatusOr<std::shared_ptr<Channel>> channel =
      CreateChannel(target, options);
  if (!channel.ok()) return channel.status();
  return MakeChannelFileServiceClient(*std::move(channel));
}

}  // namespace dualrpc::cli
