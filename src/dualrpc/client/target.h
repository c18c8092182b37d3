#ifndef DUALRPC_CLIENT_TARGET_H_
#define DUALRPC_CLIENT_TARGET_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dualrpc::client {

// The transports a target can name.
enum class TransportScheme {
  kGrpc,  // gRPC (HTTP/2), over TCP or a unix socket
  kRaw,   // the raw protocol (docs/PROTOCOL.md), over TCP or a unix socket
};

// A parsed --target value. The accepted forms:
//   grpc://HOST:PORT       gRPC over TCP
//   HOST:PORT              the same (grpcurl's form)
//   unix:///ABS/PATH       gRPC over a unix socket (gRPC's own target syntax,
//   unix:REL/PATH            handed to gRPC unchanged)
//   raw://HOST:PORT        raw over TCP
//   raw+unix:///ABS/PATH   raw over a unix socket (the unix forms above,
//   raw+unix:REL/PATH        prefixed "raw+")
//   grpcs://HOST:PORT      gRPC over TLS (ALPN h2)
//   raws://HOST:PORT       raw over TLS (ALPN dualrpc/1, docs/PROTOCOL.md)
// HOST is a name, an IPv4 literal or a bracketed IPv6 literal ("[::1]").
struct Target {
  TransportScheme scheme;
  // TCP targets: the host as written (IPv6 kept in its brackets, so that
  // HostPort() is always a valid "host:port") and the port. Unix targets:
  // empty and 0.
  std::string host;
  uint16_t port = 0;
  // Unix targets: the socket's path (absolute or relative); else empty.
  std::string unix_path;
  // grpcs:// and raws://: TLS over TCP (never on a unix target).
  bool tls = false;

  bool is_unix() const { return !unix_path.empty(); }
  // "HOST:PORT" for a TCP target.
  std::string HostPort() const;
  // What the transport is given: "HOST:PORT" for TCP; for a unix target, a
  // gRPC unix target ("unix:///abs" or "unix:rel"), which gRPC's
  // CreateChannel and dualrpc::net both read as is. "unix:/abs" comes back
  // as "unix:///abs", its equal in gRPC's syntax.
  std::string TransportAddress() const;
};

// Parses one of the forms above. Nothing may follow the port. Errors are
// INVALID_ARGUMENT naming the accepted forms; a "SCHEME://" that is none of
// grpc, grpcs, raw, raws says "unsupported target scheme".
absl::StatusOr<Target> ParseTarget(absl::string_view target);

}  // namespace dualrpc::client

#endif  // DUALRPC_CLIENT_TARGET_H_
