#ifndef DUALRPC_RAW_SERVER_SERVER_CONNECTION_H_
#define DUALRPC_RAW_SERVER_SERVER_CONNECTION_H_

#include <cstdint>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/raw/wire/frame_decoder.h"
#include "dualrpc/raw/server/server_call.h"
#include "dualrpc/raw/server/server_config.h"
#include "dualrpc/net/socket_ops.h"
#include "dualrpc/net/tcp_connection.h"

namespace dualrpc::raw {

class ServerLoop;

// The server side of one framed-protocol connection (docs/PROTOCOL.md):
// decodes what the client sends, starts calls, writes their responses, and
// implements PING, CANCEL, deadlines, GOAWAY, drain and idle close. Owns its
// TcpConnection; owned by its ServerLoop, which destroys it (deferred) after
// OnClosed. Loop thread only.
//
// Invariant: calls_ is empty whenever the TcpConnection is not kConnected.
// Every path that ends a connection cancels its calls first, and every call
// leaves calls_ through TakeCall or FinishCall, which also cancel its
// deadline timer. A call that completes inside its invoke (Echo) never
// enters calls_.
class ServerConnection : private net::TcpConnection::Handler {
 public:
  ServerConnection(ServerLoop* owner, std::uint64_t id, base::ScopedFd socket,
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

  // The implementation finished `call` with `status`. Sends the response
  // unless the call was cancelled, timed out or its connection closed.
  void FinishCall(std::unique_ptr<ServerCall> call, absl::Status status);

 private:
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

  struct InFlightCall {
    // Borrowed: owned by the call's UnaryDone (or a completion queued to
    // this loop); see ServerCall.
    ServerCall* call;
    net::EventLoop::TimerId deadline_timer;
    // The request message's size on the wire (MessagePool's measure).
    std::size_t request_bytes;
  };

  // TcpConnection::Handler.
  void OnInput(net::Buffer* input) override;
  void OnPeerEof() override;
  void OnClosed(const absl::Status& reason) override;

  void OnPreface(std::uint8_t major, std::uint8_t minor);
  void OnFrame(const FrameHeader& header, absl::string_view payload);
  void OnRequest(const FrameHeader& header, absl::string_view payload);
  void OnOversizedRequest(const FrameHeader& header);
  void OnCancel(std::uint32_t call_id);
  void OnPing(const FrameHeader& header, absl::string_view payload);
  void OnGoaway(absl::string_view payload);
  void OnDeadline(std::uint32_t call_id);
  void OnIdleTimer();

  // §3.3: false (and the connection failed) if `call_id` does not increase.
  bool AcceptCallId(std::uint32_t call_id);
  // Why a new REQUEST with `flags` cannot start now, or OK.
  absl::Status CheckAdmission(std::uint8_t flags) const;
  // Parses the payload, finds the method and runs it.
  absl::Status StartCall(std::uint32_t call_id, absl::string_view payload);
  // The generated parser's reading of a header that ReadPlainRequestHeader
  // declined (or whose method it could not find): also every error.
  absl::Status ReadFullRequestHeader(absl::string_view bytes,
                                     const rpc::UnaryMethod** method,
                                     std::uint64_t* timeout_micros,
                                     rpc::Metadata* metadata);
  // The registry's method, remembering the last one found (consecutive
  // calls are mostly to the same method).
  const rpc::UnaryMethod* FindMethod(absl::string_view path);

  // True if the response message was serialized (sent).
  bool SendResponse(ServerCall* call, absl::Status status);
  void SendError(std::uint32_t call_id, const absl::Status& status,
                 const rpc::Metadata& metadata = {});
  void SendGoaway(absl::StatusCode code, absl::string_view message);
  void EnsurePrefaceSent();
  // §6.3: GOAWAY with `error`, then close.
  void FailConnection(const absl::Status& error);
  void CloseIfDrained();

  // Removes a call from calls_, cancelling its timer. nullptr if unknown.
  ServerCall* TakeCall(std::uint32_t call_id);
  void CancelAllCalls();
  void ArmIdleTimer(net::EventLoop::Clock::time_point when);

  ServerLoop* const owner_;
  net::EventLoop* const loop_;
  const ServerConfig& config_;
  const std::uint64_t id_;
  const net::SocketAddress peer_;
  net::TcpConnection connection_;
  FrameDecoder decoder_;

  State state_ = State::kAwaitingPreface;
  bool preface_sent_ = false;
  bool goaway_sent_ = false;
  // Highest call id read so far (GOAWAY's last_call_id).
  std::uint32_t last_call_id_ = 0;
  // Calls that did not complete inside their invoke.
  absl::flat_hash_map<std::uint32_t, InFlightCall> calls_;
  // The call StartCall is invoking until it completes (or invoke returns),
  // and its request size.
  ServerCall* starting_ = nullptr;
  std::size_t starting_request_bytes_ = 0;
  const rpc::UnaryMethod* last_method_ = nullptr;
  // Last input or call completion: what the idle timeout counts from.
  net::EventLoop::Clock::time_point last_activity_;
  net::EventLoop::TimerId idle_timer_;
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_SERVER_SERVER_CONNECTION_H_
