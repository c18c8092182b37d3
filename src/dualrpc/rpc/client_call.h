#ifndef DUALRPC_RPC_CLIENT_CALL_H_
#define DUALRPC_RPC_CLIENT_CALL_H_

#include <memory>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/message_lite.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/channel.h"

namespace dualrpc::rpc {

// Typed unary calls over any Channel; what generated clients are made of.

// Calls `method` and blocks until it completes. Must not be called where
// blocking would stop the channel from completing the call (for example
// inside another call's done on a transport thread).
template <typename Response>
absl::StatusOr<Response> CallUnaryAndWait(
    Channel& channel, absl::string_view method,
    const google::protobuf::MessageLite& request, const CallOptions& options) {
  Response response;
  absl::Status status;
  absl::Notification finished;
  channel.StartUnaryCall(method, request, &response, options,
                         [&status, &finished](absl::Status call_status) {
                           status = std::move(call_status);
                           finished.Notify();
                         });
  finished.WaitForNotification();
  if (!status.ok()) return status;
  return response;
}

// Starts `method`. `done` runs exactly once, on any thread (possibly before
// this returns), with the response or the failure.
template <typename Response>
void StartTypedUnaryCall(
    Channel& channel, absl::string_view method,
    const google::protobuf::MessageLite& request, const CallOptions& options,
    absl::AnyInvocable<void(absl::StatusOr<Response>) &&> done) {
  // One allocation per call: the response and the caller's done together,
  // so that the UnaryDone below holds a single pointer (stored inline in
  // the AnyInvocable, no second allocation).
  struct Pending {
    Response response;
    absl::AnyInvocable<void(absl::StatusOr<Response>) &&> done;
  };
  auto pending = std::make_unique<Pending>();
  pending->done = std::move(done);
  // Taken before `pending` moves into the callback below.
  Response* response_slot = &pending->response;
  channel.StartUnaryCall(
      method, request, response_slot, options,
      [pending = std::move(pending)](absl::Status status) mutable {
        if (!status.ok()) {
          std::move(pending->done)(std::move(status));
          return;
        }
        std::move(pending->done)(std::move(pending->response));
      });
}

}  // namespace dualrpc::rpc

#endif  // DUALRPC_RPC_CLIENT_CALL_H_
