#ifndef DUALRPC_RAW_CLIENT_CLIENT_CONNECTION_H_
#define DUALRPC_RAW_CLIENT_CLIENT_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/net/connector.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/net/socket_ops.h"
#include "dualrpc/net/tcp_connection.h"
#include "dualrpc/net/tls.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/raw/wire/frame_decoder.h"
#include "dualrpc/rpc/call.h"
#include "google/protobuf/message_lite.h"

namespace dualrpc::raw {

class RawClientStream;

// A call that failed before its REQUEST reached a server (the connect
// failed, or a GOAWAY's last_call_id shows the server did not take it)
// carries this status payload, so that a balancer may send it elsewhere
// (balanced_channel.h). Internal to the raw client: BalancedChannel strips
// it before a caller sees the status.
inline constexpr absl::string_view kNotSentPayloadUrl =
    "type.dualrpc.dev/dualrpc.raw.NotSent";
absl::Status MarkNotSent(absl::Status status);
bool IsNotSent(const absl::Status& status);

// What a channel's connections report of their server, for a balancer to
// eject and readmit it (balanced_channel.h). Called on the channel's I/O
// thread, never inside Send(); must outlive the channel, and must not
// destroy the channel from these callbacks.
class ConnectionObserver {
 public:
  virtual ~ConnectionObserver() = default;
  // The server's preface was read: this connection is up.
  virtual void OnConnectionReady() = 0;
  // A connect failed; a connection closed or failed with calls on it; or
  // its health check went unanswered (the connection is then closed).
  virtual void OnConnectionFailed(const absl::Status& why) = 0;
  // The server sent GOAWAY with a status other than OK (a drain, a
  // refusal; OK only closes an idle connection): it takes no new calls on
  // this connection.
  virtual void OnGoaway(const absl::Status& why) = 0;
};

// Where a call's response goes, and when it expires.
struct CallTarget {
  google::protobuf::MessageLite* response = nullptr;
  rpc::Metadata* response_metadata = nullptr;
  absl::Time deadline = absl::InfiniteFuture();
};

// A call encoded off the loop and posted to it. Its done runs exactly once:
// whoever takes `done` leaves nullptr behind, and an OutgoingCall destroyed
// with its done still set (a post refused by a stopped loop, a queued task
// destroyed with the mailbox) completes it with CANCELLED.
struct OutgoingCall {
  OutgoingCall() = default;
  ~OutgoingCall();
  OutgoingCall(const OutgoingCall&) = delete;
  OutgoingCall& operator=(const OutgoingCall&) = delete;

  // A complete REQUEST frame; its call id is filled in on the loop.
  net::Buffer frame;
  CallTarget target;
  rpc::UnaryDone done;
};

// The server a RawChannel's connections connect to, resolved once for all
// of them. Loop thread only; outlives the connections.
class ServerAddress {
 public:
  explicit ServerAddress(std::string host_port)
      : host_port_(std::move(host_port)) {}

  const std::string& host_port() const { return host_port_; }

  // The addresses of host_port(), resolved by the first call that succeeds
  // and kept (a later DNS change is not seen). A numeric address never
  // blocks; a host name blocks the loop thread in getaddrinfo during that
  // one call, at a connection's first connect, never per call.
  // TODO(perf): resolve host names off the loop.
  absl::StatusOr<std::vector<net::SocketAddress>> Addresses();

 private:
  const std::string host_port_;
  std::vector<net::SocketAddress> resolved_;
};

// One TCP connection of a RawChannel and the calls waiting on it: the
// client side of docs/PROTOCOL.md on one socket, reconnecting on demand.
// Unary calls are tracked here; streaming calls are RawClientStreams that
// attach to the connection and are dispatched their frames by call id.
//
// Loop thread only; owned by the channel's loop state and destroyed on the
// loop, never inside one of its own callbacks. `completing` (shared by the
// channel's connections) names the connection whose response's done is
// running, so that a call started from that done can follow it.
//
// Connecting never blocks the loop: the first call (or the first after the
// connection was lost) starts a net::Connector; calls sent meanwhile are
// assigned their ids and staged behind the preface, each bounded by its own
// deadline, and leave when the socket connects, or fail with UNAVAILABLE
// when the connect fails. Dones run inside Abort(), inside SendNow() (a call
// that cannot be encoded) and from loop callbacks; never inside Send(). A
// done may start calls and may destroy the RawChannel (which Abort()s this
// connection): every method checks its state again after running a done.
class ClientConnection final : private net::TcpConnection::Handler {
 public:
  struct Options {
    // What this client sends and accepts (docs/PROTOCOL.md §4.3).
    FrameLimits limits;
    // Longest wait for a TCP connect; InfiniteDuration() sets no timer.
    absl::Duration connect_timeout = absl::Seconds(5);
    // Null: plaintext; else each connected socket is wrapped with
    // tls->WrapClient(socket, tls_host).
    std::shared_ptr<net::TlsClientContext> tls;
    std::string tls_host;
    // Health check (docs/PROTOCOL.md §5.2): a PING is sent once nothing
    // has been read for this long, and the connection is closed (reported
    // to `observer`) when no PONG comes within health_check_timeout.
    // InfiniteDuration(): no PINGs.
    absl::Duration health_check_interval = absl::InfiniteDuration();
    absl::Duration health_check_timeout = absl::Seconds(2);
    // Not owned; may be null.
    ConnectionObserver* observer = nullptr;
  };

  ClientConnection(net::EventLoop* loop, ServerAddress* server,
                   const Options& options, ClientConnection** completing);
  // Fails the calls still waiting with CANCELLED.
  ~ClientConnection();

  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // False once the server sent GOAWAY: new calls belong on a new connection.
  bool accepting() const { return !going_away_; }
  // Open and taking calls: SendNow() may be used.
  bool connected() const {
    return tcp_ != nullptr && !going_away_ &&
           tcp_->state() == net::TcpConnection::State::kConnected;
  }
  // Connected and the server's preface read: the server is answering.
  bool ready() const {
    return connected() && stream_support_ != StreamSupport::kUnknown;
  }
  // Nothing waits on it and it will take no new calls.
  bool retired() const { return going_away_ && Idle(); }

  // A call encoded off the loop (posted). Connects first if there is no
  // socket; the call waits for the connect.
  void Send(OutgoingCall* call);

  // Only while connected(): a call started on the loop, encoded straight
  // into the output buffer, no intermediate frame.
  void SendNow(absl::string_view method, std::uint64_t timeout_micros,
               const rpc::Metadata& metadata,
               const google::protobuf::MessageLite& request,
               const CallTarget& target, rpc::UnaryDone done);

  // Starts connecting if there is no socket and no connect under way, so
  // that the observer hears OnConnectionReady or OnConnectionFailed.
  void Connect() {
    if (tcp_ == nullptr && !connector_.connecting()) StartConnect();
  }

  // Stops connecting or closes the socket now; every waiting call fails
  // with `reason`.
  void Abort(const absl::Status& reason);

  // ---- Streaming calls (RawClientStream), docs/PROTOCOL.md §7 ----
  // Takes `stream` (connecting first if there is no socket). Once the
  // server's preface has been read, and at once if it already was, the
  // stream hears whether it may open (OnTransportReady): OK from a 1.1
  // server, UNIMPLEMENTED from a 1.0 one (the connection stays for unary
  // calls). The stream stays attached until it detaches or the connection
  // fails it (OnConnectionFailed). `stream` must detach before it is freed.
  void AttachStream(RawClientStream* stream);
  // Only after OnTransportReady(OK): assigns the call id the stream's
  // REQUEST goes out with now, in stream_output().
  std::uint32_t OpenStream(RawClientStream* stream);
  // Forgets `stream` (`call_id` 0 if it never opened), sending CANCEL for
  // it when `send_cancel`.
  void DetachStream(RawClientStream* stream, std::uint32_t call_id,
                    bool send_cancel);
  // Where an open stream appends its frames, and how they leave (batched).
  net::Buffer* stream_output() { return tcp_->output(); }
  void FlushSoon() { tcp_->ScheduleFlush(); }

 private:
  // What the server's preface said of streaming (§7.1).
  enum class StreamSupport { kUnknown, kYes, kNo };
  struct Pending {
    google::protobuf::MessageLite* response = nullptr;
    rpc::Metadata* response_metadata = nullptr;
    rpc::UnaryDone done;
    net::EventLoop::TimerId timer;
  };

  // Where frames go: the socket's output, or the staging buffer while the
  // connect is in progress.
  net::Buffer* output() { return tcp_ != nullptr ? tcp_->output() : &staged_; }
  void ScheduleFlush() {
    if (tcp_ != nullptr) tcp_->ScheduleFlush();
  }

  // Waits for the response to `call_id`, whose frame is in output().
  void Track(std::uint32_t call_id, const CallTarget& target,
             rpc::UnaryDone done);
  void StartConnect();
  void OnConnected(absl::StatusOr<base::ScopedFd> fd);

  // TcpConnection::Handler
  void OnInput(net::Buffer* input) override;
  void OnPeerEof() override;
  void OnClosed(const absl::Status& reason) override;

  void HandleFrame(const FrameHeader& header, absl::string_view payload);
  void HandleResponse(std::uint32_t call_id, absl::string_view payload);
  absl::Status DecodeResponse(absl::string_view payload,
                              google::protobuf::MessageLite* response,
                              rpc::Metadata* response_metadata) const;
  void HandleGoaway(absl::string_view payload);
  void HandlePreface(std::uint8_t minor);
  // §5.6: the server's one SETTINGS, which must be its first frame.
  void HandleSettings(bool first_frame, absl::string_view payload);
  // RESOURCE_EXHAUSTED if a request message of `message_bytes` is over the
  // limit the server announced (SETTINGS); OK before SETTINGS arrives, when
  // only options_.limits applies.
  absl::Status CheckServerMessageLimit(std::size_t message_bytes) const;
  void HandleMessage(const FrameHeader& header, absl::string_view payload);
  void HandleWindowUpdate(std::uint32_t call_id, absl::string_view payload);
  // A MESSAGE over the message limit, being skipped.
  void HandleOversizedMessage(std::uint32_t call_id);
  // The health check's two timers: idle (send a PING) and PONG timeout.
  void ScheduleHealthCheck();
  void OnHealthCheckTimer();
  void HandlePong();
  // Fails the unary call `call_id` with `status` and sends CANCEL.
  void FailUnaryAndCancel(std::uint32_t call_id, absl::Status status);
  void SendCancel(std::uint32_t call_id);
  // No call, unary or streaming, waits on this connection.
  bool Idle() const {
    return pending_.empty() && streams_.empty() && unopened_.empty();
  }
  // After a call left a connection that got GOAWAY: closes it when idle.
  void CloseIfDrained();
  void OnDeadline(std::uint32_t call_id);
  // Ends one waiting call with `status` (never OK: no response to fill).
  void Complete(std::uint32_t call_id, absl::Status status);
  void FailAll(const absl::Status& status);
  // Closes the socket, if there is one still open.
  void CloseSocket(const absl::Status& reason);

  net::EventLoop* const loop_;
  ServerAddress* const server_;
  const Options options_;
  ClientConnection** const completing_;
  net::Connector connector_;
  // The preface and the frames of calls sent while connecting.
  net::Buffer staged_;
  std::unique_ptr<net::TcpConnection> tcp_;
  std::unique_ptr<FrameDecoder> decoder_;
  absl::flat_hash_map<std::uint32_t, Pending> pending_;
  // Open streams by call id.
  absl::flat_hash_map<std::uint32_t, RawClientStream*> streams_;
  // Streams attached without a call id yet: waiting for the server's
  // preface, or (server streaming) for their one write.
  std::vector<RawClientStream*> unopened_;
  // Of the current socket; kUnknown until its server preface is read.
  StreamSupport stream_support_ = StreamSupport::kUnknown;
  // Of the current socket: its server is 1.2 and no frame has followed its
  // preface yet, so SETTINGS may come.
  bool settings_may_come_ = false;
  // Of the current socket: the server's SETTINGS max_message_bytes, 0 until
  // announced.
  std::uint32_t server_max_message_bytes_ = 0;
  // Strictly increasing per connection (§3.3), across reconnects too.
  std::uint32_t next_call_id_ = 1;
  bool going_away_ = false;
  // Health check state (Options::health_check_interval): input read since
  // the idle timer was set; a PING waiting for its PONG; the one timer.
  bool input_seen_ = false;
  bool ping_outstanding_ = false;
  net::EventLoop::TimerId health_timer_;
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_CLIENT_CLIENT_CONNECTION_H_
