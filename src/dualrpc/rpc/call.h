#ifndef DUALRPC_RPC_CALL_H_
#define DUALRPC_RPC_CALL_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace dualrpc::rpc {

// Request or response metadata: ordered key/value pairs, keys as gRPC's
// (lower-case [0-9a-z_.-], "-bin" suffix for binary values). Keys may repeat.
using Metadata = std::vector<std::pair<std::string, std::string>>;

// Per-call options for a client call, identical on every transport.
struct CallOptions {
  // Relative deadline; InfiniteDuration() means none.
  absl::Duration timeout = absl::InfiniteDuration();
  Metadata metadata;
  // If set, receives the server's response metadata (what it passed to
  // ServerCallContext::AddResponseMetadata), whatever the call's status,
  // before the call's done runs. Not owned; must stay valid until then.
  Metadata* response_metadata = nullptr;
  // If set as well, receives the response headers (gRPC's initial metadata)
  // apart, and `response_metadata` only the trailers. The raw protocol's
  // response metadata are all trailers (docs/PROTOCOL.md), so over raw this
  // stays empty. Same lifetime rule as `response_metadata`.
  Metadata* response_headers = nullptr;
};

// Completes one unary call. Invoked exactly once, on any thread (possibly
// inline, before the call that started it returns).
using UnaryDone = absl::AnyInvocable<void(absl::Status) &&>;

// What a server-side implementation sees of its call, on any transport.
// Owned by the transport; valid until the call's UnaryDone has run.
// Thread-safe.
class ServerCallContext {
 public:
  virtual ~ServerCallContext() = default;

  // When the client gives up; InfiniteFuture() when it set no deadline.
  virtual absl::Time deadline() const = 0;
  // True once the client cancelled, the deadline passed or the connection
  // went away: the response will not be delivered, so work may stop.
  virtual bool IsCancelled() const = 0;
  virtual const Metadata& request_metadata() const = 0;
  // Adds response metadata (trailers). Call before UnaryDone.
  virtual void AddResponseMetadata(std::string key, std::string value) = 0;
  // The peer's address, for logs ("ipv4:127.0.0.1:5555").
  virtual std::string peer() const = 0;
  // The transport the call arrived on: "grpc" or "raw" (logs, metrics,
  // access logs). Every transport overrides it; fakes may leave "".
  virtual absl::string_view transport() const { return {}; }
  // The subject of the client's verified TLS certificate (mTLS), in RFC 2253
  // form ("CN=alice,O=dualrpc"), the same on both transports; empty without
  // TLS or without a client certificate.
  virtual std::string peer_certificate_subject() const { return {}; }

  // Who is calling, as authentication established it (a token's principal,
  // or the mTLS subject); empty when the call is unauthenticated (no
  // authentication configured, or an open method called without
  // credentials). Set by the interceptor stage before the implementation
  // runs (ServiceRegistry::AddInterceptor), read-only after.
  const std::string& principal() const { return principal_; }
  void set_principal(std::string principal) {
    principal_ = std::move(principal);
  }

 private:
  std::string principal_;
};

}  // namespace dualrpc::rpc

#endif  // DUALRPC_RPC_CALL_H_
