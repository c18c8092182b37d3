#ifndef DUALRPC_RAW_CLIENT_CLIENT_STREAM_H_
#define DUALRPC_RAW_CLIENT_CLIENT_STREAM_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/stream.h"
#include "google/protobuf/message_lite.h"

namespace dualrpc::raw {

class ClientConnection;
class RawClientStream;

// Where a stream's loop-thread work runs: the channel's side of a stream.
// Loop thread only; outlives every stream task that runs on the loop.
class StreamHost {
 public:
  // True once the channel is being destroyed: new streams end CANCELLED.
  virtual bool shut_down() const = 0;
  // The connection a stream that is starting now goes to.
  virtual ClientConnection* PickStreamConnection() = 0;
  // `stream` ended with its RESPONSE while responses it has not read yet
  // are buffered: it waits for its reader, detached from any connection.
  // Until ReleaseDraining, the host ends the wait when the channel shuts
  // down (RawClientStream::OnChannelShutdown), so that OnDone still runs.
  virtual void HoldDraining(RawClientStream* stream) = 0;
  virtual void ReleaseDraining(RawClientStream* stream) = 0;

 protected:
  ~StreamHost() = default;
};

// One streaming call of a RawChannel: the client side of docs/PROTOCOL.md
// §7 (call shapes §7.2, cancellation and deadlines §7.3, flow control
// §7.4, the client's rows of §7.5), as an rpc::ClientStream.
//
// Ownership: the stream owns itself (a shared_ptr to itself) from
// NewStream until its reactor's OnDone has returned, as grpc++ reactors'
// calls do; tasks posted to the loop hold further references, so a late
// task never touches a freed stream.
//
// OnDone waits, as in grpc++, until the application has read every
// response that arrived before the call's RESPONSE (or cancels, or the
// channel shuts down, which drops them), and until every operation that
// another thread posted before the end has run and completed. An operation
// whose post races with OnDone itself (started while OnDone runs) is
// dropped unrun: its reactor is done. The connection it runs on only points
// at it, and the stream detaches itself when it ends.
//
// Threads: the rpc::ClientStream methods may be called on any thread. On
// the loop thread they act at once (no hop); elsewhere they post to the
// loop. StartWrite serializes on the calling thread. All other state is
// loop-thread only. Reactor callbacks run on the loop thread, each from a
// deferred task (never inside the call that causes it), in the order their
// operations completed; OnDone runs once no operation is outstanding and no
// callback is queued. One exception, when the loop has stopped (the channel
// is gone) before a posted operation ran: the stream then ends CANCELLED
// on the thread that finds out (the caller's, or the one destroying the
// loop), inline.
class RawClientStream final
    : public rpc::ClientStream,
      public std::enable_shared_from_this<RawClientStream> {
 public:
  // Only through Create.
  struct Private {};
  RawClientStream(Private, std::shared_ptr<net::EventLoop::Mailbox> mailbox,
                  net::EventLoop* loop, StreamHost* host, std::string method,
                  rpc::MethodKind kind, const rpc::CallOptions& options,
                  const FrameLimits& limits, rpc::ClientStreamReactor* reactor);

  // A stream that owns itself until OnDone. `kind` is not kUnary and
  // `options` are valid (the channel checks).
  static RawClientStream* Create(
      std::shared_ptr<net::EventLoop::Mailbox> mailbox, net::EventLoop* loop,
      StreamHost* host, std::string method, rpc::MethodKind kind,
      const rpc::CallOptions& options, const FrameLimits& limits,
      rpc::ClientStreamReactor* reactor);

  // rpc::ClientStream
  void Start() override;
  void StartRead(google::protobuf::MessageLite* response) override;
  void StartWrite(const google::protobuf::MessageLite& request) override;
  void StartWritesDone() override;
  void Cancel() override;

  // ---- For ClientConnection (loop thread) ----
  // The connection knows whether the server speaks streaming: OK to open
  // the call now, or why it cannot be made (UNIMPLEMENTED from a 1.0
  // server, UNAVAILABLE for a failed connect).
  void OnTransportReady(const absl::Status& ready);
  // Frames for this call's id.
  void OnMessage(std::uint8_t flags, absl::string_view payload);
  // Called for a MESSAGE that was over the message limit (skipped).
  void OnOversizedMessage();
  // OK, or a connection error: the increment takes the window above
  // kMaxStreamWindow.
  absl::Status OnWindowUpdate(std::uint32_t increment);
  void OnResponse(absl::string_view payload);
  // The connection is gone or going away: the call ends with `status`,
  // nothing more is sent.
  void OnConnectionFailed(const absl::Status& status);

  // ---- For the StreamHost (loop thread) ----
  // The channel is shutting down while this stream (held by HoldDraining)
  // still buffers responses nobody read: they are dropped and OnDone runs
  // with the status the call ended with.
  void OnChannelShutdown();

 private:
  using Op = absl::AnyInvocable<void(RawClientStream*) &&>;
  // Which operation a posted task carries, so that a task the stopped loop
  // destroys unrun still completes it.
  enum class OpKind { kStart, kRead, kWrite, kWritesDone, kCancel };
  struct PostedOp;

  // Runs `op` on the loop thread: now if this is it, else posted. A post
  // that the stopped loop refuses (or destroys unrun) ends the stream.
  void RunOnLoop(OpKind kind, Op op);
  // A posted `kind` was never run: the loop is gone. Any thread.
  void OnLoopGone(OpKind kind);
  // What the REQUEST says of the deadline now (0: none).
  std::uint64_t TimeoutMicros() const;

  void DoStart();
  void DoStartRead(google::protobuf::MessageLite* response);
  void DoStartWrite(std::string serialized, net::Buffer request_frame,
                    absl::Status encoded);
  void DoStartWritesDone();

  // Sends what can be sent: the REQUEST when it may go, a held write while
  // the window allows, the half-close.
  void Pump();
  void SendRequest();
  // Hands buffered messages to an outstanding read.
  void DeliverReads();
  // Credits `cost` consumed bytes; sends WINDOW_UPDATE at half the window.
  void Consumed(std::int64_t cost);
  // Ends the call (first call wins): completes outstanding operations with
  // false, detaches from the connection (sending CANCEL when
  // `send_cancel` and the REQUEST went out), then OnDone when idle.
  // `keep_received`: messages that arrived stay readable (the call ended
  // with its RESPONSE); otherwise they are dropped.
  void End(absl::Status status, bool send_cancel, bool keep_received);
  // Queues a reactor callback (a deferred task).
  void Queue(absl::AnyInvocable<void(rpc::ClientStreamReactor*) &&> callback);
  // Ended, no response left unread, and no operation (posted or started)
  // or callback outstanding.
  bool Idle() const;
  void MaybeFinish();
  // Drops the responses an ended call buffered unread (Cancel after the
  // end, channel shutdown), letting OnDone run.
  void DropUnread();
  void Finish();

  bool opened() const { return call_id_ != 0; }

  // Immutable after construction; read on any thread.
  const std::shared_ptr<net::EventLoop::Mailbox> mailbox_;
  net::EventLoop* const loop_;
  StreamHost* const host_;
  const std::string method_;
  const rpc::MethodKind kind_;
  const rpc::Metadata metadata_;
  rpc::Metadata* const response_metadata_;
  const absl::Time deadline_;
  const FrameLimits limits_;
  rpc::ClientStreamReactor* const reactor_;

  // Released after OnDone.
  std::shared_ptr<RawClientStream> self_;

  // Loop thread only from here on.
  bool started_ = false;
  bool cancel_requested_ = false;
  // Set by the connection (OnTransportReady OK) once the call may open.
  bool transport_ready_ = false;
  ClientConnection* connection_ = nullptr;
  std::uint32_t call_id_ = 0;  // 0 until the REQUEST went out.
  net::EventLoop::TimerId timer_;

  // The outstanding read's target, if any.
  google::protobuf::MessageLite* read_ = nullptr;
  // A write taken by StartWrite but not yet sent (window or not open).
  bool write_held_ = false;
  std::string held_message_;
  // Server streaming: the complete REQUEST frame (call id 0) of the write.
  net::Buffer held_request_;
  bool request_written_ = false;
  bool writes_done_requested_ = false;
  // The half-close was sent (or, server streaming, implied) or failed.
  bool half_closed_ = false;
  // A write before Start that could not be encoded: the call's status.
  absl::Status pending_error_;

  // What the server may still send (§7.4); may go negative by one message.
  std::int64_t receive_window_ = kInitialStreamWindow;
  // Consumed bytes not yet returned by WINDOW_UPDATE.
  std::int64_t owed_ = 0;
  // What this client may still send.
  std::int64_t send_window_ = kInitialStreamWindow;
  // MESSAGE payloads (and a client-streaming RESPONSE's message) not read.
  std::deque<std::string> received_;

  bool ended_ = false;
  absl::Status status_;
  int callbacks_queued_ = 0;
  bool finish_queued_ = false;
  // Held by the host (HoldDraining) until the unread responses are gone.
  bool draining_ = false;
  // OnDone has run (Finish): a posted operation that arrives later is
  // dropped.
  bool finished_ = false;

  // Operations posted from other threads that the loop has not run yet;
  // incremented on the posting thread before the post, decremented on the
  // loop. OnDone waits for zero.
  std::atomic<int> posted_ops_{0};

  // Whether OnDone ran; also guards the loop-gone path (any thread).
  absl::Mutex done_mu_;
  bool done_ ABSL_GUARDED_BY(done_mu_) = false;
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_CLIENT_CLIENT_STREAM_H_
