#ifndef DUALRPC_RPC_CLIENT_CALL_H_
#define DUALRPC_RPC_CLIENT_CALL_H_

#include <memory>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/channel.h"
#include "google/protobuf/message_lite.h"

namespace dualrpc::rpc {

// Typed unary calls over any Channel; what generated clients are made of.

// What a Channel breaking its contract by destroying a done without running
// it completes the call with (as the raw server answers a dropped server
// call), so that no caller waits forever.
inline absl::Status DroppedCallStatus() {
  return absl::InternalError(
      "the channel dropped the call without completing it");
}

// The done of a blocking call: stores the call's status in `*status`, then
// notifies `*finished`; both must outlive it. Completes the call with
// DroppedCallStatus() if destroyed without having run, so a waiter never
// hangs on a dropped call. Two pointers: stored inline in a UnaryDone (no
// allocation).
class WaitingDone {
 public:
  WaitingDone(absl::Status* status, absl::Notification* finished)
      : status_(status), finished_(finished) {}
  WaitingDone(WaitingDone&& other) noexcept
      : status_(std::exchange(other.status_, nullptr)),
        finished_(other.finished_) {}
  WaitingDone& operator=(WaitingDone&&) = delete;
  ~WaitingDone() {
    if (status_ != nullptr) Finish(DroppedCallStatus());
  }

  void operator()(absl::Status status) && { Finish(std::move(status)); }

 private:
  void Finish(absl::Status status) {
    *std::exchange(status_, nullptr) = std::move(status);
    finished_->Notify();
  }

  absl::Status* status_;  // nullptr once run (or moved from).
  absl::Notification* finished_;
};

// Calls `method` and blocks until it completes, also when the channel
// breaks its contract and drops the call (INTERNAL, DroppedCallStatus()).
// Must not be called where blocking would stop the channel from completing
// the call (for example inside another call's done on a transport thread).
template <typename Response>
absl::StatusOr<Response> CallUnaryAndWait(
    Channel& channel, absl::string_view method,
    const google::protobuf::MessageLite& request, const CallOptions& options) {
  Response response;
  absl::Status status;
  absl::Notification finished;
  channel.StartUnaryCall(method, request, &response, options,
                         WaitingDone(&status, &finished));
  finished.WaitForNotification();
  if (!status.ok()) return status;
  return response;
}

// Starts `method`. `done` runs exactly once, on any thread (possibly before
// this returns), with the response or the failure; with INTERNAL
// (DroppedCallStatus()) if the channel drops the call without completing it.
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
  // Completes the call with DroppedCallStatus() if destroyed without having
  // run.
  class TypedDone {
   public:
    explicit TypedDone(std::unique_ptr<Pending> pending)
        : pending_(std::move(pending)) {}
    TypedDone(TypedDone&&) noexcept = default;
    TypedDone& operator=(TypedDone&&) = delete;
    ~TypedDone() {
      if (pending_ != nullptr) std::move (*this)(DroppedCallStatus());
    }

    void operator()(absl::Status status) && {
      std::unique_ptr<Pending> pending = std::move(pending_);
      if (!status.ok()) {
        std::move(pending->done)(std::move(status));
        return;
      }
      std::move(pending->done)(std::move(pending->response));
    }

   private:
    std::unique_ptr<Pending> pending_;  // nullptr once run (or moved from).
  };
  auto pending = std::make_unique<Pending>();
  pending->done = std::move(done);
  // Taken before `pending` moves into the done below.
  Response* response_slot = &pending->response;
  channel.StartUnaryCall(method, request, response_slot, options,
                         TypedDone(std::move(pending)));
}

}  // namespace dualrpc::rpc

#endif  // DUALRPC_RPC_CLIENT_CALL_H_
