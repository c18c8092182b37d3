#include "dualrpc/raw/server/server_call.h"

#include <utility>

#include "dualrpc/raw/server/server_loop.h"

namespace dualrpc::raw {

// The UnaryDone of one call: the call's sole owner until it runs.
class CallCompletion {
 public:
  explicit CallCompletion(std::unique_ptr<ServerCall> call)
      : call_(std::move(call)) {}
  CallCompletion(CallCompletion&&) = default;
  CallCompletion& operator=(CallCompletion&&) = default;
  ~CallCompletion() {
    if (call_ != nullptr) {
      Deliver(std::move(call_),
              absl::InternalError(
                  "the service dropped the call without completing it"));
    }
  }

  void operator()(absl::Status status) && {
    if (call_ != nullptr) Deliver(std::move(call_), std::move(status));
  }

 private:
  static void Deliver(std::unique_ptr<ServerCall> call, absl::Status status) {
    const ServerCall::Identity& identity = call->identity_;
    if (identity.mailbox->IsCurrentThread()) {
      identity.loop->CompleteCall(std::move(call), std::move(status));
      return;
    }
    // Copies: `call` moves into the task below.
    const std::shared_ptr<net::EventLoop::Mailbox> mailbox = identity.mailbox;
    ServerLoop* const loop = identity.loop;
    // If the loop has stopped, Post destroys the task, and with it the
    // call, here: nothing is left to deliver to.
    mailbox->Post(
        [loop, call = std::move(call), status = std::move(status)]() mutable {
          loop->CompleteCall(std::move(call), std::move(status));
        });
  }

  std::unique_ptr<ServerCall> call_;
};

ServerCall::ServerCall(Identity identity, const rpc::Method* method,
                       std::shared_ptr<const std::string> peer,
                       std::shared_ptr<const std::string> peer_certificate_subject,
                       absl::Time deadline,
                       rpc::Metadata request_metadata,
                       std::unique_ptr<google::protobuf::Message> request,
                       std::size_t request_wire_bytes,
                       std::unique_ptr<google::protobuf::Message> response)
    : identity_(std::move(identity)),
      method_(method),
      peer_(std::move(peer)),
      peer_certificate_subject_(std::move(peer_certificate_subject)),
      deadline_(deadline),
      request_metadata_(std::move(request_metadata)),
      request_(std::move(request)),
      request_wire_bytes_(request_wire_bytes),
      response_(std::move(response)) {}

void ServerCall::AddResponseMetadata(std::string key, std::string value) {
  absl::MutexLock lock(&mu_);
  response_metadata_.emplace_back(std::move(key), std::move(value));
  has_response_metadata_.store(true, std::memory_order_release);
}

rpc::Metadata ServerCall::TakeResponseMetadata() {
  // Done has run, so whatever the implementation added happened before it
  // (on any thread) and is visible through the flag.
  if (!has_response_metadata_.load(std::memory_order_acquire)) return {};
  absl::MutexLock lock(&mu_);
  return std::move(response_metadata_);
}

rpc::UnaryDone ServerCall::MakeDone(std::unique_ptr<ServerCall> call) {
  return CallCompletion(std::move(call));
}

}  // namespace dualrpc::raw
