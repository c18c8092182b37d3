#include "dualrpc/net/socket_ops.h"

#include <netdb.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "dualrpc/base/posix_error.h"

namespace dualrpc::net {
namespace {

// Extra space for one read beyond the Buffer's free space (muduo's trick):
// a read takes what is there without the Buffer pre-growing.
constexpr std::size_t kReadStackBytes = 64 * 1024;

struct HostPort {
  std::string host;  // Empty: every local address.
  std::string port;
};

absl::StatusOr<HostPort> SplitHostPort(absl::string_view host_port) {
  absl::string_view host;
  absl::string_view port;
  if (!host_port.empty() && host_port.front() == '[') {
    const std::size_t close = host_port.find("]:");
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("address \"", host_port, "\" is not [V6]:PORT"));
    }
    host = host_port.substr(1, close - 1);
    port = host_port.substr(close + 2);
  } else {
    const std::size_t colon = host_port.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("address \"", host_port, "\" is not HOST:PORT"));
    }
    host = host_port.substr(0, colon);
    port = host_port.substr(colon + 1);
  }
  std::uint32_t port_number = 0;
  if (!absl::SimpleAtoi(port, &port_number) || port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("address \"", host_port, "\" has no valid port"));
  }
  return HostPort{std::string(host), std::string(port)};
}

// Accept errors that concern only the connection being accepted (which is
// gone), not the listener: accept(2) "Error handling" on Linux.
bool IsTransientAcceptError(int error_number) {
  switch (error_number) {
    case EAGAIN:
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
      return true;
    default:
      return false;
  }
}

absl::Status SetNoDelay(int fd) {
  const int on = 1;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0) {
    return base::PosixError("setsockopt(TCP_NODELAY)", errno);
  }
  return absl::OkStatus();
}

// A unix address's sockaddr_un, or INVALID_ARGUMENT naming `address`.
absl::StatusOr<SocketAddress> UnixAddress(absl::string_view address,
                                          const std::string& path) {
  absl::StatusOr<SocketAddress> unix_address =
      SocketAddress::FromUnixPath(path);
  if (!unix_address.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "address \"", address, "\": ", unix_address.status().message()));
  }
  return unix_address;
}

// Makes room for a unix listener at `path`: removes a stale socket file, never
// another kind of file.
absl::Status RemoveStaleUnixSocket(const std::string& path) {
  absl::StatusOr<UnixSocketFile> existing = StatUnixSocketFile(path);
  if (absl::IsNotFound(existing.status())) return absl::OkStatus();
  if (!existing.ok()) return existing.status();
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return base::PosixError(absl::StrCat("unlink ", path), errno);
  }
  return absl::OkStatus();
}

absl::StatusOr<base::ScopedFd> ListenUnix(absl::string_view address,
                                          const std::string& path,
                                          int backlog) {
  absl::StatusOr<SocketAddress> unix_address = UnixAddress(address, path);
  if (!unix_address.ok()) return unix_address.status();
  if (absl::Status removed = RemoveStaleUnixSocket(path); !removed.ok()) {
    return removed;
  }
  base::ScopedFd fd(
      ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return base::PosixError("socket", errno);
  if (::bind(fd.get(),
             reinterpret_cast<const sockaddr*>(&unix_address->storage),
             unix_address->length) != 0) {
    return absl::UnavailableError(
        base::PosixError(absl::StrCat("bind ", address), errno).message());
  }
  if (::listen(fd.get(), backlog) != 0) {
    return base::PosixError(absl::StrCat("listen ", address), errno);
  }
  return fd;
}

// Resolves `host_port` and, for each address in turn, makes a non-blocking,
// close-on-exec socket and hands it to `prepare` (bind+listen).
// Returns the first socket `prepare` accepts, else the last error.
absl::StatusOr<base::ScopedFd> FirstUsableSocket(
    absl::string_view host_port, int ai_flags, absl::StatusCode resolve_error,
    absl::string_view purpose,
    absl::FunctionRef<absl::Status(int fd, const addrinfo& address)> prepare) {
  absl::StatusOr<HostPort> parts = SplitHostPort(host_port);
  if (!parts.ok()) return parts.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = ai_flags | AI_NUMERICSERV;
  addrinfo* results = nullptr;
  const int resolved =
      ::getaddrinfo(parts->host.empty() ? nullptr : parts->host.c_str(),
                    parts->port.c_str(), &hints, &results);
  if (resolved != 0) {
    return absl::Status(resolve_error,
                        absl::StrCat("cannot resolve \"", host_port,
                                     "\": ", ::gai_strerror(resolved)));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> owned(results, ::freeaddrinfo);
  absl::Status last_error = absl::UnavailableError(
      absl::StrCat("no address to ", purpose, " for \"", host_port, "\""));
  for (const addrinfo* ai = results; ai != nullptr; ai = ai->ai_next) {
    base::ScopedFd fd(::socket(ai->ai_family,
                               ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                               ai->ai_protocol));
    if (!fd.valid()) {
      last_error = base::PosixError("socket", errno);
      continue;
    }
    absl::Status prepared = prepare(fd.get(), *ai);
    if (prepared.ok()) return fd;
    last_error = std::move(prepared);
  }
  return last_error;
}

}  // namespace

absl::StatusOr<base::ScopedFd> Listen(absl::string_view address, int backlog) {
  if (std::optional<std::string> path = UnixSocketPath(address)) {
    return ListenUnix(address, *path, backlog);
  }
  return FirstUsableSocket(
      address, AI_PASSIVE, absl::StatusCode::kInvalidArgument, "listen on",
      [&](int fd, const addrinfo& candidate) -> absl::Status {
        const int on = 1;
        if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) {
          return base::PosixError("setsockopt(SO_REUSEADDR)", errno);
        }
        if (::bind(fd, candidate.ai_addr, candidate.ai_addrlen) != 0) {
          // UNAVAILABLE, as gRPC reports an address it cannot bind.
          return absl::UnavailableError(
              base::PosixError(absl::StrCat("bind ", address), errno)
                  .message());
        }
        if (::listen(fd, backlog) != 0) {
          return base::PosixError(absl::StrCat("listen ", address), errno);
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<SocketAddress>> Resolve(absl::string_view address) {
  if (std::optional<std::string> path = UnixSocketPath(address)) {
    absl::StatusOr<SocketAddress> unix_address = UnixAddress(address, *path);
    if (!unix_address.ok()) return unix_address.status();
    return std::vector<SocketAddress>{*unix_address};
  }
  absl::StatusOr<HostPort> parts = SplitHostPort(address);
  if (!parts.ok()) return parts.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* results = nullptr;
  const int resolved =
      ::getaddrinfo(parts->host.empty() ? nullptr : parts->host.c_str(),
                    parts->port.c_str(), &hints, &results);
  if (resolved != 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot resolve \"", address, "\": ", ::gai_strerror(resolved)));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> owned(results, ::freeaddrinfo);
  std::vector<SocketAddress> addresses;
  for (const addrinfo* ai = results; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SocketAddress resolved_address;
    std::memcpy(&resolved_address.storage, ai->ai_addr, ai->ai_addrlen);
    resolved_address.length = ai->ai_addrlen;
    addresses.push_back(resolved_address);
  }
  if (addresses.empty()) {
    return absl::UnavailableError(
        absl::StrCat("no address to connect to for \"", address, "\""));
  }
  return addresses;
}

absl::StatusOr<base::ScopedFd> StartConnect(const SocketAddress& address,
                                            bool* in_progress) {
  *in_progress = false;
  base::ScopedFd fd(::socket(address.storage.ss_family,
                             SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return absl::UnavailableError(base::PosixError("socket", errno).message());
  }
  if (!address.is_unix()) {
    if (absl::Status no_delay = SetNoDelay(fd.get()); !no_delay.ok()) {
      return no_delay;
    }
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address.storage),
                address.length) != 0) {
    if (errno != EINPROGRESS) {
      return absl::UnavailableError(
          base::PosixError(absl::StrCat("connect to ", address.ToHostPort()),
                           errno)
              .message());
    }
    *in_progress = true;
  }
  return fd;
}

absl::Status FinishConnect(int fd, const SocketAddress& address) {
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
    error = errno;
  }
  if (error == 0) return absl::OkStatus();
  return absl::UnavailableError(
      base::PosixError(absl::StrCat("connect to ", address.ToHostPort()), error)
          .message());
}

absl::StatusOr<SocketAddress> LocalAddress(int fd) {
  SocketAddress address;
  address.length = sizeof address.storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address.storage),
                    &address.length) != 0) {
    return base::PosixError("getsockname", errno);
  }
  return address;
}

absl::StatusOr<base::ScopedFd> Accept(int listen_fd, SocketAddress* peer) {
  peer->length = sizeof peer->storage;
  base::ScopedFd fd(::accept4(listen_fd,
                              reinterpret_cast<sockaddr*>(&peer->storage),
                              &peer->length, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (!fd.valid()) {
    if (IsTransientAcceptError(errno)) return base::ScopedFd();
    return base::PosixError("accept", errno);
  }
  // Nagle plus delayed ACKs would hold every small response ~40 ms. A socket
  // we cannot configure is dropped like a connection that vanished.
  // A unix peer has no Nagle to turn off.
  if (!peer->is_unix() && !SetNoDelay(fd.get()).ok()) return base::ScopedFd();
  return fd;
}

absl::StatusOr<UnixSocketFile> StatUnixSocketFile(const std::string& path) {
  struct stat status {};
  if (::lstat(path.c_str(), &status) != 0) {
    return base::PosixError(absl::StrCat("lstat ", path), errno);
  }
  if (!S_ISSOCK(status.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a socket; not replacing it"));
  }
  return UnixSocketFile{path, status.st_dev, status.st_ino};
}

void RemoveUnixSocketFile(const UnixSocketFile& file) {
  absl::StatusOr<UnixSocketFile> current = StatUnixSocketFile(file.path);
  if (!current.ok() || current->device != file.device ||
      current->inode != file.inode) {
    return;
  }
  ::unlink(file.path.c_str());
}

void StopListening(int listen_fd) {
  // On Linux, shutdown() of a listening socket stops it listening: queued and
  // future connection attempts are reset. Nothing to report if it fails; the
  // owner closes the fd later anyway.
  ::shutdown(listen_fd, SHUT_RDWR);
}

void ShutdownWrite(int fd) {
  // Fails only if the peer is already gone, which the next read reports.
  ::shutdown(fd, SHUT_WR);
}

absl::StatusOr<Transfer> ReadToBuffer(int fd, Buffer* buffer) {
  char stack[kReadStackBytes];
  const std::size_t writable = buffer->writable_bytes();
  iovec vec[2];
  vec[0].iov_base = buffer->BeginWrite();
  vec[0].iov_len = writable;
  vec[1].iov_base = stack;
  vec[1].iov_len = sizeof stack;
  const int iov_count = writable < sizeof stack ? 2 : 1;
  const ssize_t n = ::readv(fd, vec, iov_count);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      return Transfer{};
    }
    return base::PosixError("read", errno);
  }
  if (n == 0) return Transfer{0, true};
  const auto bytes = static_cast<std::size_t>(n);
  if (bytes <= writable) {
    buffer->HasWritten(bytes);
  } else {
    buffer->HasWritten(writable);
    buffer->Append(stack, bytes - writable);
  }
  return Transfer{bytes, false};
}

absl::StatusOr<Transfer> SendFromBuffer(int fd, Buffer* buffer) {
  const ssize_t n = ::send(fd, buffer->Peek(), buffer->readable_bytes(),
                           MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      return Transfer{0, false, Readiness::kWritable};
    }
    return base::PosixError("send", errno);
  }
  buffer->Retrieve(static_cast<std::size_t>(n));
  return Transfer{static_cast<std::size_t>(n), false, Readiness::kWritable};
}

absl::StatusOr<Transfer> PeekSocket(int fd, char* out, std::size_t max_bytes) {
  const ssize_t n = ::recv(fd, out, max_bytes, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      return Transfer{};
    }
    return base::PosixError("recv(MSG_PEEK)", errno);
  }
  if (n == 0) return Transfer{0, true};
  return Transfer{static_cast<std::size_t>(n), false};
}

absl::StatusOr<std::pair<base::ScopedFd, base::ScopedFd>> StreamSocketPair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   fds) != 0) {
    return base::PosixError("socketpair", errno);
  }
  return std::make_pair(base::ScopedFd(fds[0]), base::ScopedFd(fds[1]));
}

absl::Status SocketError(int fd) {
  int error_number = 0;
  socklen_t length = sizeof error_number;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error_number, &length) != 0) {
    return base::PosixError("getsockopt(SO_ERROR)", errno);
  }
  if (error_number == 0) return absl::UnavailableError("socket error");
  return base::PosixError("socket", error_number);
}

}  // namespace dualrpc::net
