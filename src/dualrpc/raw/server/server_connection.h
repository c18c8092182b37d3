#ifndef DUALRPC_RAW_SERVER_SERVER_CONNECTION_H_
#define DUALRPC_RAW_SERVER_SERVER_CONNECTION_H_

#include <chrono>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/net/byte_stream.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/net/socket_address.h"
#include "dualrpc/net/tcp_connection.h"
#include "dualrpc/raw/server/call_dispatcher.h"
#include "dualrpc/raw/server/server_call.h"
#include "dualrpc/raw/server/server_config.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/raw/wire/frame_decoder.h"

namespace dualrpc::raw {

class ServerLoop;

// §5.3: how long a drain's first GOAWAY waits for the ACK of its DRAINING
// PING before the second GOAWAY is sent anyway (a client that does not
// answer PINGs). The drain deadline cuts it shorter (FinishDrain).
inline constexpr std::chrono::milliseconds kDrainNoticeTimeout{1000};

// The server side of one raw-protocol connection (docs/PROTOCOL.md), its
// lifecycle half: the preface, frame decoding, PING, GOAWAY (sent and
// received), drain, the idle timeout, output limits and every way of
// closing. Calls (REQUEST, CANCEL, responses, deadlines) are its
// CallDispatcher's; this object decides when they may start and ends them
// all when the connection ends. Owns its TcpConnection and its
// CallDispatcher; owned by its ServerLoop, which destroys it (deferred)
// after OnClosed. Loop thread only.
//
// Invariant: the dispatcher has no call in flight whenever the
// TcpConnection is not kConnected. Every path that ends a connection
// cancels its calls first.
class ServerConnection final : private net::TcpConnection::Handler {
 public:
  // `stream`: the connection's bytes (the accepted socket, plain or a TLS
  // stream not yet handshaken, or an adopted stream: the protocol above is
  // the same); its fd is not yet registered with the loop.
  ServerConnection(ServerLoop* owner, std::uint64_t id,
                   std::unique_ptr<net::ByteStream> stream,
                   const net::SocketAddress& peer);
  ~ServerConnection();

  ServerConnection(const ServerConnection&) = delete;
  ServerConnection& operator=(const ServerConnection&) = delete;

  // Registers with the loop and arms the idle timer.
  absl::Status Start();

  std::uint64_t id() const { return id_; }

  // Too many connections: preface, GOAWAY RESOURCE_EXHAUSTED, close.
  void Reject(const absl::Status& reason);
  // §5.3, two phases. First the notice: GOAWAY UNAVAILABLE with
  // last_call_id 0xFFFFFFFF and a DRAINING PING; REQUESTs are still run.
  // Then, on that PING's ACK or kDrainNoticeTimeout later, the second
  // GOAWAY with the highest call id read: later REQUESTs get UNAVAILABLE
  // and the connection closes once no call is in flight. A connection
  // whose client already sent GOAWAY gets the second GOAWAY at once.
  void BeginDrain();
  // §5.3 at the drain deadline: the second GOAWAY if it is still due, then
  // answer what is in flight with UNAVAILABLE and close; or, already
  // closing, close now.
  void FinishDrain();
  // Closes at once (server teardown).
  void CloseNow();
  // Closes at once, writing nothing, for `reason` (a TLS handshake or
  // preface that took too long or was crowded out).
  void Abort(const absl::Status& reason);

  // ---- The server-wide memory budget (ServerLoop's shedding). ----
  // Storage its buffers hold (net::TcpConnection::buffered_bytes).
  std::size_t buffered_bytes() const { return connection_.buffered_bytes(); }
  std::size_t peak_buffered_bytes() const {
    return connection_.peak_buffered_bytes();
  }
  // OnClosed has not run yet (open, or closing: flushing its last frames).
  bool closed() const {
    return connection_.state() == net::TcpConnection::State::kClosed;
  }
  // Chosen as the largest while the budget is over: GOAWAY
  // RESOURCE_EXHAUSTED "server memory limit" (unless it is closing, and so
  // has had its GOAWAY), written if the socket takes it at once after the
  // frames before it, and closed at once: its buffers are freed now.
  void ShedForMemory();
  // The budget is back under its low-water mark: read again.
  void ResumeReading() { connection_.ResumeReading(); }

  // How far this connection is from being useful, for choosing whom to
  // close at the connection limit (ServerLoop::EvictForNewcomer). Kinds are
  // in eviction order; within one, the earliest `since` goes first.
  struct Standing {
    enum Kind {
      // Closing already: evicting it only drops what the peer has not read.
      kClosing,
      // The input ends inside a frame (§4.3 frame deadline); `since` is
      // that deadline, which evicting brings forward.
      kInFrame,
      // No call in flight, at a frame boundary; `since` is the last input
      // or call completion.
      kIdle,
      // Calls in flight: never evicted.
      kBusy,
    };
    Kind kind = kBusy;
    net::EventLoop::Clock::time_point since;
  };
  Standing standing() const;
  // Closes to make room for a newer connection, with `why`: at once if
  // closing already; GOAWAY RESOURCE_EXHAUSTED (no call will be answered)
  // if inside a frame or with calls in flight; GOAWAY UNAVAILABLE (safe to
  // retry; nothing was in flight) if idle.
  void Evict(absl::string_view why);

  // The implementation finished `call` with `status` (see
  // CallDispatcher::FinishCall). Sends the response unless the call was
  // cancelled, timed out or its connection closed.
  void FinishCall(std::unique_ptr<ServerCall> call, absl::Status status,
                  bool completed_inline);

 private:
  friend class CallDispatcher;

  enum class State {
    // Nothing written yet; the client's preface has not arrived.
    kAwaitingPreface,
    // Serving calls.
    kOpen,
    // A drain's first GOAWAY (last_call_id 0xFFFFFFFF) and DRAINING PING
    // sent: REQUESTs are still run until the PING's ACK or the notice
    // timer (EndDrainNotice).
    kDrainNotice,
    // GOAWAY sent (drain) or received, or the client's FIN read (§5.4): new
    // REQUESTs get UNAVAILABLE, and the connection closes once no call is
    // in flight.
    kDraining,
    // OnClosed has run.
    kClosed,
  };

  // TcpConnection::Handler.
  void OnInput(net::Buffer* input) override;
  void OnPeerEof() override;
  void OnClosed(const absl::Status& reason) override;

  void OnPreface(std::uint8_t major, std::uint8_t minor);
  void OnFrame(const FrameHeader& header, absl::string_view payload);
  void OnPing(const FrameHeader& header, absl::string_view payload);
  void OnGoaway(absl::string_view payload);
  // The client's FIN at a frame boundary after its preface (§5.4).
  void OnHalfClose();
  void OnIdleTimer();
  // For the CallDispatcher: a call left on its own (its deadline).
  void OnCallEnded();

  // Why new REQUESTs are refused now (draining), or OK.
  absl::Status Refusal() const;
  // GOAWAY with the highest call id read, or `last_call_id`; never above
  // an earlier GOAWAY's (§5.3).
  void SendGoaway(absl::StatusCode code, absl::string_view message);
  void SendGoaway(absl::StatusCode code, absl::string_view message,
                  std::uint32_t last_call_id);
  void EnsurePrefaceSent();
  // §5.6: the one SETTINGS frame, right after our preface.
  void SendSettings();
  // kDrainNotice -> kDraining: the drain's second GOAWAY (§5.3 step 2).
  void EndDrainNotice();
  // §6.3: GOAWAY with `error`, then close.
  void FailConnection(const absl::Status& error);
  void CloseIfDrained();
  void ArmIdleTimer(net::EventLoop::Clock::time_point when);
  // §4.3 frame deadline, after a read: notes whether the input ends inside
  // a frame, when that frame began and its deadline, and makes sure the
  // frame timer is due by then. At a frame boundary it only clears
  // in_frame_: an armed timer lapses when it finds no frame.
  void WatchFrameInProgress(const net::Buffer& input);
  void ArmFrameTimer(net::EventLoop::Clock::time_point when);
  void OnFrameTimer();

  ServerLoop* const owner_;
  net::EventLoop* const loop_;
  const ServerConfig& config_;
  const std::uint64_t id_;
  net::TcpConnection connection_;
  FrameDecoder decoder_;
  // Declared after connection_, which it writes to: destroyed first.
  CallDispatcher dispatcher_;

  State state_ = State::kAwaitingPreface;
  bool preface_sent_ = false;
  bool goaway_sent_ = false;
  // The input read so far ends at a frame boundary, after the preface: a
  // FIN now is a half-close, not a truncation (§5.4, §6.3).
  bool at_frame_boundary_ = false;
  // The last_call_id of the last GOAWAY sent: no later one may exceed it.
  std::uint32_t goaway_last_call_id_ = UINT32_MAX;
  // Last input or call completion: what the idle timeout counts from.
  net::EventLoop::Clock::time_point last_activity_;
  net::EventLoop::TimerId idle_timer_;
  // While kDrainNotice: runs EndDrainNotice at kDrainNoticeTimeout.
  net::EventLoop::TimerId drain_notice_timer_;

  // The frame the input ended inside after the last read, if in_frame_:
  // its decoder index, and when it must be complete (from the read that
  // brought its first byte; later bytes do not move it). One timer, due at
  // or before that deadline, re-armed lazily: frames that arrive whole
  // never touch it.
  bool in_frame_ = false;
  std::uint64_t frame_index_ = 0;
  net::EventLoop::Clock::time_point frame_started_;
  net::EventLoop::Clock::time_point frame_deadline_;
  net::EventLoop::TimerId frame_timer_;
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_SERVER_SERVER_CONNECTION_H_
