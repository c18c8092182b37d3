#ifndef DUALRPC_RAW_SERVER_SERVER_CALL_H_
#define DUALRPC_RAW_SERVER_SERVER_CALL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dualrpc/base/heap.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/net/socket_address.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/service_registry.h"
#include "google/protobuf/message.h"

namespace dualrpc::raw {

class ServerLoop;

// The server-side state of one raw-protocol call: what the implementation
// sees (ServerCallContext), its request and response messages, and the
// address of the loop that must deliver its result.
//
// Lifetime: owned by the call's UnaryDone (see MakeDone), never by the
// connection, so that request, response and context stay valid until the
// implementation calls done even if the connection, or the whole server,
// is gone by then. The connection only tracks in-flight calls by id and a
// borrowed pointer, which it drops before the call can be destroyed: the
// completion of a call is processed on the owning loop (where the
// connection's bookkeeping lives), and it is looked up there by
// (connection id, call id), so a completion for a connection that has
// closed, or for a call that was cancelled or timed out, is dropped.
//
// Thread-safety: the ServerCallContext methods may be called on any thread.
class ServerCall final : public rpc::ServerCallContext,
                         public base::ThreadCachedAllocation<ServerCall> {
 public:
  struct Identity {
    // The loop that owns the connection. Dereferenced only on that loop's
    // thread, where it is alive by construction.
    ServerLoop* loop;
    // Reaches that loop from other threads; outlives it.
    std::shared_ptr<net::EventLoop::Mailbox> mailbox;
    std::uint64_t connection_id;
    std::uint32_t call_id;
  };

  // `peer`: the connection's address as peer() gives it (formatted once per
  // connection, CallDispatcher); `peer_certificate_subject`: the
  // connection's (null: none).
  ServerCall(Identity identity, const rpc::Method* method,
             std::shared_ptr<const std::string> peer,
             std::shared_ptr<const std::string> peer_certificate_subject,
             absl::Time deadline,
             rpc::Metadata request_metadata,
             std::unique_ptr<google::protobuf::Message> request,
             std::size_t request_wire_bytes,
             std::unique_ptr<google::protobuf::Message> response);

  // ServerCallContext.
  absl::Time deadline() const override { return deadline_; }
  bool IsCancelled() const override {
    return cancelled_.load(std::memory_order_acquire);
  }
  const rpc::Metadata& request_metadata() const override {
    return request_metadata_;
  }
  void AddResponseMetadata(std::string key, std::string value) override;
  std::string peer() const override { return *peer_; }
  absl::string_view transport() const override { return "raw"; }
  std::string peer_certificate_subject() const override {
    return peer_certificate_subject_ ? *peer_certificate_subject_
                                     : std::string();
  }

  // Transport side.
  std::uint64_t connection_id() const { return identity_.connection_id; }
  std::uint32_t call_id() const { return identity_.call_id; }
  const rpc::Method* method() const { return method_; }
  const google::protobuf::Message* request() const { return request_.get(); }
  // The request message's size on the wire (MessagePool's measure).
  std::size_t request_wire_bytes() const { return request_wire_bytes_; }
  google::protobuf::Message* response() { return response_.get(); }
  // What the implementation added. Call after done has run.
  rpc::Metadata TakeResponseMetadata();
  // Hands the messages back (for reuse) once done has run; the call is
  // finished with them.
  std::unique_ptr<google::protobuf::Message> TakeRequest() {
    return std::move(request_);
  }
  std::unique_ptr<google::protobuf::Message> TakeResponse() {
    return std::move(response_);
  }
  // The response will not be delivered: tells the implementation to stop.
  void Cancel() { cancelled_.store(true, std::memory_order_release); }

  // The UnaryDone for `call`, which it owns. Running it delivers the result
  // to the owning loop: inline when it runs on that loop's thread (the fast
  // path for implementations that complete inside invoke), otherwise as a
  // task posted to the loop's mailbox. Destroying it without running it
  // completes the call with INTERNAL.
  static rpc::UnaryDone MakeDone(std::unique_ptr<ServerCall> call);

 private:
  friend class CallCompletion;

  const Identity identity_;
  const rpc::Method* const method_;
  const std::shared_ptr<const std::string> peer_;
  const std::shared_ptr<const std::string> peer_certificate_subject_;
  const absl::Time deadline_;
  const rpc::Metadata request_metadata_;
  std::unique_ptr<google::protobuf::Message> request_;
  const std::size_t request_wire_bytes_;
  std::unique_ptr<google::protobuf::Message> response_;
  std::atomic<bool> cancelled_{false};
  // Set (under mu_) once response_metadata_ is not empty: most calls add
  // none, and TakeResponseMetadata then skips the lock.
  std::atomic<bool> has_response_metadata_{false};
  absl::Mutex mu_;
  rpc::Metadata response_metadata_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_SERVER_SERVER_CALL_H_
