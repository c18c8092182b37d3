#ifndef DUALRPC_CLI_COMMAND_CHANNEL_H_
#define DUALRPC_CLI_COMMAND_CHANNEL_H_

#include <memory>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/channel.h"
#include "google/protobuf/message_lite.h"

namespace dualrpc::cli {

// What one `dualrpc` command adds to every call it makes through a channel.
struct CommandChannelOptions {
  // Appended to each call's own request metadata (grpcurl's -H and
  // -rpc-header or -reflect-header). Must be valid (rpc/metadata.h).
  rpc::Metadata metadata;
  // No call's deadline is later than this (grpcurl's -max-time): each call's
  // timeout is cut to what is left. A call started after it fails with
  // DEADLINE_EXCEEDED without reaching the server.
  absl::Time deadline = absl::InfiniteFuture();
  // Failures of calls through this channel are the command's RPC errors
  // (AsRpcError, so the command exits 64 + code); false for the calls that
  // only prepare it, such as reflection.
  bool rpc_errors = false;
};

// An rpc::Channel that applies CommandChannelOptions to every call on the
// channel it wraps, unary and streaming alike: a stream's deadline (which
// covers the whole stream) is cut the same way, its metadata extended, its
// final status (OnDone's) marked. A stream keeps rpc/stream.h's contracts:
// its operations and callbacks pass through unchanged, and it is valid
// until its reactor's OnDone returns. Keeps rpc::Channel's contracts, destruction included: it
// holds a reference to `channel` only, and its dones do not refer to it, so
// destroying it is destroying that reference. Thread-safe.
class CommandChannel final : public rpc::Channel {
 public:
  CommandChannel(std::shared_ptr<rpc::Channel> channel,
                 CommandChannelOptions options);

  rpc::ClientStream* NewStream(absl::string_view method, rpc::MethodKind kind,
                               const rpc::CallOptions& options,
                               rpc::ClientStreamReactor* reactor) override;
  void StartUnaryCall(absl::string_view method,
                      const google::protobuf::MessageLite& request,
                      google::protobuf::MessageLite* response,
                      const rpc::CallOptions& options,
                      rpc::UnaryDone done) override;

 private:
  const std::shared_ptr<rpc::Channel> channel_;
  const CommandChannelOptions options_;
};

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_COMMAND_CHANNEL_H_
