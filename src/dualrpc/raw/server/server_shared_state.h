#ifndef DUALRPC_RAW_SERVER_SERVER_SHARED_STATE_H_
#define DUALRPC_RAW_SERVER_SERVER_SHARED_STATE_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "dualrpc/raw/server/server_config.h"

namespace dualrpc::raw {

class ServerLoop;

// What every loop of one server reads and changes: the counters the loops
// update with atomics, and the wiring (listening socket, loops) fixed before
// the loop threads start. Owned by RawServer, which destroys it only after
// every loop thread has been joined.
struct ServerSharedState {
  ServerSharedState(ServerConfig server_config, int listener)
      : config(server_config), listen_fd(listener) {}

  const ServerConfig config;
  // The listening socket, owned by RawServer. Every loop's Acceptor watches
  // it (with EPOLLEXCLUSIVE) until it drains.
  const int listen_fd;
  // Every loop of the server, not owned. Filled before the loop threads
  // start; read-only afterwards.
  std::vector<ServerLoop*> loops;

  // Open connections across all loops, including ones being rejected.
  std::atomic<int> connections{0};
  // Loops still accepting from listen_fd; the last one to stop shuts it
  // down.
  std::atomic<int> loops_listening{0};
  // Connections accepted so far, by any loop: the n-th goes to
  // loops[n % loops.size()].
  std::atomic<std::uint64_t> connections_accepted{0};
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_SERVER_SERVER_SHARED_STATE_H_
