#ifndef DUALRPC_RAW_SERVER_SERVER_CONFIG_H_
#define DUALRPC_RAW_SERVER_SERVER_CONFIG_H_

#include <cstdint>
#include <memory>

#include "dualrpc/net/event_loop.h"
#include "dualrpc/net/tcp_connection.h"
#include "dualrpc/net/tls.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/rpc/service_registry.h"

namespace dualrpc::raw {

// RawServer::Options, validated and in the units the loops use. Read-only
// once the loops start; what the loops share and change is in
// ServerSharedState.
struct ServerConfig {
  FrameLimits limits;
  int max_connections = 0;
  int max_calls_in_flight = 0;
  net::TcpConnection::Options connection;
  net::EventLoop::Clock::duration idle_timeout{};
  // Not owned; outlives the server.
  const rpc::ServiceRegistry* registry = nullptr;
  // Null: plaintext (RawServer::Options::tls).
  std::shared_ptr<net::TlsServerContext> tls;
  // RawServer::Options of the same names (§4.3 time bounds).
  net::EventLoop::Clock::duration handshake_timeout{};
  net::EventLoop::Clock::duration frame_timeout{};
  std::int64_t min_frame_rate_bytes_per_second = 1;
  // RawServer::Options::max_pending_connections, this loop's share.
  int max_pending_connections_per_loop = 1;
  // RawServer::Options::max_tls_handshakes, this loop's share.
  int max_tls_handshakes_per_loop = 1;
  // RawServer::Options::max_buffered_bytes, and the total under which
  // reading resumes once it was over (ServerSharedState::budget).
  std::int64_t max_buffered_bytes = 0;
  std::int64_t buffered_low_water_bytes = 0;
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_SERVER_SERVER_CONFIG_H_
