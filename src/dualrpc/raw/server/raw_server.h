#ifndef DUALRPC_RAW_SERVER_RAW_SERVER_H_
#define DUALRPC_RAW_SERVER_RAW_SERVER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/byte_stream.h"
#include "dualrpc/net/socket_address.h"
#include "dualrpc/net/socket_ops.h"
#include "dualrpc/net/tls.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/rpc/transport_stats.h"

namespace dualrpc::raw {

class ServerLoop;
struct ServerConfig;
struct ServerSharedState;

// Serves the methods of a ServiceRegistry, unary and streaming (§7, with
// per-call flow control; see ServerStreamCall), over the dualrpc raw
// protocol (docs/PROTOCOL.md) on plain TCP or on a unix stream socket (the
// protocol runs unchanged over either). Its preface names version 1.1; a
// 1.0 client gets streaming methods in the unary form (§7.1).
//
// Threading: `event_loop_threads` loops, each an epoll reactor on its own
// thread, all accepting from one listening socket (EPOLLEXCLUSIVE).
// Connections are dealt to the loops round-robin, whichever loop accepted
// them. A connection lives on the loop it was dealt to, and everything about
// it (decoding, dispatch, responses, timers) happens on that thread without
// locks. Methods are invoked on the loop thread; a method that blocks must
// move its work to an executor and run `done` from there: the result is then
// posted back to the connection's loop. Responses produced in one loop
// iteration leave in one send per connection.
class RawServer {
 public:
  struct Options {
    // HOST:PORT to listen on; port 0 picks a free port (see address()). Or a
    // unix socket, "unix:///abs/path" or "unix:relative/path": a stale socket
    // file at the path is replaced, any other file there is refused
    // (FAILED_PRECONDITION); the server unlinks its socket file when it is
    // destroyed, unless another file has replaced it since. Empty: no
    // listener of its own; connections come only through Adopt (a shared
    // port).
    std::string listen_address = "127.0.0.1:0";
    // Event-loop threads; values below 1 mean 1.
    int event_loop_threads =
        static_cast<int>(std::thread::hardware_concurrency());
    // Open connections past their preface (§4.3). A connection whose
    // preface arrives at the limit takes the place of one of its loop that
    // has made least progress (closer to its frame deadline, else idle the
    // longest, closing already) or, if every one is busy with calls, gets
    // GOAWAY RESOURCE_EXHAUSTED. Connections before their preface do not
    // count (max_pending_connections bounds them).
    int max_connections = 10000;
    // Calls in flight per connection; one more gets RESOURCE_EXHAUSTED.
    int max_calls_in_flight = 1024;
    // Largest request or response message, 1 B to 1 GiB (gRPC's default).
    std::uint32_t max_message_bytes = 4 * 1024 * 1024;
    // Largest RequestHeader/ResponseHeader, 256 B to 1 MiB.
    std::uint32_t max_header_bytes = 16 * 1024;
    // Unsent output per connection above which it is not read (§4.3). The
    // responses that unary calls in flight may still produce count too: each
    // reserves max_message_bytes until it is answered, and no REQUEST is
    // read while unsent output + reservations are over this, so a
    // connection holds at most this plus one message. The cost: about
    // output_high_water_bytes / max_message_bytes + 1 calls that do not
    // complete inline (ListDirectory) in flight per connection; more wait,
    // unread, in the socket.
    std::size_t output_high_water_bytes = 8 * 1024 * 1024;
    // Server-wide: the storage of every connection's input and output
    // buffers together. Over it no connection is read, and the connections
    // holding the most are closed (GOAWAY RESOURCE_EXHAUSTED "server memory
    // limit") until the total is under 3/4 of it; then reading resumes.
    std::int64_t max_buffered_bytes = std::int64_t{128} * 1024 * 1024;
    // A connection with no call in flight that receives nothing for this
    // long gets GOAWAY OK ("idle") and is closed.
    absl::Duration idle_timeout = absl::Seconds(300);
    // How long a closing connection waits for the peer to read our last
    // frames and close its side, before it is closed anyway.
    absl::Duration close_timeout = absl::Seconds(2);
    // listen(2) backlog.
    int listen_backlog = 1024;

    // TLS below the protocol (PROTOCOL.md, "TLS"): every accepted socket is
    // wrapped with tls->WrapServer and the protocol runs unchanged over it.
    // Null: plaintext. Shared: main keeps it to Reload on SIGHUP.
    std::shared_ptr<net::TlsServerContext> tls;
    // A connection whose preface (after its TLS handshake, if any) is not
    // complete this long after it was accepted or adopted is closed without
    // a word (§4.3). Bytes arriving do not extend it.
    absl::Duration handshake_timeout = absl::Seconds(10);
    // Connections accepted or adopted whose preface has not arrived, at most,
    // divided evenly among the event loops (each loop at least one). A loop
    // at its share that takes one more closes its oldest such connection,
    // without a word.
    int max_pending_connections = 1024;
    // §4.3: a frame whose first byte has arrived must be complete (header
    // and payload) within frame_timeout + payload_length /
    // min_frame_rate_bytes_per_second of that read, or the connection gets
    // GOAWAY RESOURCE_EXHAUSTED ("frame not completed in time") and is
    // closed. Checked only when a read ends inside a frame: frames that
    // arrive whole cost nothing.
    absl::Duration frame_timeout = absl::Seconds(10);
    std::int64_t min_frame_rate_bytes_per_second = 64 * 1024;
    // TLS handshakes in progress per server, divided evenly among the event
    // loops (each loop at least one). A loop at its share that accepts one
    // more closes its oldest connection still handshaking, so a flood of
    // half-finished handshakes costs each new client nothing but its
    // place in line; established connections are never counted.
    int max_tls_handshakes = 256;
  };

  // Binds, listens and starts the loops. `registry` is not owned and must
  // outlive the server (and be fully populated: it is read without locks).
  // INVALID_ARGUMENT for bad options; UNAVAILABLE if the address cannot be
  // bound.
  static absl::StatusOr<std::unique_ptr<RawServer>> Start(
      const Options& options, const rpc::ServiceRegistry* registry);

  // Drain(ZeroDuration()) and Wait(), unless that already happened; then
  // unlinks the unix socket file, if any. Unary calls still running
  // afterwards may complete; their results are dropped. Streaming calls
  // (§7) are cancelled at the drain deadline (OnCancel) and waited for:
  // their implementations must still Finish, and every reactor's OnDone
  // has run when this returns (as grpc++'s Server::Shutdown waits for its
  // callback reactors).
  ~RawServer();

  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;

  // The bound HOST:PORT, with the real port when 0 was asked for (empty
  // without a listener of its own); for a unix
  // socket, "unix:///abs/path" or "unix:relative/path". Peers on a unix
  // socket are "unix:" (ServerCallContext::peer(); a connecting client's
  // socket has no name, and gRPC writes the same).
  const std::string& address() const { return address_; }

  // Serves `stream`, a connection accepted elsewhere (the shared port, after
  // it saw the raw preface; bytes it looked at must still be unread in the
  // stream), as if this server had accepted it: dealt to the next loop in
  // turn, subject to handshake_timeout and max_pending_connections until
  // its preface and then counted against max_connections (§4.3), drained
  // with the rest. `peer` is what
  // ServerCallContext::peer() reports. Thread-safe. UNAVAILABLE, with the
  // stream closed, once Drain has been called.
  absl::Status Adopt(std::unique_ptr<net::ByteStream> stream,
                     const net::SocketAddress& peer);

  // Graceful shutdown (§5.3): stop accepting; GOAWAY UNAVAILABLE to every
  // connection; REQUESTs read afterwards get UNAVAILABLE; each connection
  // closes once it has no call in flight and its output is flushed. When
  // `grace` has passed, calls still in flight are answered UNAVAILABLE and
  // their connections closed (each then gets up to close_timeout to read
  // that). Thread-safe; returns at once. A later call can only bring the
  // deadline forward.
  void Drain(absl::Duration grace);

  // Connection-level figures for metrics (transport "raw"). Thread-safe,
  // any thread, any time until destruction; costs a few relaxed loads.
  //   connections_open: accepted or adopted and not yet closed, summed over
  //     the loops, including connections being refused (until they close).
  //   connections_accepted_total: every connection accepted from the
  //     listener or offered to Adopt, refused ones included.
  //   refused_total: every reason of this transport, zeros included:
  //     "max_connections" (GOAWAY RESOURCE_EXHAUSTED over max_connections),
  //     "draining" (accepted or offered to Adopt once Drain has begun),
  //     "max_handshakes" (closed mid-handshake to admit a newer one),
  //     "handshake_timeout" (handshake_timeout passed before the preface),
  //     "max_pending" (closed before its preface to admit a newer one),
  //     "evicted" (closed to admit a newcomer at max_connections). Idle and
  //     frame timeouts and protocol errors end connections but are not
  //     refusals.
  //   tls_handshakes_total / tls_handshake_failures_total: handshakes of
  //     connections this server accepted with Options::tls; each handshake
  //     counts once, when it is seen complete (the client's preface) or when
  //     its connection ends without completing it (a plaintext or otherwise
  //     failed client, a timeout, crowded out). Adopted streams are past
  //     their handshake: their owner counts it.
  rpc::TransportStats GetStats() const;

  // Blocks until every loop has drained and stopped (for streaming calls:
  // until their OnDone has run). Thread-safe; not from a
  // loop thread (that is, not from inside a method implementation).
  void Wait();

 private:
  // Start after the listener (if any) is bound.
  static absl::StatusOr<std::unique_ptr<RawServer>> StartLoops(
      const Options& options, const ServerConfig& config,
      base::ScopedFd listener, std::string address,
      std::optional<net::UnixSocketFile> socket_file);

  RawServer(base::ScopedFd listener, std::string address,
            std::optional<net::UnixSocketFile> socket_file,
            std::unique_ptr<ServerSharedState> shared);

  // Declared first so that it is destroyed last, after the loops. Invalid
  // without a listener of its own.
  const base::ScopedFd listener_;
  const std::string address_;
  // The socket file of a unix listener, removed by the destructor.
  const std::optional<net::UnixSocketFile> socket_file_;
  const std::unique_ptr<ServerSharedState> shared_;
  std::vector<std::unique_ptr<ServerLoop>> loops_;

  absl::Mutex drain_mu_;
  std::optional<std::chrono::steady_clock::time_point> drain_deadline_
      ABSL_GUARDED_BY(drain_mu_);
  absl::Mutex wait_mu_;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(wait_mu_);
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_SERVER_RAW_SERVER_H_
