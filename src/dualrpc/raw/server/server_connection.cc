#include "dualrpc/raw/server/server_connection.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dualrpc/raw/server/server_loop.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/wire/v1/wire.pb.h"

namespace dualrpc::raw {
namespace {

// Output beyond which a read burst flushes before handling more frames
// (otherwise output is flushed once, at the end of the loop iteration).
constexpr std::size_t kFlushThresholdBytes = 64 * 1024;

constexpr absl::string_view kShuttingDown = "server is shutting down";

}  // namespace

ServerConnection::ServerConnection(ServerLoop* owner, std::uint64_t id,
                                   std::unique_ptr<net::ByteStream> stream,
                                   const net::SocketAddress& peer)
    : owner_(owner),
      loop_(owner->loop()),
      config_(owner->config()),
      id_(id),
      connection_(loop_, std::move(stream), config_.connection, this),
      decoder_(config_.limits),
      dispatcher_(owner, this, id, peer, &connection_) {}

ServerConnection::~ServerConnection() {
  loop_->CancelTimer(idle_timer_);
  loop_->CancelTimer(drain_notice_timer_);
  loop_->CancelTimer(frame_timer_);
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
    // Output + the reservations of calls in flight over the limit, or the
    // server over its memory budget: the next frame waits (the connection
    // delivers the input again once that clears).
    if (connection_.ShouldHoldInput()) return;
    FrameDecoder::Event event = decoder_.Next(input);
    switch (event.kind) {
      case FrameDecoder::Event::kNeedMoreInput:
        at_frame_boundary_ = decoder_.CheckEof(*input).ok();
        WatchFrameInProgress(*input);
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
      case FrameDecoder::Event::kOversizedCallFrame:
        if (absl::Status error =
                event.header.type == FrameType::kMessage
                    ? dispatcher_.OnOversizedMessage(event.header)
                    : dispatcher_.OnOversizedRequest(event.header, Refusal());
            !error.ok()) {
          FailConnection(error);
        }
        break;
    }
    connection_.FlushIfOver(kFlushThresholdBytes);
  }
}

void ServerConnection::OnPeerEof() {
  if (state_ == State::kAwaitingPreface || !at_frame_boundary_) {
    // No preface, or a frame cut short (§6.3): nothing to answer. Flush
    // what is already written, then close.
    dispatcher_.CancelAll();
    connection_.CloseAfterFlush();
    return;
  }
  OnHalfClose();
}

void ServerConnection::OnHalfClose() {
  // §5.4: the client's FIN is its GOAWAY OK. Every call whose requests are
  // all in is answered; a request stream still open never completes now.
  // TODO(security): a client that closed entirely (not half-closed) is
  // noticed only when a write meets its reset, so a call that writes
  // nothing (a health Watch) holds the connection until the drain deadline.
  dispatcher_.CancelOpenRequestStreams();
  if (state_ == State::kOpen) state_ = State::kDraining;
  // It sends no more calls: no reason to wait for our PING's ACK.
  if (state_ == State::kDrainNotice) EndDrainNotice();
  CloseIfDrained();
}

void ServerConnection::OnClosed(const absl::Status& /*reason*/) {
  // TODO(perf): count close reasons (resets, timeouts, protocol errors) in
  // server metrics once there are any.
  dispatcher_.CancelAll();
  loop_->CancelTimer(idle_timer_);
  idle_timer_ = {};
  loop_->CancelTimer(drain_notice_timer_);
  drain_notice_timer_ = {};
  loop_->CancelTimer(frame_timer_);
  frame_timer_ = {};
  state_ = State::kClosed;
  owner_->OnConnectionClosed(id_);
}

void ServerConnection::OnPreface(std::uint8_t major, std::uint8_t minor) {
  // Not admitted (§4.3, the connection limit): rejected and closing.
  if (!owner_->OnPrefaceReceived(id_)) return;
  // Nothing written yet (no drain or refusal GOAWAY went first): SETTINGS
  // may still be the first frame.
  const bool nothing_sent = !preface_sent_;
  EnsurePrefaceSent();
  if (major != kMajorVersion) {
    FailConnection(absl::UnimplementedError(absl::StrFormat(
        "unsupported protocol version %d.%d; this server speaks %d.%d", major,
        minor, kMajorVersion, kMinorVersion)));
    return;
  }
  if (nothing_sent && minor >= kSettingsMinorVersion) SendSettings();
  // Any minor version of our major is compatible (§2); below 1.1 the
  // client gets no MESSAGE or WINDOW_UPDATE (§7.1).
  dispatcher_.set_client_minor(minor);
  if (state_ == State::kAwaitingPreface) state_ = State::kOpen;
  connection_.ScheduleFlush();
}

void ServerConnection::OnFrame(const FrameHeader& header,
                               absl::string_view payload) {
  switch (header.type) {
    case FrameType::kRequest:
      if (absl::Status error =
              dispatcher_.OnRequest(header, payload, Refusal());
          !error.ok()) {
        FailConnection(error);
      }
      return;
    case FrameType::kCancel:
      dispatcher_.OnCancel(header.call_id);
      CloseIfDrained();
      return;
    case FrameType::kPing:
      OnPing(header, payload);
      return;
    case FrameType::kGoaway:
      OnGoaway(payload);
      return;
    case FrameType::kMessage:
      if (absl::Status error = dispatcher_.OnMessage(header, payload);
          !error.ok()) {
        FailConnection(error);
      }
      return;
    case FrameType::kWindowUpdate:
      if (absl::Status error = dispatcher_.OnWindowUpdate(header, payload);
          !error.ok()) {
        FailConnection(error);
      }
      return;
    case FrameType::kResponse:
    case FrameType::kSettings:
      FailConnection(absl::InternalError(
          absl::StrCat(FrameTypeName(header.type),
                       " frames are not accepted from a client")));
      return;
  }
  // The decoder reports known types only.
}

void ServerConnection::OnPing(const FrameHeader& header,
                              absl::string_view payload) {
  if (header.flags & kFlagAck) {
    // The only PING we send is the drain notice's (§5.3).
    if (payload == kDrainPingPayload && state_ == State::kDrainNotice) {
      EndDrainNotice();
    }
    return;
  }
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
    // It sends no more calls: no reason to wait for our PING's ACK.
    if (state_ == State::kDrainNotice) EndDrainNotice();
    CloseIfDrained();
    return;
  }
  // The client ended the connection with an error and closes at once.
  dispatcher_.CancelAll();
  connection_.CloseAfterFlush();
}

absl::Status ServerConnection::Refusal() const {
  if (state_ != State::kDraining) return absl::OkStatus();
  return absl::UnavailableError(goaway_sent_ ? kShuttingDown
                                             : "the client sent GOAWAY");
}

// ---- Calls ----------------------------------------------------------------

void ServerConnection::FinishCall(std::unique_ptr<ServerCall> call,
                                  absl::Status status, bool completed_inline) {
  if (!dispatcher_.FinishCall(std::move(call), std::move(status),
                              completed_inline)) {
    return;
  }
  last_activity_ = loop_->now();
  CloseIfDrained();
}

void ServerConnection::OnCallEnded() { CloseIfDrained(); }

// ---- Output ---------------------------------------------------------------

void ServerConnection::EnsurePrefaceSent() {
  if (preface_sent_) return;
  AppendPreface(connection_.output());
  preface_sent_ = true;
}

void ServerConnection::SendGoaway(absl::StatusCode code,
                                  absl::string_view message) {
  SendGoaway(code, message, dispatcher_.last_call_id());
}

void ServerConnection::SendGoaway(absl::StatusCode code,
                                  absl::string_view message,
                                  std::uint32_t last_call_id) {
  EnsurePrefaceSent();
  goaway_last_call_id_ = std::min(goaway_last_call_id_, last_call_id);
  AppendGoaway(connection_.output(),
               Goaway{goaway_last_call_id_, code, std::string(message)});
  goaway_sent_ = true;
  connection_.ScheduleFlush();
}

void ServerConnection::SendSettings() {
  wire::v1::Settings settings;
  settings.set_max_message_bytes(config_.limits.max_message_bytes);
  settings.set_max_header_bytes(config_.limits.max_header_bytes);
  settings.set_max_calls_in_flight(
      static_cast<std::uint32_t>(config_.max_calls_in_flight));
  settings.set_initial_window_bytes(
      static_cast<std::uint32_t>(kInitialStreamWindow));
  settings.set_idle_timeout_millis(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          config_.idle_timeout)
          .count()));
  AppendSettings(connection_.output(), settings);
}

// ---- Ending ---------------------------------------------------------------

void ServerConnection::FailConnection(const absl::Status& error) {
  if (connection_.state() != net::TcpConnection::State::kConnected) return;
  dispatcher_.CancelAll();
  SendGoaway(error.code(), error.message());
  connection_.CloseAfterFlush();
}

void ServerConnection::Reject(const absl::Status& reason) {
  SendGoaway(reason.code(), reason.message());
  connection_.CloseAfterFlush();
}

void ServerConnection::BeginDrain() {
  if (connection_.state() != net::TcpConnection::State::kConnected) return;
  switch (state_) {
    case State::kAwaitingPreface:
    case State::kOpen:
      break;
    case State::kDraining:
      // The client's GOAWAY came first: it sends no more calls, so the
      // notice is skipped. Once is enough.
      if (!goaway_sent_) {
        SendGoaway(absl::StatusCode::kUnavailable, kShuttingDown);
      }
      return;
    case State::kDrainNotice:
    case State::kClosed:
      return;
  }
  // Calls the client sends before it reads this are still run: the race
  // between a drain and the client's next REQUEST loses nothing.
  SendGoaway(absl::StatusCode::kUnavailable, kShuttingDown, UINT32_MAX);
  AppendFrame(connection_.output(), FrameType::kPing, 0, 0,
              {kDrainPingPayload});
  state_ = State::kDrainNotice;
  drain_notice_timer_ =
      loop_->RunAt(loop_->now() + kDrainNoticeTimeout, [this] {
        drain_notice_timer_ = {};
        EndDrainNotice();
      });
}

void ServerConnection::EndDrainNotice() {
  if (state_ != State::kDrainNotice) return;
  loop_->CancelTimer(drain_notice_timer_);
  drain_notice_timer_ = {};
  state_ = State::kDraining;
  if (connection_.state() != net::TcpConnection::State::kConnected) return;
  SendGoaway(absl::StatusCode::kUnavailable, kShuttingDown);
  CloseIfDrained();
}

void ServerConnection::FinishDrain() {
  // A connection already closing is left to its close timeout: it is only
  // waiting for the peer to read our last frames.
  if (connection_.state() != net::TcpConnection::State::kConnected) return;
  EndDrainNotice();
  if (connection_.state() != net::TcpConnection::State::kConnected) return;
  dispatcher_.AnswerAll(absl::UnavailableError(kShuttingDown));
  connection_.CloseAfterFlush();
}

void ServerConnection::ShedForMemory() {
  if (connection_.state() == net::TcpConnection::State::kConnected) {
    dispatcher_.CancelAll();
    SendGoaway(absl::StatusCode::kResourceExhausted, "server memory limit");
  }
  connection_.CloseAfterOneWrite(
      absl::ResourceExhaustedError("server memory limit"));
}

void ServerConnection::CloseNow() {
  Abort(absl::UnavailableError("server stopped"));
}

void ServerConnection::Abort(const absl::Status& reason) {
  dispatcher_.CancelAll();
  connection_.Close(reason);
}

void ServerConnection::CloseIfDrained() {
  if (state_ == State::kDraining && !dispatcher_.has_calls_in_flight()) {
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
  if (dispatcher_.has_calls_in_flight()) {
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
  // (no preface), which gets a silent close (the handshake timeout, which
  // is normally shorter, closes those first).
  if (state_ != State::kAwaitingPreface) {
    SendGoaway(absl::StatusCode::kOk, "idle");
  }
  connection_.CloseAfterFlush();
}

// ---- Time bounds (§4.3) -----------------------------------------------

void ServerConnection::WatchFrameInProgress(const net::Buffer& input) {
  const std::optional<FrameDecoder::PartialFrame> partial =
      decoder_.InProgress(input);
  if (!partial.has_value()) {
    in_frame_ = false;
    return;
  }
  if (!in_frame_ || partial->index != frame_index_) {
    // Its first byte came in this read.
    in_frame_ = true;
    frame_index_ = partial->index;
    frame_started_ = loop_->now();
  }
  frame_deadline_ = frame_started_ + config_.frame_timeout;
  if (partial->payload_length.has_value()) {
    frame_deadline_ += std::chrono::duration_cast<
        net::EventLoop::Clock::duration>(std::chrono::microseconds(
        std::uint64_t{*partial->payload_length} * 1000 * 1000 /
        static_cast<std::uint64_t>(config_.min_frame_rate_bytes_per_second)));
  }
  if (frame_timer_.valid() && frame_timer_.when <= frame_deadline_) return;
  loop_->CancelTimer(frame_timer_);
  ArmFrameTimer(frame_deadline_);
}

void ServerConnection::ArmFrameTimer(net::EventLoop::Clock::time_point when) {
  frame_timer_ = loop_->RunAt(when, [this] {
    frame_timer_ = {};
    OnFrameTimer();
  });
}

void ServerConnection::OnFrameTimer() {
  // TODO(security): while output is over its high-water mark the
  // connection is not read, and a frame the peer has finished sending may
  // still wait in the kernel; the peer is then not reading what it asked
  // for, so the deadline still applies.
  if (!in_frame_ ||
      connection_.state() != net::TcpConnection::State::kConnected) {
    return;
  }
  if (loop_->now() < frame_deadline_) {
    ArmFrameTimer(frame_deadline_);
    return;
  }
  FailConnection(absl::ResourceExhaustedError("frame not completed in time"));
}

ServerConnection::Standing ServerConnection::standing() const {
  if (connection_.state() != net::TcpConnection::State::kConnected) {
    return {Standing::kClosing, {}};
  }
  if (in_frame_) return {Standing::kInFrame, frame_deadline_};
  if (!dispatcher_.has_calls_in_flight()) {
    return {Standing::kIdle, last_activity_};
  }
  return {Standing::kBusy, {}};
}

void ServerConnection::Evict(absl::string_view why) {
  switch (standing().kind) {
    case Standing::kClosing:
      Abort(absl::ResourceExhaustedError(why));
      return;
    case Standing::kIdle:
      // Nothing in flight, nothing lost: the client may simply reconnect.
      SendGoaway(absl::StatusCode::kUnavailable, why);
      connection_.CloseAfterFlush();
      return;
    case Standing::kInFrame:
    case Standing::kBusy:
      FailConnection(absl::ResourceExhaustedError(why));
      return;
  }
}

}  // namespace dualrpc::raw
