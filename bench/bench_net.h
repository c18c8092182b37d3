#ifndef DUALRPC_BENCH_BENCH_NET_H_
#define DUALRPC_BENCH_BENCH_NET_H_

// Socket plumbing shared by the bench's own servers and clients (their
// ready files: dualrpc/server/ready_file.h).

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dualrpc/base/scoped_fd.h"

namespace dualrpc::bench {

// A listening TCP socket bound to "HOST:PORT" (port 0 picks one).
struct Listener {
  base::ScopedFd fd;
  // "HOST:PORT" with the port actually bound.
  std::string address;
};
absl::StatusOr<Listener> ListenTcp(absl::string_view host_port,
                                   int backlog = 1024);

// A connected TCP socket with TCP_NODELAY, non-blocking if asked.
absl::StatusOr<base::ScopedFd> ConnectTcp(absl::string_view host_port,
                                          bool non_blocking);

// Sets O_NONBLOCK and TCP_NODELAY on an accepted socket.
absl::Status PrepareAcceptedSocket(int fd);

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_BENCH_NET_H_
