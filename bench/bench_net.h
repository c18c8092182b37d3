#ifndef DUALRPC_BENCH_BENCH_NET_H_
#define DUALRPC_BENCH_BENCH_NET_H_

// Socket and file plumbing shared by the bench's own servers and clients.

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

// Writes {"name": "address", ...} to `path` atomically (temp + rename), the
// format dualrpc-server's --ready_file uses.
absl::Status WriteReadyFile(
    const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& addresses);

// The string value of "key" in such a file's text, or NOT_FOUND.
absl::StatusOr<std::string> ReadyFileValue(absl::string_view json,
                                           absl::string_view key);

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_BENCH_NET_H_
