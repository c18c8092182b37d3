#ifndef DUALRPC_CLIENT_TARGET_H_
#define DUALRPC_CLIENT_TARGET_H_

#include <cstdint>
#include <string>
#include <vector>

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
// Several servers (issue 13, one backend per address, round-robin):
//   grpc://H1:P1,H2:P2[,...]  and bare H1:P1,H2:P2   gRPC, every HOST an IP
//                          literal of one family (gRPC's ipv4:/ipv6: target)
//   raw://H1:P1,H2:P2      raw (names allowed; each entry one backend)
//   grpcs://LIST, raws://LIST   the same over TLS
//   dns:///NAME:PORT       gRPC, resolved and balanced by gRPC itself
//   raw+dns:///NAME:PORT   raw, one backend per resolved address
//   grpcs+dns:///NAME:PORT, raws+dns:///NAME:PORT   the same over TLS
// HOST is a name, an IPv4 literal or a bracketed IPv6 literal ("[::1]").
// A list holds 1..kMaxTargetAddresses entries, none empty; duplicates are
// allowed (they weigh). A DNS server authority ("dns://8.8.8.8/x:1") is not
// supported.
inline constexpr int kMaxTargetAddresses = 64;

// One HOST:PORT of a target.
struct TargetAddress {
  // As written (IPv6 kept in its brackets).
  std::string host;
  uint16_t port = 0;

  // "HOST:PORT".
  std::string HostPort() const;
  friend bool operator==(const TargetAddress& a, const TargetAddress& b) {
    return a.host == b.host && a.port == b.port;
  }
};

struct Target {
  TransportScheme scheme = TransportScheme::kGrpc;
  // TCP targets: the host as written (IPv6 kept in its brackets, so that
  // HostPort() is always a valid "host:port") and the port. Unix targets:
  // empty and 0.
  std::string host;
  uint16_t port = 0;
  // Unix targets: the socket's path (absolute or relative); else empty.
  std::string unix_path;
  // grpcs:// and raws://: TLS over TCP (never on a unix target).
  bool tls = false;
  // TCP targets: every address in the order written; addresses[0] is
  // host:port. Empty for a unix target. A dns target holds its one NAME:PORT.
  std::vector<TargetAddress> addresses;
  // The dns:/// forms: addresses[0] is a name to resolve into backends.
  bool dns = false;

  bool is_unix() const { return !unix_path.empty(); }
  // More than one backend may be behind it: a list of two or more, or dns.
  bool balanced() const { return dns || addresses.size() > 1; }
  // "HOST:PORT" for a TCP target.
  std::string HostPort() const;
  // What the transport is given: "HOST:PORT" for TCP (the first address of
  // a raw list); for gRPC, a list as gRPC's own "ipv4:A:P,B:Q" or
  // "ipv6:[A]:P,[B]:Q" and a dns target as "dns:///NAME:PORT"; for a unix
  // target, a gRPC unix target ("unix:///abs" or "unix:rel"), which gRPC's
  // CreateChannel and dualrpc::net both read as is. "unix:/abs" comes back
  // as "unix:///abs", its equal in gRPC's syntax.
  std::string TransportAddress() const;
};

// Parses one of the forms above. Nothing may follow the port. Errors are
// INVALID_ARGUMENT naming the accepted forms; a "SCHEME://" that is none of
// grpc, grpcs, raw, raws (or a "SCHEME+dns:" of raw, raws, grpcs) says
// "unsupported target scheme"; an empty list entry, more than
// kMaxTargetAddresses, names or mixed families on a gRPC list, a DNS
// server authority and a dns target with a list are refused saying so.
absl::StatusOr<Target> ParseTarget(absl::string_view target);

}  // namespace dualrpc::client

#endif  // DUALRPC_CLIENT_TARGET_H_
