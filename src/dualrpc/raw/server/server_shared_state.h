#ifndef DUALRPC_RAW_SERVER_SERVER_SHARED_STATE_H_
#define DUALRPC_RAW_SERVER_SERVER_SHARED_STATE_H_

#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "dualrpc/net/memory_budget.h"

#include "dualrpc/raw/server/server_config.h"

namespace dualrpc::raw {

class ServerLoop;

// What every loop of one server reads and changes: the counters the loops
// update with atomics, and the wiring (listening socket, loops) fixed before
// the loop threads start. Owned by RawServer, which destroys it only after
// every loop thread has been joined.
struct ServerSharedState {
  ServerSharedState(ServerConfig server_config, int listener)
      : budget(server_config.max_buffered_bytes,
               server_config.buffered_low_water_bytes,
               [this](bool paused) { OnBudgetChange(paused); }),
        config(WithBudget(std::move(server_config), &budget)),
        listen_fd(listener) {}

  // Buffered input + unsent output (buffer storage) of every connection of
  // every loop (RawServer::Options::max_buffered_bytes). Each connection's
  // TcpConnection reports to it; over it, no connection reads and every
  // loop sheds its largest connections (ServerLoop::ShedMemory) until it is
  // under the low-water mark. Declared before `config`, which points to it.
  net::MemoryBudget budget;
  const ServerConfig config;
  // The listening socket, owned by RawServer. Every loop's Acceptor watches
  // it (with EPOLLEXCLUSIVE) until it drains.
  const int listen_fd;
  // Every loop of the server, not owned. Filled before the loop threads
  // start; read-only afterwards.
  std::vector<ServerLoop*> loops;

  // Open connections across all loops, including ones being rejected.
  std::atomic<int> connections{0};
  // Of those, the ones counted against max_connections: past their preface,
  // admitted, not yet closed or evicted.
  std::atomic<int> admitted_connections{0};
  // Loops still accepting from listen_fd; the last one to stop shuts it
  // down.
  std::atomic<int> loops_listening{0};
  // Connections accepted so far, by any loop: the n-th goes to
  // loops[n % loops.size()].
  std::atomic<std::uint64_t> connections_accepted{0};

  // The rest of RawServer::GetStats (rpc::TransportStats), each bumped,
  // relaxed, where its event happens: never on a call's path.
  // Connections refused by reason (rpc::kRefused*).
  std::atomic<std::int64_t> refused_max_connections{0};
  std::atomic<std::int64_t> refused_draining{0};
  std::atomic<std::int64_t> refused_max_handshakes{0};
  std::atomic<std::int64_t> refused_handshake_timeout{0};
  std::atomic<std::int64_t> refused_max_pending{0};
  std::atomic<std::int64_t> refused_evicted{0};
  // TLS handshakes of accepted connections that completed / ended without
  // completing (failed, timed out, crowded out, peer gone).
  std::atomic<std::int64_t> tls_handshakes{0};
  std::atomic<std::int64_t> tls_handshake_failures{0};
  // Connections closed because the budget was over (ShedMemory).
  std::atomic<std::int64_t> shed_for_memory{0};

 private:
  static ServerConfig WithBudget(ServerConfig config,
                                 net::MemoryBudget* budget) {
    config.connection.budget = budget;
    return config;
  }
  // The budget's flips, on the thread that caused them: posted to every
  // loop (server_loop.cc).
  void OnBudgetChange(bool paused);
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_SERVER_SERVER_SHARED_STATE_H_
