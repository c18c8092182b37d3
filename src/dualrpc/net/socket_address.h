#ifndef DUALRPC_NET_SOCKET_ADDRESS_H_
#define DUALRPC_NET_SOCKET_ADDRESS_H_

#include <sys/socket.h>

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dualrpc::net {

// An IPv4, IPv6 or unix-domain (AF_UNIX, a filesystem path) socket address,
// small enough to copy into every call. A value: who fills it (Accept,
// LocalAddress, Resolve, FromUnixPath) sets `length`.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  // An AF_UNIX address for `path`. INVALID_ARGUMENT when `path` is empty,
  // holds a NUL or does not fit sockaddr_un::sun_path (107 bytes on Linux).
  static absl::StatusOr<SocketAddress> FromUnixPath(absl::string_view path);

  bool is_unix() const { return storage.ss_family == AF_UNIX; }
  // The path of an AF_UNIX address; empty for an unnamed socket (a
  // connecting client's, as the server sees it) and for IP addresses.
  std::string unix_path() const;

  // "127.0.0.1:5555" or "[::1]:5555"; for AF_UNIX, "unix:/path" (ToUri()).
  std::string ToHostPort() const;
  // gRPC's peer form: "ipv4:127.0.0.1:5555", "ipv6:[::1]:5555" or
  // "unix:/path" ("unix:" for an unnamed unix socket, as gRPC writes it).
  std::string ToUri() const;
};

// The unix-socket spellings of gRPC's target syntax, which dualrpc uses for
// every unix address it reads: "unix:PATH" (relative or absolute) and
// "unix:///ABSOLUTE/PATH". Returns the path when `address` starts with
// "unix:", nullopt otherwise (it is then HOST:PORT). "unix://AUTHORITY/..."
// with a non-empty authority, and an empty path, return an empty path, which
// callers refuse as INVALID_ARGUMENT.
std::optional<std::string> UnixSocketPath(absl::string_view address);

// The canonical spelling of a unix address: "unix:///abs" for an absolute
// path, "unix:rel" for a relative one. UnixSocketPath() reads it back.
std::string UnixAddressUri(absl::string_view path);

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_SOCKET_ADDRESS_H_
