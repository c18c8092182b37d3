#ifndef DUALRPC_NET_SOCKET_OPS_H_
#define DUALRPC_NET_SOCKET_OPS_H_

// Every socket syscall of dualrpc::net, wrapped once: errno becomes an
// absl::Status here (through PosixError) and nowhere else. Sockets are
// non-blocking and close-on-exec; sends never raise SIGPIPE.

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/net/socket_address.h"
#include "dualrpc/net/transfer.h"

namespace dualrpc::net {

// Addresses, wherever net takes one as text: "HOST:PORT" or "[V6]:PORT" (TCP;
// HOST may be a name), or a unix stream socket in gRPC's spelling,
// "unix:PATH" or "unix:///ABSOLUTE/PATH" (UnixSocketPath()).

// Binds and listens on `address` (port 0 picks a free port). Non-blocking;
// SO_REUSEADDR for TCP. For a unix address, a socket file already at the path
// (a previous server's, left behind by a crash) is removed first; any other
// kind of file there is left alone and refused with FAILED_PRECONDITION.
// INVALID_ARGUMENT for a malformed address, else the syscall's error
// (UNAVAILABLE when the address cannot be bound).
absl::StatusOr<base::ScopedFd> Listen(absl::string_view address, int backlog);

// Resolves `address` to the addresses to connect to, in getaddrinfo's order
// (a unix address is its one sockaddr_un; nothing is looked up). A numeric
// HOST never blocks; a name blocks the calling thread in getaddrinfo (DNS),
// so resolve once, not per connection. INVALID_ARGUMENT for a malformed
// address, UNAVAILABLE for a name that does not resolve.
absl::StatusOr<std::vector<SocketAddress>> Resolve(absl::string_view address);

// Starts connecting to `address` without blocking: a non-blocking,
// close-on-exec socket, with TCP_NODELAY when it is TCP. Sets `*in_progress`
// when the connect has not finished (EINPROGRESS; a unix connect never
// reports it, but EAGAIN, a full backlog, fails it): wait until the socket is
// writable, then FinishConnect(). UNAVAILABLE with the errno text when it
// failed.
absl::StatusOr<base::ScopedFd> StartConnect(const SocketAddress& address,
                                            bool* in_progress);

// The outcome of a connect that StartConnect left in progress, once the
// socket is writable or in error (SO_ERROR): OK, or UNAVAILABLE with the
// errno text ("connect to 127.0.0.1:1: Connection refused").
absl::Status FinishConnect(int fd, const SocketAddress& address);

// The address a socket is bound to.
absl::StatusOr<SocketAddress> LocalAddress(int fd);

// Accepts one pending connection as a non-blocking, close-on-exec socket, with
// TCP_NODELAY when it is TCP. An invalid ScopedFd means nothing was pending (or
// the pending connection vanished); errors are the ones that need handling
// (EMFILE...).
absl::StatusOr<base::ScopedFd> Accept(int listen_fd, SocketAddress* peer);

// The file a unix listening socket is bound to, as Listen() created it: the
// identity (device, inode) tells it apart from a file that replaced it since.
struct UnixSocketFile {
  std::string path;
  dev_t device = 0;
  ino_t inode = 0;
};

// The socket file at `path` (lstat). FAILED_PRECONDITION if it is not a
// socket, else the syscall's error.
absl::StatusOr<UnixSocketFile> StatUnixSocketFile(const std::string& path);

// Unlinks `file.path` if it is still that socket file; a file that another
// process put there since is left alone. Best effort, reports nothing.
void RemoveUnixSocketFile(const UnixSocketFile& file);

// Stops a listening socket for good: pending and future connections are
// refused. The fd stays valid until its owner closes it.
void StopListening(int listen_fd);

// Half-closes: our side sends FIN after what is queued.
void ShutdownWrite(int fd);

// One read of what is available, appended to `buffer`. Reads into the
// buffer's free space plus a 64 KiB stack buffer (readv), so the Buffer grows
// by what arrived, not by a guess. Resumes on readable.
absl::StatusOr<Transfer> ReadToBuffer(int fd, Buffer* buffer);

// One send of `buffer`'s readable bytes; consumes what was sent. A short
// send resumes on writable.
absl::StatusOr<Transfer> SendFromBuffer(int fd, Buffer* buffer);

// The pending error of a socket (SO_ERROR), for EPOLLERR.
absl::Status SocketError(int fd);

// Copies up to `max_bytes` of what has arrived on `fd` into `out` without
// consuming it (MSG_PEEK), so that whoever reads the socket next still sees
// every byte: what a shared port looks at before it hands the fd over.
// Transfer as for ReadToBuffer (eof: the peer's end of stream with nothing
// unread before it).
absl::StatusOr<Transfer> PeekSocket(int fd, char* out, std::size_t max_bytes);

// A connected pair of unix stream sockets, non-blocking and close-on-exec:
// a plaintext stream between two parts of one process (the shared port's
// relay to gRPC).
absl::StatusOr<std::pair<base::ScopedFd, base::ScopedFd>> StreamSocketPair();

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_SOCKET_OPS_H_
