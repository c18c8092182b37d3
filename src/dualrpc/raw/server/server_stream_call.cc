#include "dualrpc/raw/server/server_stream_call.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "dualrpc/raw/server/call_dispatcher.h"
#include "dualrpc/raw/server/server_loop.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/raw/wire/frame.h"

namespace dualrpc::raw {

ServerStreamCall::ServerStreamCall(ServerLoop* loop,
                                   CallDispatcher* dispatcher,
                                   Options options)
    : loop_(loop),
      event_loop_(loop->loop()),
      mailbox_(loop->mailbox()),
      call_id_(options.call_id),
      method_(options.method),
      peer_(options.peer),
      peer_certificate_subject_(std::move(options.peer_certificate_subject)),
      deadline_(options.deadline),
      loop_deadline_(options.loop_deadline),
      request_metadata_(std::move(options.request_metadata)),
      unary_form_(options.unary_form),
      request_(std::move(options.request)),
      response_(method_->kind == rpc::MethodKind::kClientStreaming
                    ? method_->new_response()
                    : nullptr),
      dispatcher_(dispatcher),
      receive_window_(kInitialStreamWindow),
      send_window_(kInitialStreamWindow) {
  if (options.only_request.has_value()) {
    received_.push_back(Received{std::move(*options.only_request), 0});
    request_stream_closed_ = true;
  } else if (!rpc::ClientStreams(method_->kind)) {
    request_stream_closed_ = true;
  }
}

ServerStreamCall::~ServerStreamCall() {
  event_loop_->CancelTimer(deadline_timer_);
}

void ServerStreamCall::Start() {
  if (loop_deadline_.has_value()) {
    deadline_timer_ = event_loop_->RunAt(*loop_deadline_, [this] {
      deadline_timer_ = {};
      FailCall(absl::DeadlineExceededError("deadline exceeded"));
    });
  }
  reactor_ = method_->start_stream(this, request_.get(), response_.get());
  if (reactor_ == nullptr) {
    // A broken implementation: nothing will ever Finish or hear OnDone.
    FailCall(absl::InternalError(
        absl::StrCat(method_->path, " returned no reactor")));
    finish_called_ = true;
    done_queued_ = true;
    event_loop_->Defer([this] { loop_->ReleaseStream(this); });
  }
}

// ---- The implementation's side --------------------------------------------

template <typename Task>
void ServerStreamCall::RunOnLoop(Task task) {
  if (mailbox_->IsCurrentThread()) {
    task();
    return;
  }
  // The loop outlives this object (it does not stop while it owns
  // streams), so the post cannot be refused.
  mailbox_->Post(std::move(task));
}

void ServerStreamCall::StartRead(google::protobuf::Message* request) {
  RunOnLoop([this, request] { DoStartRead(request); });
}

void ServerStreamCall::StartWrite(const google::protobuf::Message& response) {
  RunOnLoop([this, serialized = response.SerializeAsString()]() mutable {
    DoStartWrite(std::move(serialized));
  });
}

void ServerStreamCall::Finish(absl::Status status) {
  RunOnLoop([this, status = std::move(status)]() mutable {
    DoFinish(std::move(status));
  });
}

void ServerStreamCall::AddResponseMetadata(std::string key,
                                           std::string value) {
  absl::MutexLock lock(&mu_);
  response_metadata_.emplace_back(std::move(key), std::move(value));
}

void ServerStreamCall::DoStartRead(google::protobuf::Message* request) {
  read_target_ = request;
  if (!received_.empty()) {
    DeliverRead();
  } else if (request_stream_closed_ || dispatcher_ == nullptr ||
             finish_called_) {
    CompleteRead(false);
  }
  // Else it waits for the next MESSAGE (OnMessage).
}

void ServerStreamCall::DoStartWrite(std::string serialized) {
  write_outstanding_ = true;
  if (dispatcher_ == nullptr || finish_called_) {
    CompleteWrite(false);
    return;
  }
  if (unary_form_) {
    // §7.1: a 1.0 client gets exactly one response, in the RESPONSE.
    if (unary_form_response_.has_value()) {
      FailCall(absl::UnimplementedError(
          "more than one response: streaming needs raw protocol 1.1"));
      return;  // FailCall completed the write with false.
    }
    unary_form_response_ = std::move(serialized);
    CompleteWrite(true);
    return;
  }
  held_write_ = std::move(serialized);
  TrySendHeldWrite();
}

void ServerStreamCall::DoFinish(absl::Status status) {
  if (finish_called_) return;  // Broken contract; the first one counts.
  finish_called_ = true;
  if (dispatcher_ != nullptr) {
    SendFinalResponse(status);
    EndOnWire();
  }
  if (read_target_ != nullptr) CompleteRead(false);
  if (write_outstanding_) {
    held_write_.reset();
    CompleteWrite(false);
  }
  MaybeDone();
}

// ---- Reads ----------------------------------------------------------------

void ServerStreamCall::DeliverRead() {
  Received next = std::move(received_.front());
  received_.pop_front();
  google::protobuf::Message* const target = read_target_;
  if (!target->ParseFromString(next.bytes)) {
    // FailCall completes the read with false.
    FailCall(absl::InvalidArgumentError(absl::StrCat(
        "request message does not parse as ", target->GetTypeName())));
    return;
  }
  CompleteRead(true);
  ReturnCredit(next.cost);
}

void ServerStreamCall::CompleteRead(bool ok) {
  read_target_ = nullptr;
  Queue([this, ok] { reactor_->OnReadDone(ok); });
}

void ServerStreamCall::ReturnCredit(std::int64_t cost) {
  credit_owed_ += cost;
  if (dispatcher_ == nullptr || request_stream_closed_ ||
      credit_owed_ < kInitialStreamWindow / 2) {
    return;
  }
  AppendWindowUpdate(dispatcher_->output(), call_id_,
                     static_cast<std::uint32_t>(credit_owed_));
  dispatcher_->ScheduleFlush();
  receive_window_ += credit_owed_;
  credit_owed_ = 0;
}

void ServerStreamCall::OnMessage(std::uint8_t flags,
                                 absl::string_view payload) {
  if (flags & kFlagCompressed) {
    FailCall(absl::UnimplementedError("compression is not supported"));
    return;
  }
  if (request_stream_closed_) {
    FailCall(
        absl::InternalError("MESSAGE after the end of the request stream"));
    return;
  }
  if (flags & kFlagEndStream) {
    if (!payload.empty()) {
      FailCall(absl::InternalError(absl::StrCat(
          "a half-close MESSAGE must be empty, not ", payload.size(),
          " bytes")));
      return;
    }
    request_stream_closed_ = true;
    if (read_target_ != nullptr && received_.empty()) CompleteRead(false);
    return;
  }
  if (receive_window_ <= 0) {
    FailCall(absl::ResourceExhaustedError("flow control window exceeded"));
    return;
  }
  const std::int64_t cost =
      StreamMessageCost(static_cast<std::uint32_t>(payload.size()));
  receive_window_ -= cost;
  received_.push_back(Received{std::string(payload), cost});
  if (read_target_ != nullptr) DeliverRead();
}

void ServerStreamCall::OnOversizedMessage(std::uint32_t payload_length) {
  FailCall(absl::ResourceExhaustedError(
      absl::StrCat("MESSAGE payload of ", payload_length,
                   " bytes exceeds the message limit")));
}

// ---- Writes ---------------------------------------------------------------

absl::Status ServerStreamCall::OnWindowUpdate(std::uint32_t increment) {
  send_window_ += increment;
  if (send_window_ > kMaxStreamWindow) {
    return absl::InternalError(absl::StrCat(
        "WINDOW_UPDATE takes the window of call ", call_id_, " above ",
        kMaxStreamWindow));
  }
  TrySendHeldWrite();
  return absl::OkStatus();
}

void ServerStreamCall::TrySendHeldWrite() {
  if (!held_write_.has_value() || dispatcher_ == nullptr) return;
  if (send_window_ <= 0) return;  // OnWindowUpdate resumes it.
  if (dispatcher_->OutputOverLimit()) {
    dispatcher_->WaitForOutput(call_id_);
    return;
  }
  absl::Status appended = AppendMessageFrame(
      dispatcher_->output(), call_id_, *held_write_, dispatcher_->limits());
  if (!appended.ok()) {
    FailCall(appended);  // Over the message limit (§4.3).
    return;
  }
  dispatcher_->ScheduleFlush();
  send_window_ -=
      StreamMessageCost(static_cast<std::uint32_t>(held_write_->size()));
  held_write_.reset();
  CompleteWrite(true);
}

void ServerStreamCall::CompleteWrite(bool ok) {
  write_outstanding_ = false;
  Queue([this, ok] { reactor_->OnWriteDone(ok); });
}

// ---- Ending ---------------------------------------------------------------

void ServerStreamCall::SendFinalResponse(const absl::Status& status) {
  rpc::Metadata metadata;
  {
    absl::MutexLock lock(&mu_);
    metadata = std::move(response_metadata_);
  }
  if (!status.ok()) {
    dispatcher_->SendError(call_id_, status, metadata);
    return;
  }
  std::unique_ptr<google::protobuf::Message> unary_form_response;
  const google::protobuf::Message* message = response_.get();
  if (unary_form_ && rpc::ServerStreams(method_->kind) &&
      unary_form_response_.has_value()) {
    // It parsed on the implementation's side; parsing it back keeps one
    // RESPONSE encoder (only 1.0 clients take this path).
    unary_form_response = method_->new_response();
    unary_form_response->ParseFromString(*unary_form_response_);
    message = unary_form_response.get();
  }
  dispatcher_->SendOkResponse(call_id_, metadata, message);
}

void ServerStreamCall::FailCall(const absl::Status& status) {
  if (dispatcher_ == nullptr) return;
  dispatcher_->SendError(call_id_, status);
  EndOnWire();
  CancelLocally();
}

void ServerStreamCall::EndOnWire() {
  event_loop_->CancelTimer(deadline_timer_);
  deadline_timer_ = {};
  CallDispatcher* const dispatcher = dispatcher_;
  dispatcher_ = nullptr;
  dispatcher->EndStream(call_id_);
}

void ServerStreamCall::OnWireGone() {
  event_loop_->CancelTimer(deadline_timer_);
  deadline_timer_ = {};
  dispatcher_ = nullptr;
  CancelLocally();
}

void ServerStreamCall::CancelLocally() {
  received_.clear();
  if (finish_called_) return;
  cancelled_.store(true, std::memory_order_release);
  if (!cancel_queued_) {
    cancel_queued_ = true;
    Queue([this] { reactor_->OnCancel(); });
  }
  if (read_target_ != nullptr) CompleteRead(false);
  if (write_outstanding_) {
    held_write_.reset();
    CompleteWrite(false);
  }
}

void ServerStreamCall::MaybeDone() {
  if (!finish_called_ || done_queued_ || read_target_ != nullptr ||
      write_outstanding_) {
    return;
  }
  done_queued_ = true;
  Queue([this] {
    reactor_->OnDone();
    // Nothing touches this object after OnDone (stream.h).
    loop_->ReleaseStream(this);
  });
}

template <typename Callback>
void ServerStreamCall::Queue(Callback callback) {
  event_loop_->Defer(std::move(callback));
}

}  // namespace dualrpc::raw
