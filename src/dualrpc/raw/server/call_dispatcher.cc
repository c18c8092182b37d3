#include "dualrpc/raw/server/call_dispatcher.h"

#include <chrono>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dualrpc/raw/server/message_pool.h"
#include "dualrpc/raw/server/server_connection.h"
#include "dualrpc/raw/server/server_loop.h"
#include "dualrpc/raw/server/server_stream_call.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/wire/v1/wire.pb.h"

namespace dualrpc::raw {
namespace {

// Relative deadlines beyond this (ten years) are treated as none, so that
// no peer-supplied value can overflow a clock.
constexpr std::uint64_t kMaxTimeoutMicros =
    std::uint64_t{10} * 365 * 24 * 3600 * 1000 * 1000;

// How often streams held back by a full output check whether it drained.
constexpr std::chrono::milliseconds kOutputPollInterval{1};

// §4.1: a method is "/service/method", both parts non-empty, no other
// slash. Anything else is malformed (INVALID_ARGUMENT), not unknown.
absl::Status CheckMethodPath(absl::string_view path) {
  const std::size_t second_slash =
      path.empty() ? absl::string_view::npos : path.find('/', 1);
  if (path.empty() || path.front() != '/' ||
      second_slash == absl::string_view::npos || second_slash == 1 ||
      second_slash + 1 == path.size() ||
      path.find('/', second_slash + 1) != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed method \"", absl::CHexEscape(path),
                     "\": want /package.Service/Method"));
  }
  return absl::OkStatus();
}

// §4.4: `dualrpc-encoding` may only name the identity encoding; this server
// compresses nothing.
constexpr absl::string_view kEncodingKey = "dualrpc-encoding";

absl::Status CheckRequestEncoding(const rpc::Metadata& metadata) {
  for (const auto& [key, value] : metadata) {
    if (key == kEncodingKey && value != "identity") {
      return absl::UnimplementedError("compression is not supported");
    }
  }
  return absl::OkStatus();
}

void AddMetadata(const rpc::Metadata& metadata,
                 wire::v1::ResponseHeader* header) {
  for (const auto& [key, value] : metadata) {
    wire::v1::MetadataEntry* entry = header->add_metadata();
    entry->set_key(key);
    entry->set_value(value);
  }
}

}  // namespace

CallDispatcher::CallDispatcher(ServerLoop* owner, ServerConnection* connection,
                               std::uint64_t connection_id,
                               const net::SocketAddress& peer,
                               net::TcpConnection* output)
    : owner_(owner),
      connection_(connection),
      loop_(owner->loop()),
      config_(owner->config()),
      connection_id_(connection_id),
      peer_(std::make_shared<const std::string>(peer.ToUri())),
      output_(output) {}

CallDispatcher::~CallDispatcher() { CancelAll(); }

// ---- Input ----------------------------------------------------------------

absl::Status CallDispatcher::OnRequest(const FrameHeader& header,
                                       absl::string_view payload,
                                       const absl::Status& refusal) {
  if (absl::Status id = AcceptCallId(header.call_id); !id.ok()) return id;
  absl::Status started = CheckAdmission(header.flags, refusal);
  if (started.ok()) started = StartCall(header.call_id, header.flags, payload);
  if (!started.ok()) SendError(header.call_id, started);
  return absl::OkStatus();
}

absl::Status CallDispatcher::OnOversizedRequest(const FrameHeader& header,
                                                const absl::Status& refusal) {
  if (absl::Status id = AcceptCallId(header.call_id); !id.ok()) return id;
  absl::Status admission = CheckAdmission(header.flags, refusal);
  SendError(header.call_id,
            !admission.ok()
                ? admission
                : absl::ResourceExhaustedError(absl::StrFormat(
                      "request frame payload of %u bytes exceeds the limit of "
                      "%u bytes",
                      header.payload_length,
                      config_.limits.max_frame_payload_bytes())));
  return absl::OkStatus();
}

void CallDispatcher::OnCancel(std::uint32_t call_id) {
  if (ServerCall* call = TakeCall(call_id)) {
    call->Cancel();
    return;
  }
  auto it = streams_.find(call_id);
  if (it == streams_.end()) return;
  ServerStreamCall* const stream = it->second;
  streams_.erase(it);
  stream->OnWireGone();
}

// ---- Calls ----------------------------------------------------------------

absl::Status CallDispatcher::AcceptCallId(std::uint32_t call_id) {
  if (call_id <= last_call_id_) {
    return absl::InternalError(absl::StrFormat(
        "call ids must increase: %u after %u", call_id, last_call_id_));
  }
  last_call_id_ = call_id;
  return absl::OkStatus();
}

absl::Status CallDispatcher::CheckAdmission(std::uint8_t flags,
                                            const absl::Status& refusal) const {
  if (!refusal.ok()) return refusal;
  if (flags & kFlagCompressed) {
    return absl::UnimplementedError("compression is not supported");
  }
  // The output limit is not checked here: a REQUEST is not even decoded
  // while output + reservations are over it (ServerConnection::OnInput,
  // UpdateReservation).
  if (calls_.size() + streams_.size() >=
      static_cast<std::size_t>(config_.max_calls_in_flight)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("too many calls in flight on this connection (limit ",
                     config_.max_calls_in_flight, ")"));
  }
  return absl::OkStatus();
}

absl::Status CallDispatcher::StartCall(std::uint32_t call_id,
                                       std::uint8_t flags,
                                       absl::string_view payload) {
  absl::StatusOr<CallPayload> parts = SplitCallPayload(payload, config_.limits);
  if (!parts.ok()) return parts.status();
  const rpc::Method* method = nullptr;
  std::uint64_t timeout_micros = 0;
  rpc::Metadata metadata;
  // The common header (method, maybe a timeout and metadata) is read
  // without a message; errors and anything unusual take the generated
  // parser.
  if (std::optional<PlainRequestHeader> plain =
          ReadPlainRequestHeader(parts->header)) {
    method = FindMethod(plain->method);
    timeout_micros = plain->timeout_micros;
    if (method != nullptr && !plain->metadata.empty()) {
      metadata.reserve(plain->metadata.size());
      for (const auto& [key, value] : plain->metadata) {
        metadata.emplace_back(std::string(key), std::string(value));
      }
      if (absl::Status valid = rpc::ValidateMetadata(metadata); !valid.ok()) {
        return valid;
      }
    }
  }
  if (method == nullptr) {
    absl::Status read = ReadFullRequestHeader(parts->header, &method,
                                              &timeout_micros, &metadata);
    if (!read.ok()) return read;
  }
  if (absl::Status encoding = CheckRequestEncoding(metadata); !encoding.ok()) {
    return encoding;
  }
  if (method->kind != rpc::MethodKind::kUnary) {
    return StartStream(call_id, flags, method, parts->message, timeout_micros,
                       std::move(metadata));
  }
  if (!(flags & kFlagEndStream)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "method ", method->path,
        " takes one request: send it in the REQUEST, with END_STREAM"));
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
  const absl::Time deadline = has_deadline
                                  ? absl::Now() + absl::FromChrono(timeout)
                                  : absl::InfiniteFuture();

  auto call = std::make_unique<ServerCall>(
      ServerCall::Identity{owner_, owner_->mailbox(), connection_id_, call_id},
      method, peer_, PeerCertificateSubject(), deadline, std::move(metadata),
      std::move(request), parts->message.size(), messages.NewResponse(*method));
  ServerCall* const started = call.get();
  // On the loop thread, as the registry's contract allows: cheap methods
  // complete inline (FinishCall runs before invoke returns, and the call
  // never enters calls_); blocking ones hand themselves to an executor.
  owner_->BeginInvoke(connection_, started);
  method->invoke(started, started->request(), started->response(),
                 ServerCall::MakeDone(std::move(call)));
  if (owner_->EndInvoke()) return absl::OkStatus();
  // Still running: `started` is alive, owned by its done (or by a
  // completion queued to this loop, which runs after this returns).
  InFlightCall& in_flight =
      calls_.emplace(call_id, InFlightCall{started, {}}).first->second;
  UpdateReservation();
  if (has_deadline) {
    in_flight.deadline_timer = loop_->RunAt(
        loop_->now() + timeout, [this, call_id] { OnDeadline(call_id); });
  }
  return absl::OkStatus();
}

absl::Status CallDispatcher::StartStream(std::uint32_t call_id,
                                         std::uint8_t flags,
                                         const rpc::Method* method,
                                         absl::string_view message,
                                         std::uint64_t timeout_micros,
                                         rpc::Metadata metadata) {
  ServerStreamCall::Options options;
  if (!(flags & kFlagEndStream)) {
    // §7.2: the requests follow as MESSAGE frames.
    if (!rpc::ClientStreams(method->kind)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "method ", method->path,
          " takes one request: send it in the REQUEST, with END_STREAM"));
    }
    if (!message.empty()) {
      return absl::InvalidArgumentError(
          "a REQUEST without END_STREAM must not carry a message: send the "
          "requests as MESSAGE frames");
    }
  } else if (rpc::ClientStreams(method->kind)) {
    options.only_request = std::string(message);
  } else {
    options.request = method->new_request();
    if (!options.request->ParseFromArray(message.data(),
                                         static_cast<int>(message.size()))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "request message does not parse as ",
          options.request->GetTypeName()));
    }
  }
  if (timeout_micros != 0 && timeout_micros <= kMaxTimeoutMicros) {
    const auto timeout = std::chrono::microseconds(timeout_micros);
    options.deadline = absl::Now() + absl::FromChrono(timeout);
    options.loop_deadline = loop_->now() + timeout;
  }
  options.call_id = call_id;
  options.method = method;
  options.peer = peer_;
  options.peer_certificate_subject = PeerCertificateSubject();
  options.request_metadata = std::move(metadata);
  options.unary_form = client_minor_ < kStreamingMinorVersion;
  ServerStreamCall* const stream = owner_->AdoptStream(
      std::make_unique<ServerStreamCall>(owner_, this, std::move(options)));
  streams_.emplace(call_id, stream);
  stream->Start();
  return absl::OkStatus();
}

ServerStreamCall* CallDispatcher::FindStream(std::uint32_t call_id) const {
  auto it = streams_.find(call_id);
  return it == streams_.end() ? nullptr : it->second;
}

absl::Status CallDispatcher::CheckOpened(const FrameHeader& header) const {
  if (header.call_id <= last_call_id_) return absl::OkStatus();
  return absl::InternalError(absl::StrFormat(
      "%s for call %u, which no REQUEST opened", FrameTypeName(header.type),
      header.call_id));
}

void CallDispatcher::FailUnaryCall(std::uint32_t call_id,
                                   const absl::Status& status) {
  ServerCall* call = TakeCall(call_id);
  if (call == nullptr) return;  // Answered already: it crossed the RESPONSE.
  call->Cancel();
  SendError(call_id, status);
  connection_->OnCallEnded();
}

absl::Status CallDispatcher::OnMessage(const FrameHeader& header,
                                       absl::string_view payload) {
  if (absl::Status opened = CheckOpened(header); !opened.ok()) return opened;
  if (ServerStreamCall* stream = FindStream(header.call_id)) {
    stream->OnMessage(header.flags, payload);
  } else {
    FailUnaryCall(header.call_id, absl::InternalError(
                                      "MESSAGE after the end of the request "
                                      "stream"));
  }
  return absl::OkStatus();
}

absl::Status CallDispatcher::OnOversizedMessage(const FrameHeader& header) {
  if (absl::Status opened = CheckOpened(header); !opened.ok()) return opened;
  if (ServerStreamCall* stream = FindStream(header.call_id)) {
    stream->OnOversizedMessage(header.payload_length);
  } else {
    FailUnaryCall(header.call_id, absl::InternalError(
                                      "MESSAGE after the end of the request "
                                      "stream"));
  }
  return absl::OkStatus();
}

absl::Status CallDispatcher::OnWindowUpdate(const FrameHeader& header,
                                            absl::string_view payload) {
  absl::StatusOr<std::uint32_t> increment = ParseWindowUpdate(payload);
  if (!increment.ok()) return increment.status();
  if (absl::Status opened = CheckOpened(header); !opened.ok()) return opened;
  // Unary calls have no window: nothing to add to.
  if (ServerStreamCall* stream = FindStream(header.call_id)) {
    return stream->OnWindowUpdate(*increment);
  }
  return absl::OkStatus();
}

void CallDispatcher::EndStream(std::uint32_t call_id) {
  streams_.erase(call_id);
  connection_->OnCallEnded();
}

bool CallDispatcher::OutputOverLimit() const {
  return output_->unsent_bytes() > config_.connection.high_water_mark;
}

void CallDispatcher::WaitForOutput(std::uint32_t call_id) {
  waiting_for_output_.push_back(call_id);
  if (!output_timer_.valid()) ArmOutputTimer();
}

void CallDispatcher::ArmOutputTimer() {
  output_timer_ = loop_->RunAt(loop_->now() + kOutputPollInterval, [this] {
    output_timer_ = {};
    OnOutputTimer();
  });
}

void CallDispatcher::OnOutputTimer() {
  if (OutputOverLimit()) {
    ArmOutputTimer();
    return;
  }
  std::vector<std::uint32_t> waiting;
  waiting.swap(waiting_for_output_);
  for (std::uint32_t call_id : waiting) {
    if (ServerStreamCall* stream = FindStream(call_id)) {
      stream->OnOutputDrained();
    }
  }
}

absl::Status CallDispatcher::ReadFullRequestHeader(
    absl::string_view bytes, const rpc::Method** method,
    std::uint64_t* timeout_micros, rpc::Metadata* metadata) {
  wire::v1::RequestHeader header;
  if (!header.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError("request header does not parse");
  }
  *method = FindMethod(header.method());
  if (*method == nullptr) {
    if (absl::Status path = CheckMethodPath(header.method()); !path.ok()) {
      return path;
    }
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

const std::shared_ptr<const std::string>&
CallDispatcher::PeerCertificateSubject() {
  if (!peer_certificate_subject_.has_value()) {
    std::string subject = output_->stream().PeerCertificateSubject();
    peer_certificate_subject_ =
        subject.empty() ? nullptr
                        : std::make_shared<const std::string>(std::move(subject));
  }
  return *peer_certificate_subject_;
}

const rpc::Method* CallDispatcher::FindMethod(absl::string_view path) {
  if (last_method_ != nullptr && last_method_->path == path) {
    return last_method_;
  }
  const rpc::Method* method = config_.registry->FindMethod(path);
  if (method != nullptr) last_method_ = method;
  return method;
}

bool CallDispatcher::FinishCall(std::unique_ptr<ServerCall> call,
                                absl::Status status, bool completed_inline) {
  if (!completed_inline) {
    auto it = calls_.find(call->call_id());
    // Cancelled, timed out, or the connection closed: nobody wants the
    // result.
    if (it == calls_.end() || it->second.call != call.get()) return false;
    loop_->CancelTimer(it->second.deadline_timer);
    calls_.erase(it);
    UpdateReservation();
  }
  const bool response_sent = SendResponse(call.get(), std::move(status));
  // Done has run: the call's messages serve the next calls on this loop.
  MessagePool& messages = owner_->messages();
  const rpc::Method& method = *call->method();
  const std::size_t request_bytes = call->request_wire_bytes();
  messages.RecycleRequest(method, call->TakeRequest(), request_bytes);
  if (response_sent) {
    // Its size was computed for the serialization just done.
    const std::size_t response_bytes =
        static_cast<std::size_t>(call->response()->GetCachedSize());
    messages.RecycleResponse(method, call->TakeResponse(), response_bytes);
  }
  return true;
}

void CallDispatcher::UpdateReservation() {
  output_->set_reserved_output_bytes(calls_.size() *
                                     std::size_t{config_.limits.max_message_bytes});
}

void CallDispatcher::OnDeadline(std::uint32_t call_id) {
  ServerCall* call = TakeCall(call_id);
  if (call == nullptr) return;
  call->Cancel();
  SendError(call_id, absl::DeadlineExceededError("deadline exceeded"));
  connection_->OnCallEnded();
}

ServerCall* CallDispatcher::TakeCall(std::uint32_t call_id) {
  auto it = calls_.find(call_id);
  if (it == calls_.end()) return nullptr;
  ServerCall* call = it->second.call;
  loop_->CancelTimer(it->second.deadline_timer);
  calls_.erase(it);
  UpdateReservation();
  return call;
}

void CallDispatcher::CancelAll() {
  // TODO(security): a cancelled call stops counting against
  // max_calls_in_flight although its implementation may still be running
  // (as in gRPC, where RST_STREAM frees the stream at once); a client can
  // so keep more work running than the limit says.
  for (auto& [call_id, in_flight] : calls_) {
    in_flight.call->Cancel();
    loop_->CancelTimer(in_flight.deadline_timer);
  }
  calls_.clear();
  UpdateReservation();
  // Moved out first: the streams' cancellation must not see a map in
  // iteration.
  absl::flat_hash_map<std::uint32_t, ServerStreamCall*> streams;
  streams.swap(streams_);
  for (auto& [call_id, stream] : streams) stream->OnWireGone();
  waiting_for_output_.clear();
  loop_->CancelTimer(output_timer_);
  output_timer_ = {};
}

void CallDispatcher::CancelOpenRequestStreams() {
  std::vector<ServerStreamCall*> open;
  for (auto it = streams_.begin(); it != streams_.end();) {
    if (it->second->request_stream_closed()) {
      ++it;
      continue;
    }
    open.push_back(it->second);
    streams_.erase(it++);
  }
  // Forgotten first: the streams' cancellation must not see them here.
  for (ServerStreamCall* stream : open) stream->OnWireGone();
}

void CallDispatcher::AnswerAll(const absl::Status& status) {
  for (auto& [call_id, in_flight] : calls_) {
    in_flight.call->Cancel();
    loop_->CancelTimer(in_flight.deadline_timer);
    SendError(call_id, status);
  }
  calls_.clear();
  UpdateReservation();
  absl::flat_hash_map<std::uint32_t, ServerStreamCall*> streams;
  streams.swap(streams_);
  for (auto& [call_id, stream] : streams) {
    SendError(call_id, status);
    stream->OnWireGone();
  }
}

// ---- Output ---------------------------------------------------------------

bool CallDispatcher::SendResponse(ServerCall* call, absl::Status status) {
  const rpc::Metadata metadata = call->TakeResponseMetadata();
  if (!status.ok()) {
    SendError(call->call_id(), status, metadata);
    return false;
  }
  absl::Status appended;
  if (metadata.empty()) {
    // The common case, allocation-free: header length 0, message
    // serialized straight into the output buffer.
    appended = AppendCallFrame(output_->output(), FrameType::kResponse,
                               kFlagEndStream, call->call_id(), nullptr,
                               call->response(), config_.limits);
  } else {
    wire::v1::ResponseHeader header;
    AddMetadata(metadata, &header);
    appended = AppendCallFrame(output_->output(), FrameType::kResponse,
                               kFlagEndStream, call->call_id(), &header,
                               call->response(), config_.limits);
  }
  if (!appended.ok()) {
    // The response is over the message limit (or its metadata over the
    // header limit): §4.3 makes that the call's status.
    SendError(call->call_id(), appended);
    return false;
  }
  output_->ScheduleFlush();
  return true;
}

void CallDispatcher::SendOkResponse(std::uint32_t call_id,
                                    const rpc::Metadata& metadata,
                                    const google::protobuf::Message* message) {
  wire::v1::ResponseHeader header;
  AddMetadata(metadata, &header);
  absl::Status appended = AppendCallFrame(
      output_->output(), FrameType::kResponse, kFlagEndStream, call_id,
      metadata.empty() ? nullptr : &header, message, config_.limits);
  if (!appended.ok()) {
    SendError(call_id, appended);
    return;
  }
  output_->ScheduleFlush();
}

void CallDispatcher::SendError(std::uint32_t call_id,
                               const absl::Status& status,
                               const rpc::Metadata& metadata) {
  wire::v1::ResponseHeader header;
  SetResponseStatus(status, &header);
  AddMetadata(metadata, &header);
  absl::Status appended =
      AppendCallFrame(output_->output(), FrameType::kResponse, kFlagEndStream,
                      call_id, &header, nullptr, config_.limits);
  if (!appended.ok()) {
    // The service's message or metadata made the header too large: report
    // that instead, in a header that fits (RawServer keeps the header limit
    // well above the length of this message).
    header.Clear();
    SetResponseStatus(appended, &header);
    AppendCallFrame(output_->output(), FrameType::kResponse, kFlagEndStream,
                    call_id, &header, nullptr, config_.limits)
        .IgnoreError();
  }
  output_->ScheduleFlush();
}

}  // namespace dualrpc::raw
