#include "dualrpc/cli/command_channel.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "dualrpc/cli/exit_status.h"

namespace dualrpc::cli {

CommandChannel::CommandChannel(std::shared_ptr<rpc::Channel> channel,
                               CommandChannelOptions options)
    : channel_(std::move(channel)), options_(std::move(options)) {}

void CommandChannel::StartUnaryCall(
    absl::string_view method, const google::protobuf::MessageLite& request,
    google::protobuf::MessageLite* response, const rpc::CallOptions& options,
    rpc::UnaryDone done) {
  rpc::UnaryDone finish = std::move(done);
  if (options_.rpc_errors) {
    finish = [done = std::move(finish)](absl::Status status) mutable {
      std::move(done)(AsRpcError(std::move(status)));
    };
  }
  const absl::Duration left = options_.deadline - absl::Now();
  if (left <= absl::ZeroDuration()) {
    std::move(finish)(absl::DeadlineExceededError(
        "the command's -max-time passed before the call started"));
    return;
  }
  rpc::CallOptions call = options;
  call.timeout = std::min(call.timeout, left);
  call.metadata.insert(call.metadata.end(), options_.metadata.begin(),
                       options_.metadata.end());
  channel_->StartUnaryCall(method, request, response, call, std::move(finish));
}

// TODO(streaming): replaced by the streaming work (issue 10).
rpc::ClientStream* CommandChannel::NewStream(absl::string_view, rpc::MethodKind,
                                 const rpc::CallOptions&,
                                 rpc::ClientStreamReactor* reactor) {
  return rpc::NewFailedStream(
      reactor, absl::UnimplementedError("streaming calls are not supported yet"));
}

}  // namespace dualrpc::cli
