#include "bench_net.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "dualrpc/base/posix_error.h"

namespace dualrpc::bench {
namespace {

absl::StatusOr<std::pair<std::string, std::string>> SplitHostPort(
    absl::string_view host_port) {
  const std::size_t colon = host_port.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("not HOST:PORT: ", host_port));
  }
  std::string host(host_port.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(host, std::string(host_port.substr(colon + 1)));
}

// getaddrinfo's results, freed on scope exit.
struct AddressList {
  addrinfo* head = nullptr;
  ~AddressList() {
    if (head != nullptr) ::freeaddrinfo(head);
  }
};

absl::Status Resolve(absl::string_view host_port, bool passive,
                     AddressList* out) {
  absl::StatusOr<std::pair<std::string, std::string>> parts =
      SplitHostPort(host_port);
  if (!parts.ok()) return parts.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  const int resolved = ::getaddrinfo(parts->first.c_str(),
                                     parts->second.c_str(), &hints, &out->head);
  if (resolved != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host_port,
                                               ": ", ::gai_strerror(resolved)));
  }
  return absl::OkStatus();
}

void SetNoDelay(int fd) {
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

}  // namespace

absl::StatusOr<Listener> ListenTcp(absl::string_view host_port, int backlog) {
  AddressList addresses;
  if (absl::Status resolved = Resolve(host_port, /*passive=*/true, &addresses);
      !resolved.ok()) {
    return resolved;
  }
  const addrinfo* ai = addresses.head;
  base::ScopedFd fd(
      ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
  if (!fd.valid()) return base::PosixError("socket", errno);
  const int on = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
    return base::PosixError(absl::StrCat("bind ", host_port), errno);
  }
  if (::listen(fd.get(), backlog) != 0)
    return base::PosixError("listen", errno);
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &length) !=
      0) {
    return base::PosixError("getsockname", errno);
  }
  const int port =
      bound.ss_family == AF_INET6
          ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
          : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  const std::size_t colon = host_port.rfind(':');
  return Listener{std::move(fd),
                  absl::StrCat(host_port.substr(0, colon), ":", port)};
}

absl::StatusOr<base::ScopedFd> ConnectTcp(absl::string_view host_port,
                                          bool non_blocking) {
  AddressList addresses;
  if (absl::Status resolved = Resolve(host_port, /*passive=*/false, &addresses);
      !resolved.ok()) {
    return resolved;
  }
  absl::Status last_error =
      absl::UnavailableError(absl::StrCat("no address for ", host_port));
  for (const addrinfo* ai = addresses.head; ai != nullptr; ai = ai->ai_next) {
    base::ScopedFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                               ai->ai_protocol));
    if (!fd.valid()) {
      last_error = base::PosixError("socket", errno);
      continue;
    }
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      last_error =
          base::PosixError(absl::StrCat("connect to ", host_port), errno);
      continue;
    }
    SetNoDelay(fd.get());
    if (non_blocking)
      ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
    return fd;
  }
  return last_error;
}

absl::Status PrepareAcceptedSocket(int fd) {
  SetNoDelay(fd);
  if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
    return base::PosixError("fcntl(O_NONBLOCK)", errno);
  }
  return absl::OkStatus();
}

}  // namespace dualrpc::bench
