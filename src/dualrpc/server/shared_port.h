#ifndef DUALRPC_SERVER_SHARED_PORT_H_
#define DUALRPC_SERVER_SHARED_PORT_H_

// One port for both protocols (`dualrpc-server --listen`), brpc's way: look
// at what a connection sends first and give it to the server of that
// protocol. The port knows the two magics, not the protocols.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/acceptor.h"
#include "dualrpc/net/byte_stream.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/net/socket_address.h"
#include "dualrpc/net/stream_relay.h"
#include "dualrpc/net/tls.h"
#include "dualrpc/rpc/transport_stats.h"

namespace dualrpc::server {

// The HTTP/2 client preface (RFC 9113 §3.4), which every gRPC client sends
// first; the raw protocol's is raw::kPrefaceMagic ("DRPC", PROTOCOL.md §2).
inline constexpr absl::string_view kHttp2ClientPreface =
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// What the first bytes of a connection say.
enum class SniffResult {
  // A proper prefix of one of the magics: wait for more.
  kUndecided,
  // Starts with the raw magic "DRPC".
  kRaw,
  // Starts with the whole HTTP/2 client preface.
  kHttp2,
  // A prefix of neither: close.
  kNeither,
};

// Classifies `first_bytes`, the start of a connection (at most the 24 bytes
// of the HTTP/2 preface matter). A magic is recognised only whole, so a
// connection that sends one byte and waits is kUndecided until the detect
// timeout closes it; bytes that stop matching both magics are kNeither at
// once.
SniffResult SniffProtocol(absl::string_view first_bytes);

// A listening socket served by one event-loop thread that detects each
// connection's protocol and hands it over, plaintext or TLS.
//
// Plaintext: the first bytes are peeked (MSG_PEEK, edge-triggered), never
// consumed, so the socket is handed over intact: "DRPC" to the raw handler
// as a PlainTcpStream, the HTTP/2 preface to the gRPC handler as the bare
// fd.
//
// TLS (Options::tls set): the handshake runs on this loop
// (TlsStream::ContinueHandshake). ALPN "dualrpc/1" goes to the raw handler
// as the TlsStream itself. ALPN "h2" is terminated here, because grpc 1.51
// adopts only insecure fds: the gRPC handler gets one end of a unix
// socketpair and a StreamRelay on this loop copies between the TlsStream and
// the other end for the connection's life. No ALPN: the first decrypted
// bytes are sniffed as for plaintext (read, since a TLS stream cannot be
// peeked, and replayed to whoever gets the stream).
//
// Until it is handed over, a connection is "detecting": at most
// max_detecting at once (more are closed as soon as they are accepted, so a
// flood of silent connections cannot exhaust fds or slow the detection of
// others), each closed when detect_timeout has passed since its accept
// (handshake included) or as soon as its bytes are a prefix of neither
// magic, the peer closes, or its handshake fails.
//
// Threading: handlers run on the port's loop thread and must not block;
// the other methods are thread-safe but must not be called from it.
// Destroying the port closes every connection it still holds (detecting or
// relayed); what was handed over belongs to its new owner.
class SharedPort {
 public:
  struct Handlers {
    // A raw-protocol connection, nothing of it consumed by the port (a
    // plain socket, or a TLS stream after its handshake). Owns `stream`.
    absl::AnyInvocable<void(std::unique_ptr<net::ByteStream> stream,
                            const net::SocketAddress& peer)>
        raw;
    // A connected socket carrying plaintext HTTP/2, its preface unread: the
    // accepted socket itself, or the gRPC end of a TLS relay. Owns it.
    // `peer_certificate_subject`: the TLS client certificate's subject
    // behind a relay (empty: none, or plaintext).
    absl::AnyInvocable<void(base::ScopedFd socket,
                            std::string peer_certificate_subject)>
        grpc;
  };

  struct Options {
    // HOST:PORT; port 0 picks a free port (see address()).
    std::string listen_address;
    // From accept until the protocol is known (with TLS: the handshake and,
    // without ALPN, the first bytes), at most this long.
    absl::Duration detect_timeout = absl::Seconds(5);
    // Connections detecting at once; beyond it new ones are closed at once.
    int max_detecting = 1024;
    // listen(2) backlog.
    int listen_backlog = 1024;
    // Set: the port speaks TLS only (a plaintext client gets its
    // connection closed when its handshake fails). Its ALPN ids should be
    // {"h2", "dualrpc/1"}.
    std::shared_ptr<net::TlsServerContext> tls;
    // The relays of TLS gRPC connections.
    net::StreamRelay::Options relay;
  };

  // Binds, listens and starts the loop thread. INVALID_ARGUMENT for bad
  // options or a handler missing; UNAVAILABLE if the address cannot be
  // bound.
  static absl::StatusOr<std::unique_ptr<SharedPort>> Start(Options options,
                                                           Handlers handlers);

  // StopAccepting(), closes the relays, joins the loop thread.
  ~SharedPort();

  SharedPort(const SharedPort&) = delete;
  SharedPort& operator=(const SharedPort&) = delete;

  // The bound HOST:PORT, with the real port when 0 was asked for.
  const std::string& address() const { return address_; }

  // Connection-level figures of the port (transport "listen"), for
  // metrics. Thread-safe, any thread (the loop thread too), any time until
  // destruction; a few relaxed loads.
  //   connections_open: connections detecting now (relays and what was
  //     handed over are counted by the transport that took them).
  //   connections_accepted_total: every accepted connection, refused ones
  //     included.
  //   refused_total, every reason, zeros included: "max_detecting" (closed
  //     at accept over max_detecting), "detect_timeout" (detect_timeout
  //     passed, handshake included), "unknown_protocol" (bytes of neither
  //     magic, or an ALPN id the port does not route), "draining" (closed
  //     by StopAccepting while detecting). A peer that closes, or a failed
  //     handshake, is not a refusal.
  //   tls_handshakes_total / tls_handshake_failures_total (Options::tls):
  //     handshakes completed here, and those that ended otherwise (failed,
  //     timed out, peer gone, port stopped).
  //   handed_over_total: {"raw", n}, {"grpc", n}: connections given to each
  //     handler (TLS ones through a relay included).
  rpc::TransportStats GetStats() const;

  // Stops listening (new connection attempts are refused) and closes every
  // connection still detecting. Once it returns no handler runs again, so
  // the servers behind may shut down. Relays keep running until their ends
  // close (gRPC's shutdown closes its ends) or the port is destroyed.
  // Idempotent.
  void StopAccepting();

 private:
  class Detecting;

  SharedPort(Options options, Handlers handlers, base::ScopedFd listener,
             std::string address, std::unique_ptr<net::EventLoop> loop);

  // Loop thread only, from here on.
  void OnAccepted(base::ScopedFd socket, const net::SocketAddress& peer);
  // Ends `detecting`'s time here; its object is destroyed at the end of the
  // iteration (it may be on the stack).
  std::unique_ptr<Detecting> Remove(Detecting* detecting);
  // False if it had left already (its object waits for destruction).
  bool Close(Detecting* detecting);
  // Close, counted as a refusal (one of the counters of stats_) if it was
  // still detecting.
  void Refuse(Detecting* detecting, std::atomic<std::int64_t>* reason);
  void HandOffRaw(Detecting* detecting,
                  std::unique_ptr<net::ByteStream> stream);
  void HandOffGrpc(Detecting* detecting, base::ScopedFd socket);
  void StartRelay(Detecting* detecting,
                  std::unique_ptr<net::ByteStream> tls_stream);
  void StopAcceptingOnLoop();

  const Options options_;
  Handlers handlers_;
  // Declared before the loop and the acceptor, which use it.
  const base::ScopedFd listener_;
  const std::string address_;
  const std::unique_ptr<net::EventLoop> loop_;
  net::Acceptor acceptor_;
  const net::EventLoop::Clock::duration detect_timeout_;

  // Loop-thread state.
  bool accepting_ = true;
  std::uint64_t next_id_ = 1;
  absl::flat_hash_map<Detecting*, std::unique_ptr<Detecting>> detecting_;
  absl::flat_hash_map<std::uint64_t, std::unique_ptr<net::StreamRelay>>
      relays_;

  // GetStats' figures: written on the loop thread where the event
  // happens, read by any thread (relaxed).
  struct Counters {
    std::atomic<std::int64_t> detecting{0};
    std::atomic<std::int64_t> accepted{0};
    std::atomic<std::int64_t> refused_max_detecting{0};
    std::atomic<std::int64_t> refused_detect_timeout{0};
    std::atomic<std::int64_t> refused_unknown_protocol{0};
    std::atomic<std::int64_t> refused_draining{0};
    std::atomic<std::int64_t> tls_handshakes{0};
    std::atomic<std::int64_t> tls_handshake_failures{0};
    std::atomic<std::int64_t> handed_raw{0};
    std::atomic<std::int64_t> handed_grpc{0};
  };
  Counters stats_;

  std::thread thread_;
};

}  // namespace dualrpc::server

#endif  // DUALRPC_SERVER_SHARED_PORT_H_
