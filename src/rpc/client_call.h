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
#include "rpc/call.h"
#include "rpc/channel.h"

namespace dualrpc {

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
  auto response = std::make_unique<Response>();
  // Taken before `response` moves into the callback below.
  Response* response_slot = response.get();
  channel.StartUnaryCall(method, request, response_slot, options,
                         [response = std::move(response),
                          done = std::move(done)](absl::Status status) mutable {
                           if (!status.ok()) {
                             std::move(done)(std::move(status));
                             return;
                           }
                           std::move(done)(std::move(*response));
                         });
}

}  // namespace dualrpc

#endif  // DUALRPC_RPC_CLIENT_CALL_H_
