#include "dualrpc/raw/server/server_connection.h"

#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dualrpc/wire/v1/wire.pb.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/raw/server/server_loop.h"
#include "dualrpc/rpc/metadata.h"
#include "dualrpc/rpc/service_registry.h"

namespace dualrpc::raw {
namespace {

// Output beyond which a read burst flushes before handling more frames
// (otherwise output is flushed once, at the end of the loop iteration).
constexpr std::size_t kFlushThresholdBytes = 64 * 1024;

// Relative deadlines beyond this (ten years) are treated as none, so that
// no peer-supplied value can overflow a clock.
constexpr std::uint64_t kMaxTimeoutMicros =
    std::uint64_t{10} * 365 * 24 * 3600 * 1000 * 1000;

constexpr absl::string_view kShuttingDown = "server is shutting down";

void AddMetadata(const rpc::Metadata& metadata, wire::v1::ResponseHeader* header) {
  for (const auto& [key, value] : metadata) {
    wire::v1::MetadataEntry* entry = header->add_metadata();
    entry->set_key(key);
    entry->set_value(value);
  }
}

}  // namespace

ServerConnection::ServerConnection(ServerLoop* owner, std::uint64_t id,
                                   base::ScopedFd socket, const net::SocketAddress& peer)
    : owner_(owner),
      loop_(owner->loop()),
      config_(owner->config()),
      id_(id),
      peer_(peer),
      connection_(loop_, std::move(socket), config_.connection, this),
      decoder_(config_.limits) {}

ServerConnection::~ServerConnection() {
  CancelAllCalls();
  loop_->CancelTimer(idle_timer_);
}

absl::Status ServerConnection::Start() {
  absl::Status started = connection_.Start();
  if (!started.ok()) return started;
  last_activity_ = loop_->now();
  ArmIdleTimer(last_activity_ + config_.idle_timeout);
  return absl::OkStatus();
}

// ---- Input ----------------------------------------------------------------

void ServerConnection::OnInput(net::Buffer* input) {
  last_activity_ = loop_->now();
  while (connection_.state() == net::TcpConnection::State::kConnected) {
    FrameDecoder::Event event = decoder_.Next(input);
    switch (event.kind) {
      case FrameDecoder::Event::kNeedMoreInput:
        return;
      case FrameDecoder::Event::kBadMagic:
        // Not our protocol: close without writing anything (§2).
        connection_.Close(event.error);
        return;
      case FrameDecoder::Event::kError:
        FailConnection(event.error);
        return;
      case FrameDecoder::Event::kPreface:
        OnPreface(event.major, event.minor);
        break;
      case FrameDecoder::Event::kFrame:
        OnFrame(event.header, event.payload);
        break;
      case FrameDecoder::Event::kOversizedRequest:
        OnOversizedRequest(event.header);
        break;
    }
    connection_.FlushIfOver(kFlushThresholdBytes);
  }
}

void ServerConnection::OnPeerEof() {
  // At a frame boundary or not (§6.3), the client is gone: nothing it asked
  // for can be delivered. Flush what is already written, then close.
  CancelAllCalls();
  connection_.CloseAfterFlush();
}

void ServerConnection::OnClosed(const absl::Status& /*reason*/) {
  // TODO(perf): count close reasons (resets, timeouts, protocol errors) in
  // server metrics once there are any.
  CancelAllCalls();
  loop_->CancelTimer(idle_timer_);
  idle_timer_ = {};
  state_ = State::kClosed;
  owner_->OnConnectionClosed(id_);
}

void ServerConnection::OnPreface(std::uint8_t major, std::uint8_t minor) {
  EnsurePrefaceSent();
  if (major != kMajorVersion) {
    FailConnection(absl::UnimplementedError(absl::StrFormat(
        "unsupported protocol version %d.%d; this server speaks %d.%d", major,
        minor, kMajorVersion, kMinorVersion)));
    return;
  }
  // Any minor version of our major is compatible (§2).
  if (state_ == State::kAwaitingPreface) state_ = State::kOpen;
  connection_.ScheduleFlush();
}

void ServerConnection::OnFrame(const FrameHeader& header,
                               absl::string_view payload) {
  switch (header.type) {
    case FrameType::kRequest:
      OnRequest(header, payload);
      return;
    case FrameType::kCancel:
      OnCancel(header.call_id);
      return;
    case FrameType::kPing:
      OnPing(header, payload);
      return;
    case FrameType::kGoaway:
      OnGoaway(payload);
      return;
    case FrameType::kResponse:
    case FrameType::kMessage:
      // MESSAGE is reserved for streaming, which 1.0 does not serve (§7).
      FailConnection(absl::InternalError(absl::StrCat(
          FrameTypeName(header.type), " frames are not accepted from a client")));
      return;
  }
  // The decoder reports known types only.
}

void ServerConnection::OnRequest(const FrameHeader& header,
                                 absl::string_view payload) {
  if (!AcceptCallId(header.call_id)) return;
  absl::Status started = CheckAdmission(header.flags);
  if (started.ok()) started = StartCall(header.call_id, payload);
  if (!started.ok()) SendError(header.call_id, started);
}

void ServerConnection::OnOversizedRequest(const FrameHeader& header) {
  if (!AcceptCallId(header.call_id)) return;
  absl::Status admission = CheckAdmission(header.flags);
  SendError(header.call_id,
            !admission.ok()
                ? admission
                : absl::ResourceExhaustedError(absl::StrFormat(
                      "request frame payload of %u bytes exceeds the limit of "
                      "%u bytes",
                      header.payload_length,
                      config_.limits.max_frame_payload_bytes())));
}

void ServerConnection::OnCancel(std::uint32_t call_id) {
  // §4.5: no RESPONSE; unknown or finished ids are ignored.
  if (ServerCall* call = TakeCall(call_id)) call->Cancel();
  CloseIfDrained();
}

void ServerConnection::OnPing(const FrameHeader& header,
                              absl::string_view payload) {
  if (header.flags & kFlagAck) return;  // We send no PINGs; nothing to match.
  AppendFrame(connection_.output(), FrameType::kPing, kFlagAck, 0, {payload});
  connection_.ScheduleFlush();
}

void ServerConnection::OnGoaway(absl::string_view payload) {
  absl::StatusOr<Goaway> goaway = ParseGoaway(payload);
  if (!goaway.ok()) {
    FailConnection(absl::InternalError(
        absl::StrCat("malformed GOAWAY: ", goaway.status().message())));
    return;
  }
  if (goaway->code == absl::StatusCode::kOk ||
      goaway->code == absl::StatusCode::kUnavailable) {
    // §5.5: the client is leaving; answer what is in flight, then close.
    if (state_ == State::kOpen) state_ = State::kDraining;
    CloseIfDrained();
    return;
  }
  // The client ended the connection with an error and closes at once.
  CancelAllCalls();
  connection_.CloseAfterFlush();
}

// ---- Calls ----------------------------------------------------------------

bool ServerConnection::AcceptCallId(std::uint32_t call_id) {
  if (call_id <= last_call_id_) {
    FailConnection(absl::InternalError(absl::StrFormat(
        "call ids must increase: %u after %u", call_id, last_call_id_)));
    return false;
  }
  last_call_id_ = call_id;
  return true;
}

absl::Status ServerConnection::CheckAdmission(std::uint8_t flags) const {
  if (state_ == State::kDraining) {
    return absl::UnavailableError(goaway_sent_ ? kShuttingDown
                                               : "the client sent GOAWAY");
  }
  if (!(flags & kFlagEndStream)) {
    return absl::UnimplementedError("streaming calls are not supported");
  }
  if (flags & kFlagCompressed) {
    return absl::UnimplementedError("compression is not supported");
  }
  // TODO(security): unsent output is bounded by backpressure only for what
  // new input produces; responses of calls already in flight are appended
  // regardless, so one connection can hold up to max_calls_in_flight *
  // max_message_bytes of output. A per-connection memory budget would
  // tighten that.
  if (calls_.size() >= static_cast<std::size_t>(config_.max_calls_in_flight)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("too many calls in flight on this connection (limit ",
                     config_.max_calls_in_flight, ")"));
  }
  return absl::OkStatus();
}

absl::Status ServerConnection::StartCall(std::uint32_t call_id,
                                         absl::string_view payload) {
  absl::StatusOr<CallPayload> parts = SplitCallPayload(payload, config_.limits);
  if (!parts.ok()) return parts.status();
  const rpc::UnaryMethod* method = nullptr;
  std::uint64_t timeout_micros = 0;
  rpc::Metadata metadata;
  // The common header (method, maybe a timeout) is read without a message;
  // metadata, errors and anything unusual take the generated parser.
  if (std::optional<PlainRequestHeader> plain =
          ReadPlainRequestHeader(parts->header)) {
    method = FindMethod(plain->method);
    timeout_micros = plain->timeout_micros;
  }
  if (method == nullptr) {
    absl::Status read = ReadFullRequestHeader(parts->header, &method,
                                              &timeout_micros, &metadata);
    if (!read.ok()) return read;
  }
  MessagePool& messages = owner_->messages();
  std::unique_ptr<google::protobuf::Message> request =
      messages.NewRequest(*method);
  if (!request->ParseFromArray(parts->message.data(),
                               static_cast<int>(parts->message.size()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request message does not parse as ", request->GetTypeName()));
  }

  // §4.5: the deadline runs from when the REQUEST was read.
  const bool has_deadline =
      timeout_micros != 0 && timeout_micros <= kMaxTimeoutMicros;
  const auto timeout = std::chrono::microseconds(timeout_micros);
  const absl::Time deadline =
      has_deadline ? absl::Now() + absl::FromChrono(timeout)
                   : absl::InfiniteFuture();

  auto call = std::make_unique<ServerCall>(
      ServerCall::Identity{owner_, owner_->mailbox(), id_, call_id}, method,
      peer_, deadline, std::move(metadata), std::move(request),
      messages.NewResponse(*method));
  ServerCall* const started = call.get();
  // On the loop thread, as the registry's contract allows: cheap methods
  // complete inline (FinishCall runs before invoke returns, and the call
  // never enters calls_); blocking ones hand themselves to an executor.
  starting_ = started;
  starting_request_bytes_ = parts->message.size();
  owner_->BeginInvoke(this);
  method->invoke(started, started->request(), started->response(),
                 ServerCall::MakeDone(std::move(call)));
  owner_->EndInvoke();
  // FinishCall clears starting_ when the call completed inside invoke.
  if (starting_ == nullptr) return absl::OkStatus();
  starting_ = nullptr;
  // Still running: `started` is alive, owned by its done (or by a
  // completion queued to this loop, which runs after this returns).
  InFlightCall& in_flight =
      calls_
          .emplace(call_id,
                   InFlightCall{started, {}, starting_request_bytes_})
          .first->second;
  if (has_deadline) {
    in_flight.deadline_timer = loop_->RunAt(
        loop_->now() + timeout, [this, call_id] { OnDeadline(call_id); });
  }
  return absl::OkStatus();
}

absl::Status ServerConnection::ReadFullRequestHeader(
    absl::string_view bytes, const rpc::UnaryMethod** method,
    std::uint64_t* timeout_micros, rpc::Metadata* metadata) {
  wire::v1::RequestHeader header;
  if (!header.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError("request header does not parse");
  }
  *method = FindMethod(header.method());
  if (*method == nullptr) {
    return absl::UnimplementedError(
        absl::StrCat("unknown method ", absl::CHexEscape(header.method())));
  }
  metadata->reserve(header.metadata_size());
  for (wire::v1::MetadataEntry& entry : *header.mutable_metadata()) {
    metadata->emplace_back(std::move(*entry.mutable_key()),
                           std::move(*entry.mutable_value()));
  }
  if (absl::Status valid = rpc::ValidateMetadata(*metadata); !valid.ok()) {
    return valid;
  }
  *timeout_micros = header.timeout_micros();
  return absl::OkStatus();
}

const rpc::UnaryMethod* ServerConnection::FindMethod(absl::string_view path) {
  if (last_method_ != nullptr && last_method_->path == path) {
    return last_method_;
  }
  const rpc::UnaryMethod* method = config_.registry->FindMethod(path);
  if (method != nullptr) last_method_ = method;
  return method;
}

void ServerConnection::FinishCall(std::unique_ptr<ServerCall> call,
                                  absl::Status status) {
  std::size_t request_bytes = 0;
  if (call.get() == starting_) {
    // Completed inside invoke: it never enters calls_ (StartCall).
    starting_ = nullptr;
    request_bytes = starting_request_bytes_;
  } else {
    auto it = calls_.find(call->call_id());
    // Cancelled, timed out, or the connection closed: nobody wants the
    // result.
    if (it == calls_.end() || it->second.call != call.get()) return;
    request_bytes = it->second.request_bytes;
    loop_->CancelTimer(it->second.deadline_timer);
    calls_.erase(it);
  }
  last_activity_ = loop_->now();
  const bool response_sent = SendResponse(call.get(), std::move(status));
  // Done has run: the call's messages serve the next calls on this loop.
  MessagePool& messages = owner_->messages();
  const rpc::UnaryMethod& method = *call->method();
  messages.RecycleRequest(method, call->TakeRequest(), request_bytes);
  if (response_sent) {
    // Its size was computed for the serialization just done.
    const std::size_t response_bytes =
        static_cast<std::size_t>(call->response()->GetCachedSize());
    messages.RecycleResponse(method, call->TakeResponse(), response_bytes);
  }
  CloseIfDrained();
}

void ServerConnection::OnDeadline(std::uint32_t call_id) {
  ServerCall* call = TakeCall(call_id);
  if (call == nullptr) return;
  call->Cancel();
  SendError(call_id, absl::DeadlineExceededError("deadline exceeded"));
  CloseIfDrained();
}

ServerCall* ServerConnection::TakeCall(std::uint32_t call_id) {
  auto it = calls_.find(call_id);
  if (it == calls_.end()) return nullptr;
  ServerCall* call = it->second.call;
  loop_->CancelTimer(it->second.deadline_timer);
  calls_.erase(it);
  return call;
}

void ServerConnection::CancelAllCalls() {
  // TODO(security): a cancelled call stops counting against
  // max_calls_in_flight although its implementation may still be running
  // (as in gRPC, where RST_STREAM frees the stream at once); a client can
  // so keep more work running than the limit says.
  for (auto& [call_id, in_flight] : calls_) {
    in_flight.call->Cancel();
    loop_->CancelTimer(in_flight.deadline_timer);
  }
  calls_.clear();
}

// ---- Output ---------------------------------------------------------------

bool ServerConnection::SendResponse(ServerCall* call, absl::Status status) {
  const rpc::Metadata metadata = call->TakeResponseMetadata();
  if (!status.ok()) {
    SendError(call->call_id(), status, metadata);
    return false;
  }
  absl::Status appended;
  if (metadata.empty()) {
    // The common case, allocation-free: header length 0, message
    // serialized straight into the output buffer.
    appended = AppendCallFrame(connection_.output(), FrameType::kResponse,
                               kFlagEndStream, call->call_id(), nullptr,
                               call->response(), config_.limits);
  } else {
    wire::v1::ResponseHeader header;
    AddMetadata(metadata, &header);
    appended = AppendCallFrame(connection_.output(), FrameType::kResponse,
                               kFlagEndStream, call->call_id(), &header,
                               call->response(), config_.limits);
  }
  if (!appended.ok()) {
    // The response is over the message limit (or its metadata over the
    // header limit): §4.3 makes that the call's status.
    SendError(call->call_id(), appended);
    return false;
  }
  connection_.ScheduleFlush();
  return true;
}

void ServerConnection::SendError(std::uint32_t call_id,
                                 const absl::Status& status,
                                 const rpc::Metadata& metadata) {
  wire::v1::ResponseHeader header;
  SetResponseStatus(status, &header);
  AddMetadata(metadata, &header);
  absl::Status appended =
      AppendCallFrame(connection_.output(), FrameType::kResponse,
                      kFlagEndStream, call_id, &header, nullptr,
                      config_.limits);
  if (!appended.ok()) {
    // The service's message or metadata made the header too large: report
    // that instead, in a header that fits (RawServer keeps the header limit
    // well above the length of this message).
    header.Clear();
    SetResponseStatus(appended, &header);
    AppendCallFrame(connection_.output(), FrameType::kResponse,
                    kFlagEndStream, call_id, &header, nullptr,
                    config_.limits)
        .IgnoreError();
  }
  connection_.ScheduleFlush();
}

void ServerConnection::EnsurePrefaceSent() {
  if (preface_sent_) return;
  AppendPreface(connection_.output());
  preface_sent_ = true;
}

void ServerConnection::SendGoaway(absl::StatusCode code,
                                  absl::string_view message) {
  EnsurePrefaceSent();
  AppendGoaway(connection_.output(),
               Goaway{last_call_id_, code, std::string(message)});
  goaway_sent_ = true;
  connection_.ScheduleFlush();
}

// ---- Ending ---------------------------------------------------------------

void ServerConnection::FailConnection(const absl::Status& error) {
  if (connection_.state() != net::TcpConnection::State::kConnected) return;
  CancelAllCalls();
  SendGoaway(error.code(), error.message());
  connection_.CloseAfterFlush();
}

void ServerConnection::Reject(const absl::Status& reason) {
  SendGoaway(reason.code(), reason.message());
  connection_.CloseAfterFlush();
}

void ServerConnection::BeginDrain() {
  if (connection_.state() != net::TcpConnection::State::kConnected) return;
  SendGoaway(absl::StatusCode::kUnavailable, kShuttingDown);
  state_ = State::kDraining;
  CloseIfDrained();
}

void ServerConnection::FinishDrain() {
  // A connection already closing is left to its close timeout: it is only
  // waiting for the peer to read our last frames.
  if (connection_.state() != net::TcpConnection::State::kConnected) return;
  for (auto& [call_id, in_flight] : calls_) {
    in_flight.call->Cancel();
    loop_->CancelTimer(in_flight.deadline_timer);
    SendError(call_id, absl::UnavailableError(kShuttingDown));
  }
  calls_.clear();
  connection_.CloseAfterFlush();
}

void ServerConnection::CloseNow() {
  CancelAllCalls();
  connection_.Close(absl::UnavailableError("server stopped"));
}

void ServerConnection::CloseIfDrained() {
  if (state_ == State::kDraining && calls_.empty()) {
    connection_.CloseAfterFlush();
  }
}

void ServerConnection::ArmIdleTimer(net::EventLoop::Clock::time_point when) {
  idle_timer_ = loop_->RunAt(when, [this] {
    idle_timer_ = {};
    OnIdleTimer();
  });
}

void ServerConnection::OnIdleTimer() {
  if (connection_.state() != net::TcpConnection::State::kConnected) return;
  const net::EventLoop::Clock::time_point now = loop_->now();
  if (!calls_.empty()) {
    ArmIdleTimer(now + config_.idle_timeout);
    return;
  }
  const net::EventLoop::Clock::time_point idle_at =
      last_activity_ + config_.idle_timeout;
  if (now < idle_at) {
    ArmIdleTimer(idle_at);
    return;
  }
  // §4.3: GOAWAY OK ("idle"), unless the client never spoke the protocol
  // (no preface), which gets a silent close.
  // TODO(security): a connection that never sends its preface holds a slot
  // for the whole idle timeout; a shorter handshake timeout would free it.
  if (state_ != State::kAwaitingPreface) {
    SendGoaway(absl::StatusCode::kOk, "idle");
  }
  connection_.CloseAfterFlush();
}

}  // namespace dualrpc::raw
