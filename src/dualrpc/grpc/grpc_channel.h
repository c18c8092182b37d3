#ifndef DUALRPC_GRPC_GRPC_CHANNEL_H_
#define DUALRPC_GRPC_GRPC_CHANNEL_H_

#include <grpcpp/generic/generic_stub.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dualrpc/grpc/tls_credentials.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/channel.h"
#include "google/protobuf/message_lite.h"

namespace dualrpc::grpc {

// Upper bound on GrpcChannelOptions::channel_count.
inline constexpr int kMaxGrpcChannelCount = 64;

struct GrpcChannelOptions {
  // Number of grpc::Channels, hence TCP connections, that calls are spread
  // over round-robin (1..kMaxGrpcChannelCount). More than one helps when a
  // single HTTP/2 connection is the bottleneck.
  int channel_count = 1;
  // Largest response accepted; a larger one fails the call with
  // RESOURCE_EXHAUSTED. gRPC's default.
  int max_receive_message_bytes = 4 * 1024 * 1024;
  // Interval of HTTP/2 keepalive PINGs (GRPC_ARG_KEEPALIVE_TIME_MS);
  // InfiniteDuration() leaves gRPC's default (none on a client).
  absl::Duration keepalive_time = absl::InfiniteDuration();
  // The :authority of every call (GRPC_ARG_DEFAULT_AUTHORITY); empty means
  // the target's HOST:PORT.
  std::string authority;
  // If finite, Create blocks until every grpc::Channel is connected
  // (grpcurl's blocking dial) and is UNAVAILABLE if one is not within this
  // long. InfiniteDuration(): connect lazily, under each call's deadline.
  absl::Duration connect_before = absl::InfiniteDuration();
  // TLS (grpcs://) instead of plaintext. The name the server's certificate
  // must match is tls->server_name if set, else the authority's host, else
  // the target's host. A refused certificate fails the calls with
  // UNAVAILABLE saying why (MakeChannelCredentials); connection failures
  // of either kind get ExplainConnectionFailure's hint.
  std::optional<GrpcChannelTlsOptions> tls;
  // gRPC's load-balancing policy ("round_robin" for a target naming several
  // servers: ipv4:A,B or dns:///NAME); empty: gRPC's default (pick_first).
  // Set, it comes with gRPC's client-side health checking (service config
  // healthCheckConfig, service ""): a server whose grpc.health.v1 Watch
  // says NOT_SERVING (draining, --shutdown_delay) is no longer picked; one
  // without the health service counts as healthy.
  std::string lb_policy;
};

// A Channel to one server over gRPC (HTTP/2, plaintext or TLS), through
// grpc++'s generic stub and callback API: messages are serialized once, into
// gRPC's byte buffers. Calls complete on gRPC's callback threads. Request metadata
// that breaks gRPC's rules (rpc/metadata.h) fails the call with
// INVALID_ARGUMENT before anything is sent. CallOptions::response_metadata
// receives the server's initial metadata, then its trailers, without
// gRPC's reserved "grpc-" keys.
//
// Streams (NewStream) are grpc++ callback bidi calls over the generic stub,
// whatever their kind (on the wire, gRPC's kinds differ only in how many
// messages each side sends): the call options' metadata and timeout (as the
// deadline) apply as for unary calls; the server's initial metadata goes to
// response_headers (response_metadata when that is null) and its trailers to
// response_metadata before OnDone; ClientStream::Cancel is TryCancel. A
// server-streaming call's one StartWrite is a write-and-half-close.
// Reactor callbacks run on gRPC's callback threads; HTTP/2 flow control
// holds back OnWriteDone while the server does not read.
// Thread-safe.
//
// Destruction keeps rpc::Channel's contract: the calls and streams in
// flight are cancelled (ClientContext::TryCancel) and complete with
// CANCELLED unless their result came first. Off gRPC's callback threads the
// destructor waits until each of their dones (streams' OnDone) has run.
// Inside a done or any stream reactor callback of any GrpcChannel (a gRPC
// callback thread, where gRPC may queue the other calls' callbacks behind
// the running one) it does not wait: those run after it returns.
class GrpcChannel final : public rpc::Channel {
 public:
  // `target` is a gRPC target: "HOST:PORT", "dns:///HOST:PORT", ...
  // Connects lazily, so an unreachable server shows as UNAVAILABLE calls.
  // INVALID_ARGUMENT for an empty target, options out of range or TLS files
  // that cannot be read.
  static absl::StatusOr<std::shared_ptr<GrpcChannel>> Create(
      absl::string_view target, const GrpcChannelOptions& options = {});

  GrpcChannel(const GrpcChannel&) = delete;
  GrpcChannel& operator=(const GrpcChannel&) = delete;
  // See "Destruction" above.
  ~GrpcChannel() override;

  rpc::ClientStream* NewStream(absl::string_view method, rpc::MethodKind kind,
                               const rpc::CallOptions& options,
                               rpc::ClientStreamReactor* reactor) override;
  void StartUnaryCall(absl::string_view method,
                      const google::protobuf::MessageLite& request,
                      google::protobuf::MessageLite* response,
                      const rpc::CallOptions& options,
                      rpc::UnaryDone done) override;

  // The calls in flight; defined in the .cc (public only so that the .cc's
  // per-call state can name it). Shared with each call, so that it outlives
  // a channel destroyed inside a done.
  class CallList;

 private:
  // `tls`: the stubs' channels are grpcs:// (for failure messages).
  GrpcChannel(std::vector<std::unique_ptr<::grpc::GenericStub>> stubs,
              bool tls);

  // One per grpc::Channel; never empty.
  const std::vector<std::unique_ptr<::grpc::GenericStub>> stubs_;
  const std::shared_ptr<CallList> calls_;
  std::atomic<uint64_t> next_stub_{0};
};

}  // namespace dualrpc::grpc

#endif  // DUALRPC_GRPC_GRPC_CHANNEL_H_
