#include "dualrpc/raw/server/raw_server.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/net/socket_ops.h"
#include "dualrpc/raw/server/server_config.h"
#include "dualrpc/raw/server/server_loop.h"
#include "dualrpc/raw/server/server_shared_state.h"

namespace dualrpc::raw {
namespace {

using net::EventLoop;

// Bounds on the limits, so that a frame payload (message + header + 4) fits
// the 32-bit length field and protobuf's int sizes, and so that an error
// response always fits the header limit.
constexpr std::uint32_t kMaxMessageLimit = 1024 * 1024 * 1024;
constexpr std::uint32_t kMinHeaderLimit = 256;
constexpr std::uint32_t kMaxHeaderLimit = 1024 * 1024;

// Reading resumes once the buffered total is a quarter of
// max_buffered_bytes under it: shedding frees that much at once instead of
// flapping at the limit.
constexpr std::int64_t kBufferedLowWaterDivisor = 4;

// Durations beyond this are "forever" for the loops' clock (which would
// overflow on InfiniteDuration()).
constexpr absl::Duration kForever = absl::Hours(24 * 365 * 100);

net::EventLoop::Clock::duration ToClockDuration(absl::Duration duration) {
  duration = std::clamp(duration, absl::ZeroDuration(), kForever);
  return std::chrono::duration_cast<net::EventLoop::Clock::duration>(
      absl::ToChronoNanoseconds(duration));
}

absl::StatusOr<ServerConfig> MakeConfig(const RawServer::Options& options,
                                        const rpc::ServiceRegistry* registry) {
  if (registry == nullptr) {
    return absl::InvalidArgumentError("RawServer needs a ServiceRegistry");
  }
  if (options.max_message_bytes < 1 ||
      options.max_message_bytes > kMaxMessageLimit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_message_bytes must be in [1, ", kMaxMessageLimit, "]"));
  }
  if (options.max_header_bytes < kMinHeaderLimit ||
      options.max_header_bytes > kMaxHeaderLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_header_bytes must be in [", kMinHeaderLimit, ", ",
                     kMaxHeaderLimit, "]"));
  }
  if (options.max_connections < 1 || options.max_calls_in_flight < 1 ||
      options.listen_backlog < 1) {
    return absl::InvalidArgumentError(
        "max_connections, max_calls_in_flight and listen_backlog must be "
        "positive");
  }
  if (options.tls != nullptr && options.max_tls_handshakes < 1) {
    return absl::InvalidArgumentError("max_tls_handshakes must be positive");
  }
  if (options.handshake_timeout <= absl::ZeroDuration() ||
      options.frame_timeout <= absl::ZeroDuration() ||
      options.min_frame_rate_bytes_per_second < 1 ||
      options.max_pending_connections < 1) {
    return absl::InvalidArgumentError(
        "handshake_timeout, frame_timeout, min_frame_rate_bytes_per_second "
        "and max_pending_connections must be positive");
  }
  if (options.output_high_water_bytes < 1 || options.max_buffered_bytes < 1) {
    return absl::InvalidArgumentError(
        "output_high_water_bytes and max_buffered_bytes must be positive");
  }
  if (options.idle_timeout <= absl::ZeroDuration() ||
      options.close_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "idle_timeout and close_timeout must be positive");
  }
  ServerConfig config;
  config.limits.max_message_bytes = options.max_message_bytes;
  config.limits.max_header_bytes = options.max_header_bytes;
  config.max_connections = options.max_connections;
  config.max_calls_in_flight = options.max_calls_in_flight;
  config.connection.high_water_mark = options.output_high_water_bytes;
  config.connection.close_timeout = ToClockDuration(options.close_timeout);
  config.idle_timeout = ToClockDuration(options.idle_timeout);
  config.registry = registry;
  config.tls = options.tls;
  const int loops = std::max(1, options.event_loop_threads);
  config.max_tls_handshakes_per_loop =
      std::max(1, options.max_tls_handshakes / loops);
  config.handshake_timeout = ToClockDuration(options.handshake_timeout);
  config.frame_timeout = ToClockDuration(options.frame_timeout);
  config.min_frame_rate_bytes_per_second =
      options.min_frame_rate_bytes_per_second;
  config.max_pending_connections_per_loop =
      std::max(1, options.max_pending_connections / loops);
  config.max_buffered_bytes = options.max_buffered_bytes;
  config.buffered_low_water_bytes =
      options.max_buffered_bytes -
      options.max_buffered_bytes / kBufferedLowWaterDivisor;
  return config;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RawServer>> RawServer::Start(
    const Options& options, const rpc::ServiceRegistry* registry) {
  absl::StatusOr<ServerConfig> config = MakeConfig(options, registry);
  if (!config.ok()) return config.status();
  if (options.listen_address.empty()) {
    return StartLoops(options, *config, base::ScopedFd(), "", std::nullopt);
  }
  absl::StatusOr<base::ScopedFd> listener =
      net::Listen(options.listen_address, options.listen_backlog);
  if (!listener.ok()) return listener.status();
  absl::StatusOr<net::SocketAddress> bound = net::LocalAddress(listener->get());
  if (!bound.ok()) return bound.status();

  std::string address = bound->ToHostPort();
  std::optional<net::UnixSocketFile> socket_file;
  if (bound->is_unix()) {
    address = net::UnixAddressUri(bound->unix_path());
    absl::StatusOr<net::UnixSocketFile> file =
        net::StatUnixSocketFile(bound->unix_path());
    if (!file.ok()) return file.status();
    socket_file = *std::move(file);
  }

  return StartLoops(options, *config, *std::move(listener), std::move(address),
                    std::move(socket_file));
}

absl::StatusOr<std::unique_ptr<RawServer>> RawServer::StartLoops(
    const Options& options, const ServerConfig& config,
    base::ScopedFd listener, std::string address,
    std::optional<net::UnixSocketFile> socket_file) {
  const int listen_fd = listener.get();
  std::unique_ptr<RawServer> server(new RawServer(
      std::move(listener), std::move(address), std::move(socket_file),
      std::make_unique<ServerSharedState>(config, listen_fd)));

  const int thread_count = std::max(1, options.event_loop_threads);
  for (int i = 0; i < thread_count; ++i) {
    absl::StatusOr<std::unique_ptr<net::EventLoop>> loop =
        net::EventLoop::Create();
    if (!loop.ok()) return loop.status();
    auto server_loop =
        std::make_unique<ServerLoop>(*std::move(loop), server->shared_.get());
    if (absl::Status listening =
            listen_fd < 0 ? absl::OkStatus() : server_loop->StartListening();
        !listening.ok()) {
      return listening;
    }
    server->shared_->loops.push_back(server_loop.get());
    server->loops_.push_back(std::move(server_loop));
  }
  absl::MutexLock lock(&server->wait_mu_);
  for (const std::unique_ptr<ServerLoop>& loop : server->loops_) {
    server->threads_.emplace_back([loop = loop.get()] { loop->Run(); });
  }
  return server;
}

RawServer::RawServer(base::ScopedFd listener, std::string address,
                     std::optional<net::UnixSocketFile> socket_file,
                     std::unique_ptr<ServerSharedState> shared)
    : listener_(std::move(listener)),
      address_(std::move(address)),
      socket_file_(std::move(socket_file)),
      shared_(std::move(shared)) {}

RawServer::~RawServer() {
  Drain(absl::ZeroDuration());
  Wait();
  if (socket_file_.has_value()) net::RemoveUnixSocketFile(*socket_file_);
}

void RawServer::Drain(absl::Duration grace) {
  const net::EventLoop::Clock::time_point deadline =
      net::EventLoop::Clock::now() + ToClockDuration(grace);
  {
    absl::MutexLock lock(&drain_mu_);
    if (drain_deadline_.has_value() && *drain_deadline_ <= deadline) return;
    drain_deadline_ = deadline;
  }
  for (const std::unique_ptr<ServerLoop>& loop : loops_) {
    loop->PostDrain(deadline);
  }
}

absl::Status RawServer::Adopt(std::unique_ptr<net::ByteStream> stream,
                              const net::SocketAddress& peer) {
  {
    absl::MutexLock lock(&drain_mu_);
    if (drain_deadline_.has_value()) {
      shared_->connections_accepted.fetch_add(1, std::memory_order_relaxed);
      shared_->refused_draining.fetch_add(1, std::memory_order_relaxed);
      return absl::UnavailableError("raw server is shutting down");
    }
  }
  // A drain that begins from here on is posted to the stream's loop too:
  // whichever arrives first, the loop drains the stream when it adds it, or
  // has stopped and closes it unread.
  const std::uint64_t turn =
      shared_->connections_accepted.fetch_add(1, std::memory_order_relaxed);
  shared_->loops[turn % shared_->loops.size()]->PostConnection(
      std::move(stream), peer);
  return absl::OkStatus();
}

rpc::TransportStats RawServer::GetStats() const {
  const ServerSharedState& shared = *shared_;
  auto load = [](const auto& counter) {
    return static_cast<std::int64_t>(counter.load(std::memory_order_relaxed));
  };
  rpc::TransportStats stats;
  stats.connections_open = load(shared.connections);
  stats.connections_accepted_total = load(shared.connections_accepted);
  stats.refused_total = {
      {rpc::kRefusedMaxConnections, load(shared.refused_max_connections)},
      {rpc::kRefusedDraining, load(shared.refused_draining)},
      {rpc::kRefusedMaxHandshakes, load(shared.refused_max_handshakes)},
      {rpc::kRefusedHandshakeTimeout, load(shared.refused_handshake_timeout)},
      {rpc::kRefusedMaxPending, load(shared.refused_max_pending)},
      {rpc::kRefusedEvicted, load(shared.refused_evicted)},
  };
  stats.tls_handshakes_total = load(shared.tls_handshakes);
  stats.tls_handshake_failures_total = load(shared.tls_handshake_failures);
  return stats;
}

void RawServer::Wait() {
  absl::MutexLock lock(&wait_mu_);
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

}  // namespace dualrpc::raw
