#ifndef DUALRPC_GRPC_GRPC_SERVER_H_
#define DUALRPC_GRPC_GRPC_SERVER_H_

#include <grpcpp/server.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dualrpc/grpc/registry_grpc_service.h"
#include "dualrpc/grpc/tls_credentials.h"
#include "dualrpc/rpc/transport_stats.h"

#include "dualrpc/base/scoped_fd.h"

namespace dualrpc::grpc {

class GrpcServerStats;

// What peers may make the gRPC port hold. Every default is safe for a
// server on an untrusted network; each but max_buffered_bytes maps onto
// one grpc-core setting, named beside it.
struct GrpcLimits {
  // Streams (calls) open at once on one connection; the peer is told in
  // SETTINGS_MAX_CONCURRENT_STREAMS and streams beyond it are refused
  // (RST_STREAM REFUSED_STREAM, which gRPC clients retry as not sent).
  // GRPC_ARG_MAX_CONCURRENT_STREAMS; grpc's own default is unlimited.
  int max_concurrent_streams = 100;
  // Serialized response bytes that calls of the whole server may hold
  // before grpc has written them (HTTP/2 flow control holds a response
  // until the peer reads: a peer that opens streams and never reads would
  // otherwise make the server keep every response it asked for). A response
  // that would take the total above this is dropped and its call cancelled
  // (RST_STREAM CANCEL; the client sees CANCELLED). One response is always
  // let through when nothing is held, so a limit below the message limit
  // still serves one at a time. Counted from the response's serialization
  // to the end of its call. A grpc++ server interceptor of our own.
  int64_t max_buffered_bytes = int64_t{64} << 20;
  // The ResourceQuota of the whole server: the memory grpc-core accounts
  // (read buffers and the request bytes in them, call arenas) across all
  // connections. Under pressure grpc-core sends GOAWAY to connections
  // without a call open and resets streams (ENHANCE_YOUR_CALM), whoever
  // caused the pressure. grpc::ResourceQuota::Resize.
  int64_t max_memory_bytes = int64_t{1} << 30;
  // Accept -> HTTP/2 preface and SETTINGS read (with TLS: the handshake
  // done); a connection not there in time is closed.
  // GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS; grpc's own default is 120 s.
  absl::Duration handshake_timeout = absl::Seconds(10);
  // A connection with no call open for this long gets GOAWAY and is
  // closed. GRPC_ARG_MAX_CONNECTION_IDLE_MS; grpc's own default is never.
  absl::Duration max_connection_idle = absl::Seconds(300);
  // The server PINGs each connection every keepalive_time and closes it if
  // no ACK comes within keepalive_timeout: a peer that stopped reading (and
  // so holds the streams it opened) is let go.
  // GRPC_ARG_KEEPALIVE_TIME_MS (grpc's own default 2 h) and
  // GRPC_ARG_KEEPALIVE_TIMEOUT_MS (20 s).
  absl::Duration keepalive_time = absl::Seconds(60);
  absl::Duration keepalive_timeout = absl::Seconds(20);
};

struct GrpcServerOptions {
  // HOST:PORT; port 0 picks a free port (see GrpcServer::address()). Empty:
  // no port of its own; connections come only through AdoptConnection.
  std::string listen_address = "127.0.0.1:50051";
  // Largest message accepted from a peer, as gRPC's default receive limit.
  int max_receive_message_bytes = 4 * 1024 * 1024;
  // Largest message this server sends. gRPC's own default is unlimited; we
  // match the receive limit, which is also what gRPC clients accept.
  int max_send_message_bytes = 4 * 1024 * 1024;
  // Fully qualified service names reported SERVING by the health service,
  // besides "" (the whole server). Only with builtin_inspection.
  std::vector<std::string> health_service_names;
  // True: grpc++'s own default health service and its v1alpha reflection
  // plugin serve this port, beside `services`. False: neither; the services
  // bring their own (dualrpc-server serves inspection::HealthService and
  // both ReflectionService versions from its registry, so that every call,
  // health and reflection included, passes the registry's interceptor
  // stage).
  bool builtin_inspection = true;

  // Limits for hostile peers (docs/ARCHITECTURE.md, "Limits and what they
  // protect"; docs/OPERATIONS.md, "gRPC port limits"). Adopted connections
  // get them too, but for handshake_timeout (they have no handshake here:
  // the shared port's detect timeout covers theirs).
  GrpcLimits limits;

  // Serve TLS (ALPN h2) with these certificates instead of plaintext.
  std::optional<GrpcServerTlsOptions> tls;

  // Where AdoptConnection records a socket's client-certificate subject:
  // the table the services were made with (MakeGrpcServices). Null: the
  // subjects given to AdoptConnection are dropped.
  std::shared_ptr<AdoptedPeerSubjects> adopted_subjects;
};

// A started grpc::Server with, unless !builtin_inspection, server
// reflection and the standard health service (grpc.health.v1.Health: "" and
// every registered service SERVING while up, NOT_SERVING once Shutdown
// begins). Owns the grpc::Server, not the services: they must outlive this
// object.
class GrpcServer {
 public:
  // Builds and starts the server. Fails with UNAVAILABLE if the address
  // cannot be bound ("bind 127.0.0.1:50051: Address already in use", the
  // words net::Listen uses for the raw port; a port in use is never shared:
  // no SO_REUSEPORT), INVALID_ARGUMENT naming the file if options.tls's
  // files cannot be used (read before anything listens).
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const GrpcServerOptions& options,
      const std::vector<::grpc::Service*>& services);

  ~GrpcServer();

  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // The bound HOST:PORT, with the real port when 0 was asked for; empty
  // without a port of its own.
  const std::string& address() const { return address_; }

  // Serves a connected socket whose peer speaks plaintext HTTP/2 (the
  // shared port hands over a socket whose preface it only peeked at, or the
  // plaintext end of its TLS relay): made non-blocking and given to grpc++
  // (::grpc::AddInsecureChannelFromFd), which owns it from then on; peers
  // of its calls read "fd:N". `peer_certificate_subject`: the client
  // certificate's subject of the TLS connection behind a relay's socket
  // (empty: none), recorded in options.adopted_subjects for its calls'
  // ServerCallContext. Thread-safe. UNAVAILABLE, with the socket closed,
  // once Shutdown has begun.
  absl::Status AdoptConnection(base::ScopedFd socket,
                               std::string peer_certificate_subject = {});

  // Flips health to NOT_SERVING, stops accepting calls, lets in-flight calls
  // finish until `grace` has passed, then cancels what is left. Idempotent.
  // Thread-safe (call it from any thread but a gRPC callback).
  void Shutdown(absl::Duration grace);

  // Blocks until Shutdown() has completed.
  void Wait();

  // Re-reads the TLS certificate, key and client CA files: connections
  // accepted after it returns present the new certificate, established ones
  // keep theirs (ReloadableServerCredentials). On failure the server keeps
  // what it had and the error names the file. FAILED_PRECONDITION on a
  // plaintext server. Thread-safe.
  absl::Status ReloadTls();

  // Connection-level figures for metrics (transport "grpc"), from channelz
  // for the server's own port and from AdoptConnection's own count for
  // adopted sockets (grpc_server_stats.h says how, and what each field
  // means here). Thread-safe, any thread but a gRPC callback; queries
  // channelz, so meant for a scrape (about one query per 100 connections).
  // TLS handshake figures are 0: grpc++ 1.51 exposes no handshake outcome.
  // The one refusal counted is "draining": AdoptConnection after Shutdown.
  rpc::TransportStats GetStats() const;

 private:
  GrpcServer(std::shared_ptr<ReloadableServerCredentials> tls,
             std::unique_ptr<::grpc::Server> server, std::string address,
             std::shared_ptr<AdoptedPeerSubjects> adopted_subjects,
             std::unique_ptr<GrpcServerStats> stats);

  // Null for plaintext. Declared before server_, which calls into it, so
  // that it is destroyed after.
  const std::shared_ptr<ReloadableServerCredentials> tls_;
  // Null: none kept. Before server_, whose calls read it.
  const std::shared_ptr<AdoptedPeerSubjects> adopted_subjects_;
  std::unique_ptr<::grpc::Server> server_;
  std::string address_;
  const std::unique_ptr<GrpcServerStats> stats_;
  // Held across a hand-over, so that none reaches grpc++ after Shutdown.
  absl::Mutex adopt_mu_;
  bool shutting_down_ ABSL_GUARDED_BY(adopt_mu_) = false;
};

}  // namespace dualrpc::grpc

#endif  // DUALRPC_GRPC_GRPC_SERVER_H_
