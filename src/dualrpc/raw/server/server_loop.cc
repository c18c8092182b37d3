#include "dualrpc/raw/server/server_loop.h"

#include <sys/epoll.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "dualrpc/raw/server/server_connection.h"

namespace dualrpc::raw {
namespace {

// Connections accepted per wakeup before other events get a turn; the
// listener is level-triggered, so the rest are picked up next iteration.
constexpr int kMaxAcceptsPerWakeup = 16;

// After accept fails for want of fds or memory, how long a loop leaves the
// listener alone. Without the pause a level-triggered listener would spin.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

}  // namespace

ServerLoop::ServerLoop(std::unique_ptr<net::EventLoop> loop,
                       SharedServerState* shared)
    : loop_(std::move(loop)), shared_(shared) {}

ServerLoop::~ServerLoop() = default;

absl::Status ServerLoop::StartListening() {
  listening_ = true;
  shared_->loops_listening.fetch_add(1, std::memory_order_relaxed);
  return WatchListener();
}

absl::Status ServerLoop::WatchListener() {
  absl::Status watched =
      loop_->Watch(shared_->listen_fd, EPOLLIN | EPOLLEXCLUSIVE, this);
  listener_watched_ = watched.ok();
  return watched;
}

void ServerLoop::Run() {
  loop_->Run();
  // Quit only comes from QuitIfDrained, so this is normally empty; closing
  // here keeps the invariants if that ever changes.
  StopAccepting();
  for (auto& [id, connection] : connections_) connection->CloseNow();
  shared_->connections.fetch_sub(static_cast<int>(connections_.size()),
                                 std::memory_order_relaxed);
  connections_.clear();
  // Completions still queued own their calls; with every connection gone,
  // nothing refers to those calls any more, so they can be destroyed.
  // Sockets still queued for this loop (dealt, not yet added, not counted)
  // are closed with their tasks.
  loop_->CloseMailbox();
}

void ServerLoop::PostDrain(net::EventLoop::Clock::time_point deadline) {
  loop_->Post([this, deadline] { BeginDrain(deadline); });
}

void ServerLoop::CompleteCall(std::unique_ptr<ServerCall> call,
                              absl::Status status) {
  if (invoking_ != nullptr && invoking_->id() == call->connection_id()) {
    invoking_->FinishCall(std::move(call), std::move(status));
    return;
  }
  auto it = connections_.find(call->connection_id());
  if (it == connections_.end()) return;  // Closed since: drop the result.
  it->second->FinishCall(std::move(call), std::move(status));
}

void ServerLoop::OnConnectionClosed(std::uint64_t connection_id) {
  // Not now: the connection is somewhere up the stack of this call.
  loop_->Defer([this, connection_id] {
    if (connections_.erase(connection_id) != 0) {
      shared_->connections.fetch_sub(1, std::memory_order_relaxed);
    }
    QuitIfDrained();
  });
}

void ServerLoop::OnIoEvents(std::uint32_t /*events*/) {
  for (int i = 0; i < kMaxAcceptsPerWakeup && listener_watched_; ++i) {
    net::SocketAddress peer;
    absl::StatusOr<base::ScopedFd> accepted = net::Accept(shared_->listen_fd, &peer);
    if (!accepted.ok()) {
      // TODO(perf): muduo keeps a spare fd to accept-and-close under EMFILE,
      // which sheds the connection instead of leaving it queued.
      PauseAccepting();
      return;
    }
    if (!accepted->valid()) return;  // Another loop took it, or it vanished.
    DealConnection(*std::move(accepted), peer);
  }
}

void ServerLoop::DealConnection(base::ScopedFd socket, const net::SocketAddress& peer) {
  const std::uint64_t turn =
      shared_->connections_accepted.fetch_add(1, std::memory_order_relaxed);
  ServerLoop* const owner = shared_->loops[turn % shared_->loops.size()];
  if (owner == this) {
    AddConnection(std::move(socket), peer);
    return;
  }
  // If `owner` has stopped, Post destroys the task here and the socket with
  // it: the peer sees the connection closed, and nothing was counted yet.
  owner->loop_->Post([owner, socket = std::move(socket), peer]() mutable {
    owner->AddConnection(std::move(socket), peer);
  });
}

void ServerLoop::AddConnection(base::ScopedFd socket, const net::SocketAddress& peer) {
  const int open =
      shared_->connections.fetch_add(1, std::memory_order_relaxed) + 1;
  const std::uint64_t id = next_connection_id_++;
  auto connection =
      std::make_unique<ServerConnection>(this, id, std::move(socket), peer);
  if (!connection->Start().ok()) {
    shared_->connections.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  ServerConnection* const added = connection.get();
  connections_.emplace(id, std::move(connection));
  // TODO(security): rejected connections count against max_connections
  // until their close timeout at most, but nothing bounds how many are
  // being rejected at once.
  if (open > config().max_connections) {
    added->Reject(absl::ResourceExhaustedError(absl::StrCat(
        "too many connections (limit ", config().max_connections, ")")));
  } else if (draining_) {
    added->BeginDrain();
  }
}

void ServerLoop::PauseAccepting() {
  if (listener_watched_) {
    loop_->Unwatch(shared_->listen_fd);
    listener_watched_ = false;
  }
  accept_retry_timer_ =
      loop_->RunAt(loop_->now() + kAcceptRetryDelay, [this] {
        accept_retry_timer_ = {};
        if (listening_ && !WatchListener().ok()) PauseAccepting();
      });
}

void ServerLoop::StopAccepting() {
  loop_->CancelTimer(accept_retry_timer_);
  accept_retry_timer_ = {};
  if (listener_watched_) {
    loop_->Unwatch(shared_->listen_fd);
    listener_watched_ = false;
  }
  if (!listening_) return;
  listening_ = false;
  // The last loop out shuts the listener, so that new connection attempts
  // are refused instead of waiting in a backlog nobody accepts from.
  if (shared_->loops_listening.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    net::StopListening(shared_->listen_fd);
  }
}

void ServerLoop::BeginDrain(net::EventLoop::Clock::time_point deadline) {
  if (!draining_) {
    draining_ = true;
    StopAccepting();
    for (auto& [id, connection] : connections_) connection->BeginDrain();
  } else if (!drain_deadline_timer_.valid() ||
             deadline >= drain_deadline_timer_.when) {
    return;  // Already past the deadline, or it is not earlier.
  }
  loop_->CancelTimer(drain_deadline_timer_);
  drain_deadline_timer_ = loop_->RunAt(deadline, [this] {
    drain_deadline_timer_ = {};
    FinishDrain();
  });
  QuitIfDrained();
}

void ServerLoop::FinishDrain() {
  for (auto& [id, connection] : connections_) connection->FinishDrain();
}

void ServerLoop::QuitIfDrained() {
  if (!draining_ || !connections_.empty()) return;
  loop_->CancelTimer(drain_deadline_timer_);
  drain_deadline_timer_ = {};
  loop_->Quit();
}

}  // namespace dualrpc::raw
