#ifndef DUALRPC_RAW_SERVER_SERVER_CONNECTION_H_
#define DUALRPC_RAW_SERVER_SERVER_CONNECTION_H_

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
  // §5.3 steps 2–5: GOAWAY UNAVAILABLE, refuse new calls, close once no call
  // is in flight.
  void BeginDrain();
  // §5.3 at the drain deadline: answer what is in flight with UNAVAILABLE and
  // close; or, already closing, close now.
  void FinishDrain();
  // Closes at once (server teardown).
  void CloseNow();
  // Closes at once, writing nothing, for `reason` (a TLS handshake that took
  // too long or was crowded out).
  void Abort(const absl::Status& reason);

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
    // GOAWAY sent (drain) or received: new REQUESTs get UNAVAILABLE, and
    // the connection closes once no call is in flight.
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
  void OnIdleTimer();
  // For the CallDispatcher: a call left on its own (its deadline).
  void OnCallEnded();

  // Why new REQUESTs are refused now (draining), or OK.
  absl::Status Refusal() const;
  void SendGoaway(absl::StatusCode code, absl::string_view message);
  void EnsurePrefaceSent();
  // §6.3: GOAWAY with `error`, then close.
  void FailConnection(const absl::Status& error);
  void CloseIfDrained();
  void ArmIdleTimer(net::EventLoop::Clock::time_point when);

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
  // Last input or call completion: what the idle timeout counts from.
  net::EventLoop::Clock::time_point last_activity_;
  net::EventLoop::TimerId idle_timer_;
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_SERVER_SERVER_CONNECTION_H_
