#ifndef DUALRPC_NET_SOCKET_ADDRESS_H_
#define DUALRPC_NET_SOCKET_ADDRESS_H_

#include <sys/socket.h>

#include <string>

namespace dualrpc::net {

// An IPv4 or IPv6 socket address, small enough to copy into every call. A
// value: who fills it (Accept, LocalAddress) sets `length`.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  // "127.0.0.1:5555" or "[::1]:5555".
  std::string ToHostPort() const;
  // gRPC's peer form: "ipv4:127.0.0.1:5555" or "ipv6:[::1]:5555".
  std::string ToUri() const;
};

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_SOCKET_ADDRESS_H_
