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

namespace {

// A stream of a CommandChannel: the caller's ClientStream and the wrapped
// channel's reactor, forwarding every operation and callback unchanged but
// for the final status, marked by AsRpcError when `rpc_errors`. Owns
// itself: deleted right after the caller's OnDone has returned, which is
// after the wrapped stream's last callback, so both streams' lifetimes are
// what rpc/stream.h promises. Callbacks arrive on the wrapped transport's
// threads and are passed on there, never inside the call causing them
// (the wrapped stream keeps that promise, and this adds no callback).
class CommandStream final : public rpc::ClientStream,
                            public rpc::ClientStreamReactor {
 public:
  CommandStream(rpc::ClientStreamReactor* reactor, bool rpc_errors)
      : reactor_(reactor), rpc_errors_(rpc_errors) {}

  // Once, before any other method: the stream this one drives.
  void Bind(rpc::ClientStream* stream) { stream_ = stream; }

  void Start() override { stream_->Start(); }
  void StartRead(google::protobuf::MessageLite* response) override {
    stream_->StartRead(response);
  }
  void StartWrite(const google::protobuf::MessageLite& request) override {
    stream_->StartWrite(request);
  }
  void StartWritesDone() override { stream_->StartWritesDone(); }
  void Cancel() override { stream_->Cancel(); }

  void OnReadDone(bool ok) override { reactor_->OnReadDone(ok); }
  void OnWriteDone(bool ok) override { reactor_->OnWriteDone(ok); }
  void OnWritesDoneDone(bool ok) override { reactor_->OnWritesDoneDone(ok); }
  void OnDone(const absl::Status& status) override {
    rpc::ClientStreamReactor* const reactor = reactor_;
    const absl::Status finished = rpc_errors_ ? AsRpcError(status) : status;
    reactor->OnDone(finished);
    delete this;
  }

 private:
  ~CommandStream() = default;

  rpc::ClientStreamReactor* const reactor_;
  const bool rpc_errors_;
  rpc::ClientStream* stream_ = nullptr;
};

}  // namespace

rpc::ClientStream* CommandChannel::NewStream(
    absl::string_view method, rpc::MethodKind kind,
    const rpc::CallOptions& options, rpc::ClientStreamReactor* reactor) {
  const absl::Duration left = options_.deadline - absl::Now();
  if (left <= absl::ZeroDuration()) {
    absl::Status expired = absl::DeadlineExceededError(
        "the command's -max-time passed before the call started");
    return rpc::NewFailedStream(reactor, options_.rpc_errors
                                             ? AsRpcError(std::move(expired))
                                             : std::move(expired));
  }
  rpc::CallOptions call = options;
  call.timeout = std::min(call.timeout, left);
  call.metadata.insert(call.metadata.end(), options_.metadata.begin(),
                       options_.metadata.end());
  auto* stream = new CommandStream(reactor, options_.rpc_errors);
  stream->Bind(channel_->NewStream(method, kind, call, stream));
  return stream;
}

}  // namespace dualrpc::cli
