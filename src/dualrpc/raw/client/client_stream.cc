#include "dualrpc/raw/client/client_stream.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "dualrpc/net/byte_order.h"
#include "dualrpc/raw/client/client_connection.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/wire/v1/wire.pb.h"

namespace dualrpc::raw {
namespace {

constexpr std::size_t kCallIdOffset = 8;

// §7.4: a receiver returns credit once half the initial window is owed.
constexpr std::int64_t kWindowUpdateThreshold = kInitialStreamWindow / 2;

}  // namespace

RawClientStream::RawClientStream(
    Private, std::shared_ptr<net::EventLoop::Mailbox> mailbox,
    net::EventLoop* loop, StreamHost* host, std::string method,
    rpc::MethodKind kind, const rpc::CallOptions& options,
    const FrameLimits& limits, rpc::ClientStreamReactor* reactor)
    : mailbox_(std::move(mailbox)),
      loop_(loop),
      host_(host),
      method_(std::move(method)),
      kind_(kind),
      metadata_(options.metadata),
      response_metadata_(options.response_metadata),
      deadline_(options.timeout == absl::InfiniteDuration()
                    ? absl::InfiniteFuture()
                    : absl::Now() + options.timeout),
      limits_(limits),
      reactor_(reactor) {}

RawClientStream* RawClientStream::Create(
    std::shared_ptr<net::EventLoop::Mailbox> mailbox, net::EventLoop* loop,
    StreamHost* host, std::string method, rpc::MethodKind kind,
    const rpc::CallOptions& options, const FrameLimits& limits,
    rpc::ClientStreamReactor* reactor) {
  auto stream = std::make_shared<RawClientStream>(
      Private{}, std::move(mailbox), loop, host, std::move(method), kind,
      options, limits, reactor);
  stream->self_ = stream;
  return stream.get();
}

// ---- Any thread -----------------------------------------------------------

// A stream operation posted to the loop. Destroyed unrun (the loop refused
// it or was destroyed with it queued), it ends the stream.
struct RawClientStream::PostedOp {
  std::shared_ptr<RawClientStream> stream;
  OpKind kind;
  Op op;

  PostedOp(std::shared_ptr<RawClientStream> s, OpKind k, Op o)
      : stream(std::move(s)), kind(k), op(std::move(o)) {}
  PostedOp(PostedOp&&) = default;
  ~PostedOp() {
    if (stream != nullptr) stream->OnLoopGone(kind);
  }
  void Run() {
    std::shared_ptr<RawClientStream> running = std::move(stream);
    std::move(op)(running.get());
  }
};

void RawClientStream::RunOnLoop(OpKind kind, Op op) {
  if (mailbox_->IsCurrentThread()) {
    std::move(op)(this);
    return;
  }
  // Counted before the post: the loop must not see the stream idle (and
  // run OnDone) between this operation's start and its run.
  posted_ops_.fetch_add(1, std::memory_order_relaxed);
  Op counted = [op = std::move(op)](RawClientStream* self) mutable {
    self->posted_ops_.fetch_sub(1, std::memory_order_relaxed);
    // Started while OnDone ran: the reactor is done; nothing may reach it.
    if (self->finished_) return;
    std::move(op)(self);
    // An operation on an ended call completes at once; OnDone may follow.
    if (self->ended_) self->MaybeFinish();
  };
  mailbox_->Post(
      [posted = PostedOp(shared_from_this(), kind,
                         std::move(counted))]() mutable { posted.Run(); });
}

void RawClientStream::OnLoopGone(OpKind op) {
  absl::MutexLock lock(&done_mu_);
  if (done_) return;
  done_ = true;
  // The loop has stopped: nothing else touches the loop state now, and
  // other threads that find out too wait on done_mu_.
  if (read_ != nullptr || op == OpKind::kRead) reactor_->OnReadDone(false);
  if (write_held_ || op == OpKind::kWrite) reactor_->OnWriteDone(false);
  if ((writes_done_requested_ && !half_closed_) || op == OpKind::kWritesDone) {
    reactor_->OnWritesDoneDone(false);
  }
  std::shared_ptr<RawClientStream> keep = std::move(self_);
  reactor_->OnDone(absl::CancelledError("channel destroyed"));
}

void RawClientStream::Start() {
  RunOnLoop(OpKind::kStart, [](RawClientStream* self) { self->DoStart(); });
}

void RawClientStream::StartRead(google::protobuf::MessageLite* response) {
  RunOnLoop(OpKind::kRead,
            [response](RawClientStream* self) { self->DoStartRead(response); });
}

void RawClientStream::StartWrite(const google::protobuf::MessageLite& request) {
  std::string serialized;
  net::Buffer request_frame;
  absl::Status encoded;
  if (kind_ == rpc::MethodKind::kServerStreaming) {
    // The one request travels in the REQUEST (§7.2); its id is set on the
    // loop, as for unary calls.
    encoded = AppendRequestFrame(&request_frame, kFlagEndStream,
                                 /*call_id=*/0, method_, TimeoutMicros(),
                                 metadata_, &request, limits_);
  } else if (!request.SerializeToString(&serialized)) {
    encoded = absl::InternalError("cannot serialize the request");
  } else if (serialized.size() > limits_.max_message_bytes) {
    encoded = absl::ResourceExhaustedError(absl::StrCat(
        "request message of ", serialized.size(),
        " bytes is over the limit of ", limits_.max_message_bytes));
  }
  RunOnLoop(OpKind::kWrite,
            [serialized = std::move(serialized),
             request_frame = std::move(request_frame),
             encoded = std::move(encoded)](RawClientStream* self) mutable {
              self->DoStartWrite(std::move(serialized),
                                 std::move(request_frame), std::move(encoded));
            });
}

void RawClientStream::StartWritesDone() {
  RunOnLoop(OpKind::kWritesDone,
            [](RawClientStream* self) { self->DoStartWritesDone(); });
}

void RawClientStream::Cancel() {
  RunOnLoop(OpKind::kCancel, [](RawClientStream* self) {
    if (!self->started_) {
      self->cancel_requested_ = true;
      return;
    }
    if (self->ended_) {
      // The call already has its status; the responses nobody will read
      // now no longer hold OnDone back.
      self->DropUnread();
      return;
    }
    self->End(absl::CancelledError("cancelled by the client"),
              /*send_cancel=*/true, /*keep_received=*/false);
  });
}

std::uint64_t RawClientStream::TimeoutMicros() const {
  if (deadline_ == absl::InfiniteFuture()) return 0;
  return std::max<int64_t>(1,
                           absl::ToInt64Microseconds(deadline_ - absl::Now()));
}

// ---- Loop thread ----------------------------------------------------------

void RawClientStream::DoStart() {
  if (started_) return;
  started_ = true;
  if (cancel_requested_ || host_->shut_down()) {
    End(absl::CancelledError(cancel_requested_ ? "cancelled by the client"
                                               : "channel destroyed"),
        false, false);
    return;
  }
  if (deadline_ != absl::InfiniteFuture()) {
    const absl::Duration left = deadline_ - absl::Now();
    if (left <= absl::ZeroDuration()) {
      End(absl::DeadlineExceededError("deadline exceeded"), false, false);
      return;
    }
    timer_ = loop_->RunAt(
        net::EventLoop::Clock::now() + absl::ToChronoNanoseconds(left),
        [this]() {
          timer_ = net::EventLoop::TimerId();
          End(absl::DeadlineExceededError("deadline exceeded"),
              /*send_cancel=*/true, /*keep_received=*/false);
        });
  }
  connection_ = host_->PickStreamConnection();
  // May call OnTransportReady at once.
  connection_->AttachStream(this);
}

void RawClientStream::DoStartRead(google::protobuf::MessageLite* response) {
  read_ = response;
  if (!started_) return;  // Nothing can have arrived yet.
  DeliverReads();
  if (ended_ && read_ != nullptr) {
    read_ = nullptr;
    Queue([](rpc::ClientStreamReactor* r) { r->OnReadDone(false); });
  }
}

void RawClientStream::DoStartWrite(std::string serialized,
                                   net::Buffer request_frame,
                                   absl::Status encoded) {
  const bool server_streaming = kind_ == rpc::MethodKind::kServerStreaming;
  // A write after the end, after the half-close, or a second one of a
  // server-streaming call fails; so does one that could not be encoded,
  // ending the call.
  if (ended_ || writes_done_requested_ ||
      (server_streaming && request_written_)) {
    Queue([](rpc::ClientStreamReactor* r) { r->OnWriteDone(false); });
    return;
  }
  write_held_ = true;
  if (!encoded.ok()) {
    if (started_) {
      End(std::move(encoded), /*send_cancel=*/true, false);
    } else {
      // Reported once the call starts.
      pending_error_ = std::move(encoded);
    }
    return;
  }
  if (server_streaming) {
    held_request_ = std::move(request_frame);
    request_written_ = true;
  } else {
    held_message_ = std::move(serialized);
  }
  Pump();
}

void RawClientStream::DoStartWritesDone() {
  if (writes_done_requested_) return;
  writes_done_requested_ = true;
  if (ended_) {
    half_closed_ = true;
    Queue([](rpc::ClientStreamReactor* r) { r->OnWritesDoneDone(false); });
    return;
  }
  Pump();
}

void RawClientStream::OnTransportReady(const absl::Status& ready) {
  if (ended_) return;
  if (!ready.ok()) {
    End(ready, false, false);
    return;
  }
  if (!pending_error_.ok()) {
    End(std::move(pending_error_), false, false);
    return;
  }
  transport_ready_ = true;
  Pump();
}

void RawClientStream::Pump() {
  if (ended_ || !transport_ready_) return;
  const bool server_streaming = kind_ == rpc::MethodKind::kServerStreaming;
  if (!opened()) {
    // A server-streaming REQUEST carries the one write.
    if (server_streaming && !write_held_) return;
    SendRequest();
    if (ended_) return;
    if (server_streaming) {
      write_held_ = false;
      Queue([](rpc::ClientStreamReactor* r) { r->OnWriteDone(true); });
    }
  }
  net::Buffer* out = connection_->stream_output();
  if (write_held_ && send_window_ > 0) {
    absl::Status appended =
        AppendMessageFrame(out, call_id_, held_message_, limits_);
    if (!appended.ok()) {
      End(std::move(appended), /*send_cancel=*/true, false);
      return;
    }
    send_window_ -= StreamMessageCost(held_message_.size());
    write_held_ = false;
    held_message_.clear();
    Queue([](rpc::ClientStreamReactor* r) { r->OnWriteDone(true); });
    connection_->FlushSoon();
  }
  if (writes_done_requested_ && !write_held_ && !half_closed_) {
    // Server streaming: the REQUEST had END_STREAM; nothing to send.
    if (!server_streaming) {
      AppendHalfClose(out, call_id_);
      connection_->FlushSoon();
    }
    half_closed_ = true;
    Queue([](rpc::ClientStreamReactor* r) { r->OnWritesDoneDone(true); });
  }
}

void RawClientStream::SendRequest() {
  call_id_ = connection_->OpenStream(this);
  net::Buffer* out = connection_->stream_output();
  if (kind_ == rpc::MethodKind::kServerStreaming) {
    const std::size_t size = held_request_.readable_bytes();
    out->Append(held_request_.View());
    net::StoreUint32(out->BeginWrite() - size + kCallIdOffset, call_id_);
    held_request_ = net::Buffer();
  } else {
    // Header only: the requests follow as MESSAGE frames (§7.2).
    absl::Status appended =
        AppendRequestFrame(out, /*flags=*/0, call_id_, method_, TimeoutMicros(),
                           metadata_, nullptr, limits_);
    if (!appended.ok()) {
      End(std::move(appended), /*send_cancel=*/false, false);
      return;
    }
  }
  connection_->FlushSoon();
}

void RawClientStream::OnMessage(std::uint8_t flags, absl::string_view payload) {
  if (ended_) return;
  absl::Status error;
  if (!rpc::ServerStreams(kind_)) {
    error = absl::InternalError("MESSAGE on a call without a response stream");
  } else if ((flags & kFlagEndStream) != 0) {
    error = absl::InternalError("MESSAGE with END_STREAM from the server");
  } else if ((flags & kFlagCompressed) != 0) {
    error = absl::UnimplementedError("compression is not supported");
  } else if (receive_window_ <= 0) {
    error = absl::ResourceExhaustedError("flow control window exceeded");
  }
  if (!error.ok()) {
    End(std::move(error), /*send_cancel=*/true, false);
    return;
  }
  receive_window_ -= StreamMessageCost(payload.size());
  received_.emplace_back(payload);
  DeliverReads();
}

void RawClientStream::OnOversizedMessage() {
  End(absl::ResourceExhaustedError("response message over the message limit"),
      /*send_cancel=*/true, false);
}

absl::Status RawClientStream::OnWindowUpdate(std::uint32_t increment) {
  if (send_window_ + increment > kMaxStreamWindow) {
    return absl::InternalError("WINDOW_UPDATE takes the window above 2^31-1");
  }
  send_window_ += increment;
  Pump();
  return absl::OkStatus();
}

void RawClientStream::OnResponse(absl::string_view payload) {
  if (ended_) return;
  absl::Status status;
  absl::StatusOr<CallPayload> parts = SplitCallPayload(payload, limits_);
  if (!parts.ok()) {
    status = absl::InternalError(parts.status().message());
  } else {
    if (!parts->header.empty()) {
      wire::v1::ResponseHeader header;
      if (!header.ParseFromArray(parts->header.data(), parts->header.size())) {
        status = absl::InternalError("cannot parse the response header");
      } else {
        if (response_metadata_ != nullptr) {
          for (const wire::v1::MetadataEntry& entry : header.metadata()) {
            response_metadata_->emplace_back(entry.key(), entry.value());
          }
        }
        status = ResponseStatus(header);
      }
    }
    // The one response of a client-streaming call is read like a message.
    if (status.ok() && kind_ == rpc::MethodKind::kClientStreaming) {
      received_.emplace_back(parts->message);
    } else if (status.ok() && !parts->message.empty()) {
      // §7.5: the responses of a server-streaming or bidi call went before
      // as MESSAGE frames; a message part here is the server's error.
      status = absl::InternalError(
          "the RESPONSE of a streaming call carries a message");
    }
  }
  // The call is over on the server: no CANCEL. Messages already here stay
  // readable.
  End(std::move(status), /*send_cancel=*/false, /*keep_received=*/true);
  DeliverReads();
}

void RawClientStream::OnConnectionFailed(const absl::Status& status) {
  connection_ = nullptr;
  End(status, false, false);
}

void RawClientStream::DeliverReads() {
  if (read_ == nullptr || received_.empty()) return;
  const std::string message = std::move(received_.front());
  received_.pop_front();
  google::protobuf::MessageLite* target = std::exchange(read_, nullptr);
  if (!target->ParseFromString(message)) {
    if (!ended_) {
      read_ = target;
      End(absl::InternalError("cannot parse a response message"),
          /*send_cancel=*/true, false);
      return;
    }
    if (status_.ok()) {
      status_ = absl::InternalError("cannot parse the response message");
    }
    Queue([](rpc::ClientStreamReactor* r) { r->OnReadDone(false); });
    return;
  }
  Queue([](rpc::ClientStreamReactor* r) { r->OnReadDone(true); });
  if (rpc::ServerStreams(kind_)) Consumed(StreamMessageCost(message.size()));
}

void RawClientStream::Consumed(std::int64_t cost) {
  if (ended_ || connection_ == nullptr) return;
  owed_ += cost;
  if (owed_ < kWindowUpdateThreshold) return;
  AppendWindowUpdate(connection_->stream_output(), call_id_,
                     static_cast<std::uint32_t>(owed_));
  receive_window_ += owed_;
  owed_ = 0;
  connection_->FlushSoon();
}

void RawClientStream::End(absl::Status status, bool send_cancel,
                          bool keep_received) {
  if (ended_) return;
  ended_ = true;
  status_ = std::move(status);
  loop_->CancelTimer(timer_);
  if (connection_ != nullptr) {
    ClientConnection* connection = std::exchange(connection_, nullptr);
    connection->DetachStream(this, call_id_, send_cancel && opened());
  }
  if (!keep_received) received_.clear();
  if (write_held_) {
    write_held_ = false;
    held_message_.clear();
    held_request_ = net::Buffer();
    Queue([](rpc::ClientStreamReactor* r) { r->OnWriteDone(false); });
  }
  if (writes_done_requested_ && !half_closed_) {
    half_closed_ = true;
    Queue([](rpc::ClientStreamReactor* r) { r->OnWritesDoneDone(false); });
  }
  if (read_ != nullptr && received_.empty()) {
    read_ = nullptr;
    Queue([](rpc::ClientStreamReactor* r) { r->OnReadDone(false); });
  }
  if (!received_.empty()) {
    // Ended with its RESPONSE, responses unread: they stay readable, and
    // OnDone waits for the reader (DeliverReads) or a Cancel.
    draining_ = true;
    host_->HoldDraining(this);
  }
  MaybeFinish();
}

void RawClientStream::OnChannelShutdown() { DropUnread(); }

void RawClientStream::DropUnread() {
  received_.clear();
  MaybeFinish();
}

void RawClientStream::Queue(
    absl::AnyInvocable<void(rpc::ClientStreamReactor*) &&> callback) {
  ++callbacks_queued_;
  // `this` stays valid: OnDone (after which self_ lets go) waits for
  // callbacks_queued_ to drop to zero.
  loop_->Defer([this, callback = std::move(callback)]() mutable {
    std::move(callback)(reactor_);
    --callbacks_queued_;
    MaybeFinish();
  });
}

bool RawClientStream::Idle() const {
  return ended_ && callbacks_queued_ == 0 && read_ == nullptr && !write_held_ &&
         received_.empty() && posted_ops_.load(std::memory_order_relaxed) == 0;
}

void RawClientStream::MaybeFinish() {
  if (finish_queued_ || !Idle()) return;
  finish_queued_ = true;
  loop_->Defer([this]() {
    finish_queued_ = false;
    // An operation started meanwhile finishes first; its callback comes
    // back here.
    if (Idle()) Finish();
  });
}

void RawClientStream::Finish() {
  {
    absl::MutexLock lock(&done_mu_);
    if (done_) return;
    done_ = true;
  }
  finished_ = true;
  if (draining_) {
    draining_ = false;
    host_->ReleaseDraining(this);
  }
  std::shared_ptr<RawClientStream> keep = std::move(self_);
  reactor_->OnDone(status_);
}

}  // namespace dualrpc::raw
