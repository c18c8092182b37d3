#include "dualrpc/raw/client/client_connection.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "dualrpc/net/byte_order.h"
#include "dualrpc/raw/client/client_stream.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/rpc/metadata.h"
#include "dualrpc/wire/v1/wire.pb.h"

namespace dualrpc::raw {
namespace {

constexpr std::size_t kCallIdOffset = 8;

// A posted frame larger than this is swapped into an empty output buffer
// rather than copied (below it, keeping the output's storage is cheaper).
constexpr std::size_t kAdoptFrameBytes = 64 * 1024;

// Output up to this size leaves as soon as the input that produced it has
// been handled (OnInput); more waits for the end of the loop iteration.
constexpr std::size_t kEarlyFlushMaxBytes = 64 * 1024;

// The 8 opaque bytes of a health-check PING (§5.2).
constexpr absl::string_view kHealthCheckPing = "dualrpc\x01";

// What a call failed by `goaway` gets: UNAVAILABLE, naming the GOAWAY's
// status when it is an error (§5.5) and always its message.
absl::Status GoawayFailure(const Goaway& goaway) {
  if (goaway.code == absl::StatusCode::kOk ||
      goaway.code == absl::StatusCode::kUnavailable) {
    return absl::UnavailableError(
        absl::StrCat("server is going away: ", goaway.message));
  }
  return absl::UnavailableError(
      absl::StrCat("server ended the connection with GOAWAY ",
                   absl::StatusCodeToString(goaway.code), ": ",
                   goaway.message));
}

// The message size of a complete REQUEST frame (§4.1: frame header, call
// header length, call header, message).
std::size_t RequestFrameMessageBytes(const net::Buffer& frame) {
  const std::size_t header_bytes =
      net::LoadUint32(frame.Peek() + kFrameHeaderSize);
  return frame.readable_bytes() - kFrameHeaderSize - kCallHeaderLengthSize -
         header_bytes;
}

}  // namespace

absl::Status MarkNotSent(absl::Status status) {
  status.SetPayload(kNotSentPayloadUrl, absl::Cord("1"));
  return status;
}

bool IsNotSent(const absl::Status& status) {
  return status.GetPayload(kNotSentPayloadUrl).has_value();
}

OutgoingCall::~OutgoingCall() {
  if (done != nullptr) {
    std::move(done)(absl::CancelledError("channel destroyed"));
  }
}

absl::StatusOr<std::vector<net::SocketAddress>> ServerAddress::Addresses() {
  if (resolved_.empty()) {
    absl::StatusOr<std::vector<net::SocketAddress>> resolved =
        net::Resolve(host_port_);
    if (!resolved.ok()) return resolved.status();
    resolved_ = *std::move(resolved);
  }
  return resolved_;
}

ClientConnection::ClientConnection(net::EventLoop* loop, ServerAddress* server,
                                   const Options& options,
                                   ClientConnection** completing)
    : loop_(loop),
      server_(server),
      options_(options),
      completing_(completing),
      connector_(loop) {}

ClientConnection::~ClientConnection() {
  loop_->CancelTimer(health_timer_);
  FailAll(absl::CancelledError("channel destroyed"));
}

void ClientConnection::Send(OutgoingCall* call) {
  if (tcp_ == nullptr && !connector_.connecting()) StartConnect();
  if (absl::Status fits =
          CheckServerMessageLimit(RequestFrameMessageBytes(call->frame));
      !fits.ok()) {
    // Never inside Send(): from the loop, like the other failures.
    loop_->Defer([done = std::exchange(call->done, nullptr),
                  fits = std::move(fits)]() mutable {
      std::move(done)(std::move(fits));
    });
    return;
  }
  const std::uint32_t call_id = next_call_id_++;
  net::Buffer* out = output();
  const std::size_t size = call->frame.readable_bytes();
  if (out->readable_bytes() == 0 && size > kAdoptFrameBytes) {
    // A large frame becomes the output buffer instead of being copied.
    std::swap(*out, call->frame);
  } else {
    out->Append(call->frame.View());
  }
  net::StoreUint32(out->BeginWrite() - size + kCallIdOffset, call_id);
  Track(call_id, call->target, std::exchange(call->done, nullptr));
}

void ClientConnection::SendNow(absl::string_view method,
                               std::uint64_t timeout_micros,
                               const rpc::Metadata& metadata,
                               const google::protobuf::MessageLite& request,
                               const CallTarget& target, rpc::UnaryDone done) {
  // Only a server that announced a limit below ours costs a size pass here;
  // AppendRequestFrame enforces ours.
  if (server_max_message_bytes_ != 0 &&
      server_max_message_bytes_ < options_.limits.max_message_bytes) {
    if (absl::Status fits = CheckServerMessageLimit(request.ByteSizeLong());
        !fits.ok()) {
      std::move(done)(std::move(fits));
      return;
    }
  }
  absl::Status encoded =
      AppendRequestFrame(tcp_->output(), next_call_id_, method, timeout_micros,
                         metadata, request, options_.limits);
  if (!encoded.ok()) {
    std::move(done)(encoded);
    return;
  }
  Track(next_call_id_++, target, std::move(done));
}

void ClientConnection::Abort(const absl::Status& reason) {
  connector_.Cancel();
  staged_.RetrieveAll();
  FailAll(reason);
  CloseSocket(reason);
}

void ClientConnection::Track(std::uint32_t call_id, const CallTarget& target,
                             rpc::UnaryDone done) {
  Pending& pending = pending_[call_id];
  pending.response = target.response;
  pending.response_metadata = target.response_metadata;
  pending.done = std::move(done);
  if (target.deadline != absl::InfiniteFuture()) {
    const auto delay = absl::ToChronoNanoseconds(
        std::max(target.deadline - absl::Now(), absl::ZeroDuration()));
    pending.timer = loop_->RunAt(net::EventLoop::Clock::now() + delay,
                                 [this, call_id]() { OnDeadline(call_id); });
  }
  ScheduleFlush();
}

void ClientConnection::StartConnect() {
  // A new socket may reach another server build: ask its preface again.
  stream_support_ = StreamSupport::kUnknown;
  settings_may_come_ = false;
  server_max_message_bytes_ = 0;
  // Frames of the calls that wait for the connect queue behind the preface.
  staged_.RetrieveAll();
  AppendPreface(&staged_);
  absl::StatusOr<std::vector<net::SocketAddress>> addresses =
      server_->Addresses();
  if (!addresses.ok()) {
    // Reported from the loop like a failed connect, never inline.
    connector_.Start(
        {}, options_.connect_timeout,
        [this, error = addresses.status()](absl::StatusOr<base::ScopedFd>) {
          OnConnected(error);
        });
    return;
  }
  connector_.Start(*std::move(addresses), options_.connect_timeout,
                   [this](absl::StatusOr<base::ScopedFd> fd) {
                     OnConnected(std::move(fd));
                   });
}

void ClientConnection::OnConnected(absl::StatusOr<base::ScopedFd> fd) {
  if (!fd.ok()) {
    staged_.RetrieveAll();
    const absl::Status failed = absl::UnavailableError(fd.status().message());
    // Reported first, so that a balancer ejects this server before the
    // calls below are retried.
    if (options_.observer != nullptr) {
      options_.observer->OnConnectionFailed(failed);
    }
    // Nothing was written: every staged call may go elsewhere.
    FailAll(MarkNotSent(failed));
    return;
  }
  std::unique_ptr<net::ByteStream> stream;
  if (options_.tls != nullptr) {
    stream = options_.tls->WrapClient(*std::move(fd), options_.tls_host);
  } else {
    stream = std::make_unique<net::PlainTcpStream>(*std::move(fd));
  }
  tcp_ = std::make_unique<net::TcpConnection>(
      loop_, std::move(stream), net::TcpConnection::Options(),
      static_cast<net::TcpConnection::Handler*>(this));
  decoder_ = std::make_unique<FrameDecoder>(options_.limits);
  absl::Status started = tcp_->Start();
  if (!started.ok()) {
    tcp_.reset();
    staged_.RetrieveAll();
    FailAll(absl::UnavailableError(started.message()));
    return;
  }
  std::swap(*tcp_->output(), staged_);
  tcp_->ScheduleFlush();
  // From the connect on: a server that accepts (or whose kernel does) but
  // never answers, not even with its preface, fails the check too.
  input_seen_ = false;
  ping_outstanding_ = false;
  ScheduleHealthCheck();
}

void ClientConnection::OnInput(net::Buffer* input) {
  input_seen_ = true;
  while (tcp_ != nullptr &&
         tcp_->state() == net::TcpConnection::State::kConnected) {
    FrameDecoder::Event event = decoder_->Next(input);
    switch (event.kind) {
      case FrameDecoder::Event::kNeedMoreInput:
        // The calls that this input's dones started leave now, in one
        // send, rather than at the end of the loop iteration: the server
        // starts on them while this thread reads its other connections
        // (as the bench's floor client does). Measured: 32 callers on one
        // core, 0.72x -> 0.79x the floor's calls/s. Not for large output,
        // which would go out in many partial sends as the peer drains
        // (1 MiB x 8 callers: 856 -> 688 calls/s).
        if (tcp_->unsent_bytes() <= kEarlyFlushMaxBytes) tcp_->FlushIfOver(1);
        return;
      case FrameDecoder::Event::kPreface:
        if (event.major != kMajorVersion) {
          tcp_->Close(absl::UnavailableError(absl::StrCat(
              "server speaks protocol version ", static_cast<int>(event.major),
              ", not ", static_cast<int>(kMajorVersion))));
          return;
        }
        HandlePreface(event.minor);
        break;
      case FrameDecoder::Event::kFrame:
        HandleFrame(event.header, event.payload);
        break;
      case FrameDecoder::Event::kBadMagic:
        // A TLS record (an alert, a ServerHello) where the preface should
        // be: a plaintext client on a TLS port.
        if (options_.tls == nullptr && input->readable_bytes() != 0 &&
            (input->Peek()[0] == 0x15 || input->Peek()[0] == 0x16)) {
          tcp_->Close(absl::UnavailableError(
              "the server speaks TLS on this port (use raws://)"));
          return;
        }
        tcp_->Close(absl::UnavailableError("not a dualrpc raw server"));
        return;
      case FrameDecoder::Event::kOversizedCallFrame:
        if (event.header.type == FrameType::kMessage) {
          HandleOversizedMessage(event.header.call_id);
          break;
        }
        tcp_->Close(
            absl::UnavailableError("protocol error: REQUEST from server"));
        return;
      case FrameDecoder::Event::kError:
        tcp_->Close(absl::UnavailableError(
            absl::StrCat("protocol error: ", event.error.message())));
        return;
    }
  }
}

void ClientConnection::OnPeerEof() {
  tcp_->Close(absl::UnavailableError("server closed the connection"));
}

void ClientConnection::OnClosed(const absl::Status& reason) {
  // Detached first, so that a `done` below which starts another call sees
  // this connection as closed. Never destroyed inside its own callback:
  // later, on the loop.
  loop_->Defer([tcp = std::move(tcp_)]() {});
  loop_->CancelTimer(std::exchange(health_timer_, net::EventLoop::TimerId()));
  ping_outstanding_ = false;
  std::string why(reason.ok() ? "connection closed" : reason.message());
  // Closed before the server's preface, in plaintext: most likely a TLS
  // server that refused our preface as a handshake.
  if (options_.tls == nullptr && stream_support_ == StreamSupport::kUnknown &&
      !absl::StrContains(why, "raws://")) {
    absl::StrAppend(&why,
                    " before the server's preface (a TLS port? use raws://)");
  }
  if (options_.observer != nullptr && !Idle()) {
    options_.observer->OnConnectionFailed(absl::UnavailableError(why));
  }
  // A server writes its preface before it reads a REQUEST: a connection
  // that closed before we read one (a backlog reset by a server that
  // stopped accepting, a failed TLS handshake) ran none of its calls.
  const bool before_preface = stream_support_ == StreamSupport::kUnknown;
  FailAll(before_preface ? MarkNotSent(absl::UnavailableError(why))
                         : absl::UnavailableError(why));
}

void ClientConnection::ScheduleHealthCheck() {
  if (options_.health_check_interval == absl::InfiniteDuration()) return;
  const absl::Duration delay = ping_outstanding_
                                   ? options_.health_check_timeout
                                   : options_.health_check_interval;
  health_timer_ = loop_->RunAt(
      net::EventLoop::Clock::now() + absl::ToChronoNanoseconds(delay),
      [this]() { OnHealthCheckTimer(); });
}

void ClientConnection::OnHealthCheckTimer() {
  health_timer_ = net::EventLoop::TimerId();
  if (tcp_ == nullptr ||
      tcp_->state() != net::TcpConnection::State::kConnected) {
    return;
  }
  if (ping_outstanding_) {
    const absl::Status failed = absl::UnavailableError(
        absl::StrCat("health check failed: no PONG within ",
                     absl::FormatDuration(options_.health_check_timeout)));
    if (options_.observer != nullptr) {
      options_.observer->OnConnectionFailed(failed);
    }
    tcp_->Close(failed);
    return;
  }
  if (std::exchange(input_seen_, false)) {
    ScheduleHealthCheck();
    return;
  }
  AppendFrame(tcp_->output(), FrameType::kPing, 0, 0, {kHealthCheckPing});
  tcp_->ScheduleFlush();
  ping_outstanding_ = true;
  ScheduleHealthCheck();
}

void ClientConnection::HandlePong() {
  if (!ping_outstanding_) return;
  ping_outstanding_ = false;
  input_seen_ = false;
  loop_->CancelTimer(health_timer_);
  ScheduleHealthCheck();
}

void ClientConnection::HandleFrame(const FrameHeader& header,
                                   absl::string_view payload) {
  const bool first_frame = std::exchange(settings_may_come_, false);
  switch (header.type) {
    case FrameType::kSettings:
      HandleSettings(first_frame, payload);
      break;
    case FrameType::kResponse:
      HandleResponse(header.call_id, payload);
      break;
    case FrameType::kPing:
      if ((header.flags & kFlagAck) == 0) {
        AppendFrame(tcp_->output(), FrameType::kPing, kFlagAck, 0, {payload});
        tcp_->ScheduleFlush();
      } else {
        HandlePong();
      }
      break;
    case FrameType::kGoaway:
      HandleGoaway(payload);
      break;
    case FrameType::kMessage:
      HandleMessage(header, payload);
      break;
    case FrameType::kWindowUpdate:
      HandleWindowUpdate(header.call_id, payload);
      break;
    default:
      tcp_->Close(absl::UnavailableError(absl::StrCat(
          "protocol error: ", FrameTypeName(header.type), " from server")));
      break;
  }
}

void ClientConnection::HandleResponse(std::uint32_t call_id,
                                      absl::string_view payload) {
  auto it = pending_.find(call_id);
  if (it == pending_.end()) {
    if (!streams_.empty()) {
      auto stream = streams_.find(call_id);
      // The stream detaches itself.
      if (stream != streams_.end()) stream->second->OnResponse(payload);
    }
    return;  // Else expired or cancelled (§4.5).
  }
  Pending pending = std::move(it->second);
  pending_.erase(it);
  loop_->CancelTimer(pending.timer);
  // A call that this done starts takes the slot this one freed (see
  // RawChannel::StartUnaryCall): same connection, same send as the other
  // responses' follow-ups.
  ClientConnection* const outer = std::exchange(*completing_, this);
  std::move(pending.done)(
      DecodeResponse(payload, pending.response, pending.response_metadata));
  *completing_ = outer;
  CloseIfDrained();
}

void ClientConnection::CloseIfDrained() {
  if (going_away_ && Idle() && tcp_ != nullptr) tcp_->CloseAfterFlush();
}

absl::Status ClientConnection::DecodeResponse(
    absl::string_view payload, google::protobuf::MessageLite* response,
    rpc::Metadata* response_metadata) const {
  absl::StatusOr<CallPayload> parts =
      SplitCallPayload(payload, options_.limits);
  if (!parts.ok()) return absl::InternalError(parts.status().message());
  // An empty header is OK without metadata (§4.2), the common response:
  // nothing to parse.
  if (!parts->header.empty()) {
    wire::v1::ResponseHeader header;
    if (!header.ParseFromArray(parts->header.data(), parts->header.size())) {
      return absl::InternalError("cannot parse the response header");
    }
    if (response_metadata != nullptr) {
      for (const wire::v1::MetadataEntry& entry : header.metadata()) {
        response_metadata->emplace_back(entry.key(), entry.value());
      }
    }
    absl::Status status = ResponseStatus(header);
    if (!status.ok()) return status;
  }
  if (!response->ParseFromArray(parts->message.data(), parts->message.size())) {
    return absl::InternalError("cannot parse the response message");
  }
  return absl::OkStatus();
}

void ClientConnection::HandleGoaway(absl::string_view payload) {
  absl::StatusOr<Goaway> goaway = ParseGoaway(payload);
  if (!goaway.ok()) {
    tcp_->Close(absl::UnavailableError("protocol error: bad GOAWAY"));
    return;
  }
  going_away_ = true;
  // Calls after last_call_id were not run: safe to retry (§5.3).
  std::vector<std::uint32_t> not_run;
  for (const auto& [call_id, pending] : pending_) {
    if (call_id > goaway->last_call_id) not_run.push_back(call_id);
  }
  const absl::Status going_away = GoawayFailure(*goaway);
  // GOAWAY OK closes an idle connection (§5.5): the server still serves,
  // on a new one. Any other is a drain or a refusal.
  if (options_.observer != nullptr && goaway->code != absl::StatusCode::kOk) {
    options_.observer->OnGoaway(going_away);
  }
  for (std::uint32_t call_id : not_run) {
    Complete(call_id, MarkNotSent(going_away));
  }
  // Streams after last_call_id were not run either; streams not yet opened
  // never will be on this connection (§5.3, §7.3).
  std::vector<RawClientStream*> streams_not_run = std::move(unopened_);
  unopened_.clear();
  for (auto it = streams_.begin(); it != streams_.end();) {
    if (it->first > goaway->last_call_id) {
      streams_not_run.push_back(it->second);
      streams_.erase(it++);
    } else {
      ++it;
    }
  }
  for (RawClientStream* stream : streams_not_run) {
    stream->OnConnectionFailed(going_away);
  }
  // The dones above may have destroyed the channel, closing the socket.
  if (tcp_ == nullptr) return;
  if (goaway->code != absl::StatusCode::kOk &&
      goaway->code != absl::StatusCode::kUnavailable) {
    // §5.5: an error GOAWAY answers nothing more; OnClosed fails the calls
    // left with UNAVAILABLE naming it.
    tcp_->Close(going_away);
  } else if (Idle()) {
    tcp_->CloseAfterFlush();
  }
}

void ClientConnection::OnDeadline(std::uint32_t call_id) {
  auto it = pending_.find(call_id);
  if (it == pending_.end()) return;
  it->second.timer = net::EventLoop::TimerId();
  Complete(call_id, absl::DeadlineExceededError("deadline exceeded"));
  if (tcp_ != nullptr &&
      tcp_->state() == net::TcpConnection::State::kConnected) {
    AppendFrame(tcp_->output(), FrameType::kCancel, 0, call_id);
    tcp_->ScheduleFlush();
  } else if (connector_.connecting()) {
    // Its REQUEST is staged: the server must drop it too.
    AppendFrame(&staged_, FrameType::kCancel, 0, call_id);
  }
}

void ClientConnection::Complete(std::uint32_t call_id, absl::Status status) {
  auto it = pending_.find(call_id);
  if (it == pending_.end()) return;
  Pending pending = std::move(it->second);
  pending_.erase(it);
  loop_->CancelTimer(pending.timer);
  std::move(pending.done)(std::move(status));
}

void ClientConnection::FailAll(const absl::Status& status) {
  // `done` callbacks may start calls (posted, or staged on a new connect),
  // never into the map being emptied here.
  auto pending = std::move(pending_);
  pending_.clear();
  std::vector<RawClientStream*> streams = std::move(unopened_);
  unopened_.clear();
  for (const auto& [call_id, stream] : streams_) streams.push_back(stream);
  streams_.clear();
  for (auto& [call_id, call] : pending) {
    loop_->CancelTimer(call.timer);
    std::move(call.done)(status);
  }
  // Their callbacks are queued, never run here.
  for (RawClientStream* stream : streams) stream->OnConnectionFailed(status);
}

void ClientConnection::AttachStream(RawClientStream* stream) {
  if (tcp_ == nullptr && !connector_.connecting()) StartConnect();
  switch (stream_support_) {
    case StreamSupport::kUnknown:
      unopened_.push_back(stream);
      break;
    case StreamSupport::kYes:
      unopened_.push_back(stream);
      stream->OnTransportReady(absl::OkStatus());
      break;
    case StreamSupport::kNo:
      stream->OnConnectionFailed(absl::UnimplementedError(
          "the server speaks raw protocol 1.0, which has no streaming calls"));
      break;
  }
}

std::uint32_t ClientConnection::OpenStream(RawClientStream* stream) {
  unopened_.erase(std::find(unopened_.begin(), unopened_.end(), stream));
  const std::uint32_t call_id = next_call_id_++;
  streams_[call_id] = stream;
  return call_id;
}

void ClientConnection::DetachStream(RawClientStream* stream,
                                    std::uint32_t call_id, bool send_cancel) {
  if (call_id == 0) {
    auto it = std::find(unopened_.begin(), unopened_.end(), stream);
    if (it != unopened_.end()) unopened_.erase(it);
  } else {
    streams_.erase(call_id);
    if (send_cancel) SendCancel(call_id);
  }
  CloseIfDrained();
}

void ClientConnection::HandleSettings(bool first_frame,
                                      absl::string_view payload) {
  if (!first_frame) {
    tcp_->Close(absl::UnavailableError(
        "protocol error: SETTINGS that is not the server's first frame"));
    return;
  }
  absl::StatusOr<wire::v1::Settings> settings = ParseSettings(payload);
  if (!settings.ok()) {
    tcp_->Close(absl::UnavailableError(
        absl::StrCat("protocol error: ", settings.status().message())));
    return;
  }
  server_max_message_bytes_ = settings->max_message_bytes();
}

absl::Status ClientConnection::CheckServerMessageLimit(
    std::size_t message_bytes) const {
  if (server_max_message_bytes_ == 0 ||
      message_bytes <= server_max_message_bytes_) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("request message of ", message_bytes,
                   " bytes exceeds the server's limit of ",
                   server_max_message_bytes_, " bytes"));
}

void ClientConnection::HandlePreface(std::uint8_t minor) {
  settings_may_come_ = minor >= kSettingsMinorVersion;
  stream_support_ = minor >= kStreamingMinorVersion ? StreamSupport::kYes
                                                    : StreamSupport::kNo;
  if (options_.observer != nullptr) options_.observer->OnConnectionReady();
  if (unopened_.empty()) return;
  // Streams may open (leaving unopened_) or end (detaching) below.
  const std::vector<RawClientStream*> waiting = unopened_;
  if (stream_support_ == StreamSupport::kNo) unopened_.clear();
  for (RawClientStream* stream : waiting) {
    if (stream_support_ == StreamSupport::kYes) {
      stream->OnTransportReady(absl::OkStatus());
    } else {
      stream->OnConnectionFailed(absl::UnimplementedError(
          "the server speaks raw protocol 1.0, which has no streaming "
          "calls"));
    }
    if (tcp_ == nullptr) return;  // A callback cannot run here; defensive.
  }
}

void ClientConnection::HandleMessage(const FrameHeader& header,
                                     absl::string_view payload) {
  if (auto it = streams_.find(header.call_id); it != streams_.end()) {
    it->second->OnMessage(header.flags, payload);
    return;
  }
  // §7.5: a MESSAGE on a unary call fails it; for an id no longer
  // tracked it is ignored (it may have crossed our CANCEL).
  if (pending_.contains(header.call_id)) {
    FailUnaryAndCancel(header.call_id,
                       absl::InternalError("MESSAGE on a unary call"));
  }
}

void ClientConnection::HandleWindowUpdate(std::uint32_t call_id,
                                          absl::string_view payload) {
  absl::StatusOr<std::uint32_t> increment = ParseWindowUpdate(payload);
  absl::Status applied = increment.status();
  if (applied.ok()) {
    auto it = streams_.find(call_id);
    if (it != streams_.end()) applied = it->second->OnWindowUpdate(*increment);
  }
  if (!applied.ok()) {
    tcp_->Close(absl::UnavailableError(
        absl::StrCat("protocol error: bad WINDOW_UPDATE: ", applied.message())));
  }
}

void ClientConnection::HandleOversizedMessage(std::uint32_t call_id) {
  if (auto it = streams_.find(call_id); it != streams_.end()) {
    it->second->OnOversizedMessage();
  } else if (pending_.contains(call_id)) {
    FailUnaryAndCancel(call_id, absl::InternalError("MESSAGE on a unary call"));
  }
}

void ClientConnection::FailUnaryAndCancel(std::uint32_t call_id,
                                          absl::Status status) {
  Complete(call_id, std::move(status));
  SendCancel(call_id);
  CloseIfDrained();
}

void ClientConnection::SendCancel(std::uint32_t call_id) {
  // A done above may have closed the socket.
  if (tcp_ == nullptr ||
      tcp_->state() != net::TcpConnection::State::kConnected) {
    return;
  }
  AppendFrame(tcp_->output(), FrameType::kCancel, 0, call_id);
  tcp_->ScheduleFlush();
}

void ClientConnection::CloseSocket(const absl::Status& reason) {
  if (tcp_ != nullptr) tcp_->Close(reason);
}

}  // namespace dualrpc::raw
