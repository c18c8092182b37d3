#ifndef DUALRPC_CLIENT_TARGET_H_
#define DUALRPC_CLIENT_TARGET_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dualrpc::client {

// The transports a target URI can name.
enum class TransportScheme {
  kGrpc,  // grpc://HOST:PORT
  kRaw,   // raw://HOST:PORT, the raw TCP protocol
};

// A parsed --target value.
struct Target {
  TransportScheme scheme;
  // A name or IPv4 literal, or an IPv6 literal kept in its brackets
  // ("[::1]"), so that HostPort() is always a valid "host:port".
  std::string host;
  uint16_t port;

  std::string HostPort() const;
};

// Parses SCHEME://HOST:PORT with SCHEME one of grpc, raw. Nothing may follow
// the port. Errors are INVALID_ARGUMENT; an unknown scheme says
// "unsupported target scheme".
absl::StatusOr<Target> ParseTarget(absl::string_view uri);

}  // namespace dualrpc::client

#endif  // DUALRPC_CLIENT_TARGET_H_
