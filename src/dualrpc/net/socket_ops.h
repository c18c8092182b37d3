#ifndef DUALRPC_NET_SOCKET_OPS_H_
#define DUALRPC_NET_SOCKET_OPS_H_

// Every socket syscall of dualrpc::net, wrapped once: errno becomes an
// absl::Status here (through PosixError) and nowhere else. Sockets are
// non-blocking and close-on-exec; sends never raise SIGPIPE.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/net/socket_address.h"
#include "dualrpc/net/transfer.h"

namespace dualrpc::net {

// Binds and listens on `host_port` ("HOST:PORT", "[V6]:PORT"; HOST may be a
// name; port 0 picks a free port). Non-blocking, SO_REUSEADDR.
// INVALID_ARGUMENT for a malformed address, else the syscall's error.
absl::StatusOr<base::ScopedFd> Listen(absl::string_view host_port, int backlog);

// Connects to `host_port` ("HOST:PORT", "[V6]:PORT"; HOST may be a name)
// within `timeout`, trying each resolved address in turn. The socket is
// non-blocking, close-on-exec, with TCP_NODELAY. UNAVAILABLE when no address
// answers (what a client reports for a server it cannot reach).
// TODO(perf): blocks the calling thread (an event loop) for up to `timeout`.
absl::StatusOr<base::ScopedFd> Connect(absl::string_view host_port,
                                 absl::Duration timeout);

// The address a socket is bound to.
absl::StatusOr<SocketAddress> LocalAddress(int fd);

// Accepts one pending connection as a non-blocking, close-on-exec socket with
// TCP_NODELAY. An invalid ScopedFd means nothing was pending (or the pending
// connection vanished); errors are the ones that need handling (EMFILE...).
absl::StatusOr<base::ScopedFd> Accept(int listen_fd, SocketAddress* peer);

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

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_SOCKET_OPS_H_
