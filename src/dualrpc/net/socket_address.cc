#include "dualrpc/net/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace dualrpc::net {
namespace {

constexpr absl::string_view kUnixPrefix = "unix:";
constexpr absl::string_view kUnixAuthorityPrefix = "unix://";

static_assert(sizeof(sockaddr_un) <= sizeof(sockaddr_storage));

}  // namespace

absl::StatusOr<SocketAddress> SocketAddress::FromUnixPath(
    absl::string_view path) {
  sockaddr_un un{};
  if (path.empty()) return absl::InvalidArgumentError("empty unix socket path");
  if (path.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("unix socket path holds a NUL");
  }
  if (path.size() >= sizeof un.sun_path) {
    return absl::InvalidArgumentError(
        absl::StrCat("unix socket path \"", path, "\" is longer than ",
                     sizeof un.sun_path - 1, " bytes"));
  }
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.data(), path.size());
  SocketAddress address;
  std::memcpy(&address.storage, &un, sizeof un);
  address.length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return address;
}

std::string SocketAddress::unix_path() const {
  if (!is_unix()) return "";
  const auto& un = reinterpret_cast<const sockaddr_un&>(storage);
  const std::size_t offset = offsetof(sockaddr_un, sun_path);
  if (length <= offset) return "";
  // Abstract names (leading NUL) are not used by dualrpc; strnlen gives "".
  return std::string(
      un.sun_path,
      ::strnlen(un.sun_path,
                std::min<std::size_t>(length - offset, sizeof un.sun_path)));
}

std::string SocketAddress::ToHostPort() const {
  if (is_unix()) return ToUri();
  char text[INET6_ADDRSTRLEN] = "?";
  if (storage.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(storage);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    return absl::StrCat("[", text, "]:", ntohs(v6.sin6_port));
  }
  // Dotted quad by hand: glibc's inet_ntop formats IPv4 with sprintf, and
  // the raw transport's ServerCallContext::peer() (access log) runs this
  // once per call.
  const auto& v4 = reinterpret_cast<const sockaddr_in&>(storage);
  const auto* octets = reinterpret_cast<const unsigned char*>(&v4.sin_addr);
  return absl::StrCat(octets[0], ".", octets[1], ".", octets[2], ".",
                      octets[3], ":", ntohs(v4.sin_port));
}

std::string SocketAddress::ToUri() const {
  if (is_unix()) return absl::StrCat(kUnixPrefix, unix_path());
  return absl::StrCat(storage.ss_family == AF_INET6 ? "ipv6:" : "ipv4:",
                      ToHostPort());
}

std::optional<std::string> UnixSocketPath(absl::string_view address) {
  if (!absl::StartsWith(address, kUnixPrefix)) return std::nullopt;
  if (absl::StartsWith(address, kUnixAuthorityPrefix)) {
    const absl::string_view rest = address.substr(kUnixAuthorityPrefix.size());
    // "unix:///abs": an empty authority and an absolute path; anything else
    // names an authority, which a unix address cannot have.
    if (!absl::StartsWith(rest, "/")) return std::string();
    return std::string(rest);
  }
  return std::string(address.substr(kUnixPrefix.size()));
}

std::string UnixAddressUri(absl::string_view path) {
  if (absl::StartsWith(path, "/"))
    return absl::StrCat(kUnixAuthorityPrefix, path);
  return absl::StrCat(kUnixPrefix, path);
}

}  // namespace dualrpc::net
