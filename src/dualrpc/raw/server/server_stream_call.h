#ifndef DUALRPC_RAW_SERVER_SERVER_STREAM_CALL_H_
#define DUALRPC_RAW_SERVER_SERVER_STREAM_CALL_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/net/socket_address.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/rpc/stream.h"
#include "google/protobuf/message.h"

namespace dualrpc::raw {

class CallDispatcher;
class ServerLoop;

// The server side of one streaming call on the raw protocol
// (docs/PROTOCOL.md §7): the rpc::ServerStream its implementation drives,
// the call's two flow-control windows, the request MESSAGEs received and
// not yet read, the one write held back by flow control, and its deadline.
// Unary calls are ServerCall's; this class never sees them.
//
// Two halves, two lifetimes:
//  * the wire half lives while the call is open on its connection, from
//    its REQUEST until its RESPONSE, its CANCEL, a call error, its deadline
//    or the connection's end. The CallDispatcher tracks the call by id and
//    a borrowed pointer in that time, and this object knows its dispatcher
//    (dispatcher_) in exactly that time; whichever side ends it tells the
//    other (EndOnWire / OnWireGone).
//  * the object itself is owned by its ServerLoop (AdoptStream) from its
//    REQUEST until the reactor's OnDone has returned (ReleaseStream), so
//    the implementation may Finish long after the connection closed. The
//    loop does not stop while it owns streams (ServerLoop::QuitIfDrained):
//    a RawServer shutting down cancels them and waits for their Finish,
//    as grpc++'s Server::Shutdown waits for its callback reactors.
//
// Threads: StartRead/StartWrite/Finish and the ServerCallContext methods
// may be called on any thread; off the loop thread they post to the loop's
// mailbox (StartWrite serializes first, on the calling thread). Everything
// else runs on the loop thread. Reactor callbacks run on the loop thread,
// always from EventLoop::Defer: never inside the Start*/Finish call or the
// frame handler that causes them, and never before start_stream returns.
// The mailbox and the deferred queue are FIFO, so OnDone, queued once
// Finish has run and no operation is outstanding, runs after every other
// callback of the call.
class ServerStreamCall final : public rpc::ServerStream {
 public:
  struct Options {
    std::uint32_t call_id = 0;
    const rpc::Method* method = nullptr;
    // The connection's address as peer() gives it (never null).
    std::shared_ptr<const std::string> peer;
    // The connection's (CallDispatcher::PeerCertificateSubject); null: none.
    std::shared_ptr<const std::string> peer_certificate_subject;
    absl::Time deadline = absl::InfiniteFuture();
    // When to time out on the loop's clock; nullopt: no deadline.
    std::optional<net::EventLoop::Clock::time_point> loop_deadline;
    rpc::Metadata request_metadata;
    // §7.1: the client speaks 1.0, so the call is served in the unary form
    // (at most one response, carried by the RESPONSE).
    bool unary_form = false;
    // kServerStreaming: the one request (parsed). Else null.
    std::unique_ptr<google::protobuf::Message> request;
    // A request stream of exactly one, already closed (REQUEST with
    // END_STREAM for a client-streaming or bidi method): its bytes.
    std::optional<std::string> only_request;
  };

  // `loop` owns this object; `dispatcher` is its connection's, which has
  // just registered it. Loop thread.
  ServerStreamCall(ServerLoop* loop, CallDispatcher* dispatcher,
                   Options options);
  ~ServerStreamCall() override;

  ServerStreamCall(const ServerStreamCall&) = delete;
  ServerStreamCall& operator=(const ServerStreamCall&) = delete;

  // Arms the deadline and runs the method's start_stream. Loop thread, once.
  void Start();

  // rpc::ServerStream; any thread.
  void StartRead(google::protobuf::Message* request) override;
  void StartWrite(const google::protobuf::Message& response) override;
  void Finish(absl::Status status) override;

  // rpc::ServerCallContext; any thread.
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

  // ---- The dispatcher's side; loop thread, while on the wire. ----

  std::uint32_t call_id() const { return call_id_; }
  // True once the request stream is complete: the client half-closed, or
  // the REQUEST carried the call's only request (§7.2).
  bool request_stream_closed() const { return request_stream_closed_; }
  // A MESSAGE frame for this call (§7.2, §7.5). A call error ends the call
  // here (RESPONSE, OnCancel); nothing here is a connection error.
  void OnMessage(std::uint8_t flags, absl::string_view payload);
  // A MESSAGE over the message limit, payload skipped: RESOURCE_EXHAUSTED.
  void OnOversizedMessage(std::uint32_t payload_length);
  // A WINDOW_UPDATE's increment. A connection error (INTERNAL) if it takes
  // the send window above kMaxStreamWindow.
  absl::Status OnWindowUpdate(std::uint32_t increment);
  // The connection's unsent output fell back under its limit: send the
  // held write if the window allows.
  void OnOutputDrained() { TrySendHeldWrite(); }
  // The dispatcher ended the call on the wire (CANCEL, a call error it
  // answered, drain's deadline, the connection's end) and has forgotten
  // it: the implementation is cancelled.
  void OnWireGone();

 private:
  struct Received {
    std::string bytes;
    // What it cost against the receive window (0 for the REQUEST's one).
    std::int64_t cost;
  };

  // Loop-thread halves of the public operations.
  void DoStartRead(google::protobuf::Message* request);
  void DoStartWrite(std::string serialized);
  void DoFinish(absl::Status status);

  // Runs `task` on the loop thread: now if this is it, else posted.
  template <typename Task>
  void RunOnLoop(Task task);

  void DeliverRead();
  void CompleteRead(bool ok);
  void CompleteWrite(bool ok);
  void TrySendHeldWrite();
  // Gives consumed receive credit back once half the initial window is
  // owed (§7.4).
  void ReturnCredit(std::int64_t cost);
  void SendFinalResponse(const absl::Status& status);
  // A call error (§7.5) or the deadline: RESPONSE `status`, off the wire,
  // cancelled.
  void FailCall(const absl::Status& status);
  // Leaves the wire on this side's initiative (the dispatcher forgets it).
  void EndOnWire();
  // Off the wire: the implementation hears OnCancel, outstanding ops fail.
  void CancelLocally();
  void MaybeDone();
  // Queues a reactor callback (EventLoop::Defer).
  template <typename Callback>
  void Queue(Callback callback);

  ServerLoop* const loop_;
  net::EventLoop* const event_loop_;
  const std::shared_ptr<net::EventLoop::Mailbox> mailbox_;
  const std::uint32_t call_id_;
  const rpc::Method* const method_;
  const std::shared_ptr<const std::string> peer_;
  const std::shared_ptr<const std::string> peer_certificate_subject_;
  const absl::Time deadline_;
  const std::optional<net::EventLoop::Clock::time_point> loop_deadline_;
  const rpc::Metadata request_metadata_;
  const bool unary_form_;
  // Passed to start_stream; valid until OnDone.
  const std::unique_ptr<google::protobuf::Message> request_;
  const std::unique_ptr<google::protobuf::Message> response_;

  rpc::ServerStreamReactor* reactor_ = nullptr;
  std::atomic<bool> cancelled_{false};
  absl::Mutex mu_;
  rpc::Metadata response_metadata_ ABSL_GUARDED_BY(mu_);

  // Loop thread only from here on.
  // Non-null exactly while the call is open on its connection.
  CallDispatcher* dispatcher_;
  net::EventLoop::TimerId deadline_timer_;
  std::deque<Received> received_;
  // The client half-closed (or sent its one request in the REQUEST).
  bool request_stream_closed_ = false;
  std::int64_t receive_window_;
  // Consumed receive credit not yet returned with WINDOW_UPDATE.
  std::int64_t credit_owed_ = 0;
  std::int64_t send_window_;
  // The outstanding read's target; null when none.
  google::protobuf::Message* read_target_ = nullptr;
  bool write_outstanding_ = false;
  // The outstanding write, serialized, while flow control holds it back.
  std::optional<std::string> held_write_;
  // Unary form: the one response, serialized.
  std::optional<std::string> unary_form_response_;
  bool finish_called_ = false;
  bool cancel_queued_ = false;
  bool done_queued_ = false;
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_SERVER_SERVER_STREAM_CALL_H_
