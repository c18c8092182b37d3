#include "dualrpc/cli/channel_file_service_client.h"

#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/v1/file_service.dualrpc.h"

namespace dualrpc::cli {
namespace {

class ChannelFileServiceClient final : public FileServiceClient {
 public:
  explicit ChannelFileServiceClient(std::shared_ptr<rpc::Channel> channel)
      : client_(std::move(channel)) {}

  absl::StatusOr<v1::EchoResponse> Echo(const v1::EchoRequest& request,
                                        absl::Duration timeout) override {
    return client_.Echo(request, OptionsFor(timeout));
  }

  absl::StatusOr<v1::ListDirectoryResponse> ListDirectory(
      const v1::ListDirectoryRequest& request,
      absl::Duration timeout) override {
    return client_.ListDirectory(request, OptionsFor(timeout));
  }

 private:
  // Both use InfiniteDuration() for "no deadline", so the timeout passes
  // through unchanged.
  static rpc::CallOptions OptionsFor(absl::Duration timeout) {
    rpc::CallOptions options;
    options.timeout = timeout;
    return options;
  }

  v1::FileServiceClient client_;
};

}  // namespace

std::unique_ptr<FileServiceClient> MakeChannelFileServiceClient(
    std::shared_ptr<rpc::Channel> channel) {
  return std::make_unique<ChannelFileServiceClient>(std::move(channel));
}

}  // namespace dualrpc::cli
