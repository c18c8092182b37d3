#include "dualrpc/net/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "absl/strings/str_cat.h"

namespace dualrpc::net {

std::string SocketAddress::ToHostPort() const {
  char text[INET6_ADDRSTRLEN] = "?";
  if (storage.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(storage);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    return absl::StrCat("[", text, "]:", ntohs(v6.sin6_port));
  }
  const auto& v4 = reinterpret_cast<const sockaddr_in&>(storage);
  ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
  return absl::StrCat(text, ":", ntohs(v4.sin_port));
}

std::string SocketAddress::ToUri() const {
  return absl::StrCat(storage.ss_family == AF_INET6 ? "ipv6:" : "ipv4:",
                      ToHostPort());
}

}  // namespace dualrpc::net
