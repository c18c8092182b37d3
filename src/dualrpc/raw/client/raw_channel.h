#ifndef DUALRPC_RAW_CLIENT_RAW_CHANNEL_H_
#define DUALRPC_RAW_CLIENT_RAW_CHANNEL_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dualrpc/net/tls.h"
#include "dualrpc/raw/client/client_connection.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/rpc/channel.h"

namespace dualrpc::raw {

struct RawChannelOptions {
  // TCP connections to the server; calls are spread round-robin, and many
  // calls run at once on each (multiplexed by call id).
  int connections = 1;
  // What this client sends and accepts (docs/PROTOCOL.md §4.3).
  FrameLimits limits;
  // Longest wait for one TCP connect (all of the server's resolved
  // addresses); InfiniteDuration() waits as long as the kernel keeps trying.
  // A connect never blocks the I/O thread either way.
  absl::Duration connect_timeout = absl::Seconds(5);
  // TLS below the protocol (raws://, PROTOCOL.md "TLS"): each connected
  // socket is wrapped with tls->WrapClient. Null: plaintext.
  std::shared_ptr<net::TlsClientContext> tls;
  // The host the server's certificate is verified against (unless the
  // context names a server_name or skips verification); empty: the host of
  // `host_port`.
  std::string tls_host;
  // Health check of every connection (ClientConnection::Options): a PING
  // after this long without input, the connection closed when its PONG
  // does not come within health_check_timeout. InfiniteDuration() (the
  // default for one server): none.
  absl::Duration health_check_interval = absl::InfiniteDuration();
  absl::Duration health_check_timeout = absl::Seconds(2);
  // Told of the connections' state (a balancer's backend); not owned, must
  // outlive the channel. Null: nobody.
  ConnectionObserver* observer = nullptr;
};

// The client side of the raw protocol, as a dualrpc::Channel: generated
// clients call a raw server through it exactly as through gRPC.
//
// Threading: one I/O thread (an EventLoop) owns every connection and all
// per-call state; StartUnaryCall serializes the request on the calling
// thread and posts it to the loop, which assigns the call id and batches
// frames (every request posted during one loop iteration leaves in one
// send). Calls started on the I/O thread itself (from a done) go straight
// to an open connection's output buffer, batched the same way: the
// connection whose response is being completed, else the next one
// round-robin. `done` callbacks run on the I/O thread: they must not block
// on another call of this channel.
//
// Connections are opened lazily, without blocking the I/O thread
// (ClientConnection), and reopened after a failure (the calls that were on
// a lost connection fail with UNAVAILABLE; later calls reconnect). A
// connection that is connecting holds its calls (each bounded by its
// deadline) and never delays the calls of the others. The host name is
// resolved once, at the first connect (see ServerAddress). After a GOAWAY
// the connection finishes its calls and new calls go to a fresh connection.
// Deadlines are enforced locally (DEADLINE_EXCEEDED, then CANCEL to the
// server) as well as by the server. With a health_check_interval, an idle
// connection is PINGed and closed when no PONG comes; an observer hears
// each connection's state (BalancedChannel uses both; one server alone has
// neither). Failures of calls that never reached the server carry
// MarkNotSent's payload (client_connection.h).
//
// Streaming calls (NewStream, docs/PROTOCOL.md §7) are RawClientStreams
// (client_stream.h) on the same connections, spread the same way; their
// REQUEST waits for the server's preface, and a 1.0 server fails them
// locally with UNIMPLEMENTED. Their methods may be called on any thread;
// on the I/O thread they act without a hop, elsewhere they post to it (a
// write is serialized first, on the calling thread). Reactor callbacks run
// on the I/O thread, never inside the call that causes them.
//
// Destruction keeps rpc::Channel's contract, streams included: each
// stream's OnDone runs exactly once (CANCELLED unless it ended first). Off the I/O thread the
// destructor fails every call in flight with CANCELLED (unless its response
// came first), joins the I/O thread and returns after the last done. On the
// I/O thread (inside a done) it cannot join: the calls on its connections
// fail inline, before it returns; calls that other threads posted just
// before and that the loop has not taken yet fail with CANCELLED right
// after, on the I/O thread. The thread is detached: it finishes its loop
// iteration (the stack below the done), frees the connections and the loop,
// and exits on its own, soon after.
class RawChannel final : public rpc::Channel {
 public:
  // `host_port`: "HOST:PORT", or a unix socket as "unix:///abs/path" or
  // "unix:relative/path" (net::Resolve). Does not resolve or connect yet.
  static absl::StatusOr<std::shared_ptr<RawChannel>> Create(
      std::string host_port, RawChannelOptions options = {});
  ~RawChannel() override;

  RawChannel(const RawChannel&) = delete;
  RawChannel& operator=(const RawChannel&) = delete;

  rpc::ClientStream* NewStream(absl::string_view method, rpc::MethodKind kind,
                               const rpc::CallOptions& options,
                               rpc::ClientStreamReactor* reactor) override;
  void StartUnaryCall(absl::string_view method,
                      const google::protobuf::MessageLite& request,
                      google::protobuf::MessageLite* response,
                      const rpc::CallOptions& options,
                      rpc::UnaryDone done) override;

  // Opens every connection that is neither open nor connecting (one that
  // got GOAWAY is replaced), without a call; the observer hears how it
  // went. Thread-safe; returns at once.
  void Connect();

 private:
  // The loop and everything on it; defined in the .cc. Shared with the I/O
  // thread, which frees it when the channel was destroyed on that thread.
  class Core;

  explicit RawChannel(std::shared_ptr<Core> core);

  const std::shared_ptr<Core> core_;
  std::thread io_thread_;
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_CLIENT_RAW_CHANNEL_H_
