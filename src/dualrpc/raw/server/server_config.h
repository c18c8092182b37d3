#ifndef DUALRPC_RAW_SERVER_SERVER_CONFIG_H_
#define DUALRPC_RAW_SERVER_SERVER_CONFIG_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "dualrpc/net/event_loop.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/net/tcp_connection.h"
#include "dualrpc/rpc/service_registry.h"

namespace dualrpc::raw {

class ServerLoop;

// RawServer::Options, validated and in the units the loops use. Read-only
// once the loops start.
struct ServerConfig {
  FrameLimits limits;
  int max_connections = 0;
  int max_calls_in_flight = 0;
  net::TcpConnection::Options connection;
  net::EventLoop::Clock::duration idle_timeout{};
  // Not owned; outlives the server.
  const rpc::ServiceRegistry* registry = nullptr;
};

// What every loop of one server shares. Owned by RawServer, which destroys
// it only after every loop thread has been joined.
struct SharedServerState {
  explicit SharedServerState(ServerConfig server_config, int listener)
      : config(server_config), listen_fd(listener) {}

  const ServerConfig config;
  // The listening socket, owned by RawServer. Every loop watches it (with
  // EPOLLEXCLUSIVE) until it drains.
  const int listen_fd;
  // Open connections across all loops, including ones being rejected.
  std::atomic<int> connections{0};
  // Loops still watching listen_fd; the last one to stop shuts it down.
  std::atomic<int> loops_listening{0};
  // Every loop of the server, not owned. Filled before the loop threads
  // start; read-only afterwards.
  std::vector<ServerLoop*> loops;
  // Connections accepted so far, by any loop: the n-th goes to
  // loops[n % loops.size()].
  std::atomic<std::uint64_t> connections_accepted{0};
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_SERVER_SERVER_CONFIG_H_
