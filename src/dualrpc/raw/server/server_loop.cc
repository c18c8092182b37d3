#include "dualrpc/raw/server/server_loop.h"

#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dualrpc/base/heap.h"
#include "dualrpc/net/socket_ops.h"
#include "dualrpc/raw/server/server_connection.h"
#include "dualrpc/raw/server/server_stream_call.h"

namespace dualrpc::raw {
namespace {

// A connection whose buffers held at least this much is followed by a heap
// trim once it is gone (ScheduleHeapTrim).
constexpr std::size_t kHeapTrimAfterBytes = 1024 * 1024;
// How long after such a close the trim runs: closes in a burst share one.
constexpr std::chrono::milliseconds kHeapTrimDelay{100};
// Connections whose buffers hold no more than one idle buffer's worth
// (what TcpConnection keeps between calls) are never shed: a well-behaved
// client between calls holds a few KiB, and the loops' view of each other's
// largest may be stale. Offenders hold more: what they sent and what they
// do not read.
constexpr std::size_t kShedFloorBytes = net::TcpConnection::kMaxIdleBufferBytes;

}  // namespace

void ServerSharedState::OnBudgetChange(bool paused) {
  for (ServerLoop* loop : loops) loop->PostMemoryEvent(paused);
}

ServerLoop::ServerLoop(std::unique_ptr<net::EventLoop> loop,
                       ServerSharedState* shared)
    : loop_(std::move(loop)),
      shared_(shared),
      acceptor_(loop_.get(), shared_->listen_fd, net::Acceptor::Options(),
                [this](base::ScopedFd socket, const net::SocketAddress& peer) {
                  DealConnection(std::move(socket), peer);
                }) {}

ServerLoop::~ServerLoop() = default;

absl::Status ServerLoop::StartListening() {
  absl::Status started = acceptor_.Start();
  if (!started.ok()) return started;
  shared_->loops_listening.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

void ServerLoop::Run() {
  loop_->Run();
  // Quit only comes from QuitIfDrained, so this is normally empty; closing
  // here keeps the invariants if that ever changes.
  StopAccepting();
  loop_->CancelTimer(pending_timer_);
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
  if (call.get() == invoking_.call) {
    invoking_.call = nullptr;
    invoking_.connection->FinishCall(std::move(call), std::move(status),
                                     /*completed_inline=*/true);
    return;
  }
  auto it = connections_.find(call->connection_id());
  if (it == connections_.end()) return;  // Closed since: drop the result.
  it->second->FinishCall(std::move(call), std::move(status),
                         /*completed_inline=*/false);
}

ServerStreamCall* ServerLoop::AdoptStream(
    std::unique_ptr<ServerStreamCall> stream) {
  ServerStreamCall* const adopted = stream.get();
  streams_.emplace(adopted, std::move(stream));
  return adopted;
}

void ServerLoop::ReleaseStream(ServerStreamCall* stream) {
  streams_.erase(stream);
  QuitIfDrained();
}

void ServerLoop::OnConnectionClosed(std::uint64_t connection_id) {
  if (auto it = handshaking_.find(connection_id); it != handshaking_.end()) {
    EndHandshake(it);
  }
  pending_.erase(connection_id);
  if (admitted_.erase(connection_id) != 0) {
    shared_->admitted_connections.fetch_sub(1, std::memory_order_relaxed);
  }
  // Not now: the connection is somewhere up the stack of this call.
  loop_->Defer([this, connection_id] {
    auto it = connections_.find(connection_id);
    if (it != connections_.end()) {
      if (it->second->peak_buffered_bytes() >= kHeapTrimAfterBytes) {
        ScheduleHeapTrim();
      }
      connections_.erase(it);
      shared_->connections.fetch_sub(1, std::memory_order_relaxed);
    }
    QuitIfDrained();
  });
}

void ServerLoop::PostMemoryEvent(bool paused) {
  loop_->Post([this, paused] {
    if (paused) {
      ShedMemory();
      return;
    }
    for (auto& [id, connection] : connections_) connection->ResumeReading();
  });
}

void ServerLoop::ShedMemory() {
  net::MemoryBudget& budget = shared_->budget;
  // Every loop's published figure, this one's included (it never beats
  // `mine`, being equal to it), indexed as shared_->loops.
  std::vector<std::int64_t> figures;
  while (budget.total() >= budget.low_water()) {
    ServerConnection* largest = nullptr;
    std::size_t largest_bytes = kShedFloorBytes;
    for (auto& [id, connection] : connections_) {
      if (!connection->closed() &&
          connection->buffered_bytes() > largest_bytes) {
        largest = connection.get();
        largest_bytes = connection->buffered_bytes();
      }
    }
    const std::int64_t mine =
        largest == nullptr ? 0 : static_cast<std::int64_t>(largest_bytes);
    largest_buffered_.store(mine, std::memory_order_relaxed);
    figures.clear();
    for (ServerLoop* loop : shared_->loops) {
      figures.push_back(loop->largest_buffered_.load(std::memory_order_relaxed));
    }
    if (const std::optional<std::size_t> ask =
            net::LoopToAskToShed(mine, figures);
        ask.has_value()) {
      // Its figure may be stale: it looks again, and asks back if so.
      shared_->loops[*ask]->PostMemoryEvent(true);
      break;
    }
    // Nothing over the floor anywhere: reading stays paused until frees
    // (flushes, closes) bring the total under the low-water mark.
    if (largest == nullptr) break;
    shared_->shed_for_memory.fetch_add(1, std::memory_order_relaxed);
    // Frees its buffers now (the budget drops); destroyed later.
    largest->ShedForMemory();
  }
  // Under the low-water mark by frees that raced with the flip to paused:
  // this re-reads the total and resumes reading if so.
  budget.Add(0);
}

void ServerLoop::ScheduleHeapTrim() {
  if (heap_trim_timer_.valid()) return;
  heap_trim_timer_ = loop_->RunAt(loop_->now() + kHeapTrimDelay, [this] {
    heap_trim_timer_ = {};
    base::ReleaseFreedHeap();
  });
}

bool ServerLoop::OnPrefaceReceived(std::uint64_t connection_id) {
  if (!handshaking_.empty()) {
    if (auto it = handshaking_.find(connection_id); it != handshaking_.end()) {
      EndHandshake(it);
    }
  }
  pending_.erase(connection_id);
  // Draining has already sent it GOAWAY; it closes with the rest.
  if (draining_) return true;
  const int limit = config().max_connections;
  if (shared_->admitted_connections.fetch_add(1, std::memory_order_relaxed) >=
          limit &&
      !EvictForNewcomer()) {
    shared_->admitted_connections.fetch_sub(1, std::memory_order_relaxed);
    shared_->refused_max_connections.fetch_add(1, std::memory_order_relaxed);
    connections_.at(connection_id)
        ->Reject(absl::ResourceExhaustedError(
            absl::StrCat("too many connections (limit ", limit, ")")));
    return false;
  }
  admitted_.insert(connection_id);
  return true;
}

bool ServerLoop::EvictForNewcomer() {
  ServerConnection* victim = nullptr;
  ServerConnection::Standing worst;
  for (std::uint64_t id : admitted_) {
    ServerConnection* const candidate = connections_.at(id).get();
    const ServerConnection::Standing standing = candidate->standing();
    if (standing.kind == ServerConnection::Standing::kBusy) continue;
    if (victim == nullptr || standing.kind < worst.kind ||
        (standing.kind == worst.kind && standing.since < worst.since)) {
      victim = candidate;
      worst = standing;
    }
  }
  if (victim == nullptr) return false;
  // Uncounted now, so that its slot is the newcomer's even if it takes
  // close_timeout to go.
  admitted_.erase(victim->id());
  shared_->admitted_connections.fetch_sub(1, std::memory_order_relaxed);
  shared_->refused_evicted.fetch_add(1, std::memory_order_relaxed);
  victim->Evict(absl::StrCat("too many connections (limit ",
                             config().max_connections,
                             "): closed to admit a newer one"));
  return true;
}

bool ServerLoop::EndHandshake(HandshakeMap::iterator it) {
  const bool complete = it->second->handshake_complete();
  handshaking_.erase(it);
  (complete ? shared_->tls_handshakes : shared_->tls_handshake_failures)
      .fetch_add(1, std::memory_order_relaxed);
  return complete;
}

void ServerLoop::DealConnection(base::ScopedFd socket,
                                const net::SocketAddress& peer) {
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

void ServerLoop::PostConnection(std::unique_ptr<net::ByteStream> stream,
                                const net::SocketAddress& peer) {
  // If this loop has stopped, Post destroys the task here and the stream
  // with it: the peer sees the connection closed, and nothing was counted.
  // An adopted stream is past any TLS handshake (its owner bounded it).
  loop_->Post([this, stream = std::move(stream), peer]() mutable {
    AddStream(std::move(stream), nullptr, peer);
  });
}

void ServerLoop::AddConnection(base::ScopedFd socket,
                               const net::SocketAddress& peer) {
  if (config().tls == nullptr) {
    AddStream(std::make_unique<net::PlainTcpStream>(std::move(socket)),
              nullptr, peer);
    return;
  }
  std::unique_ptr<net::TlsStream> tls =
      config().tls->WrapServer(std::move(socket));
  net::TlsStream* const handshake = tls.get();
  AddStream(std::move(tls), handshake, peer);
}

void ServerLoop::AddStream(std::unique_ptr<net::ByteStream> stream,
                           net::TlsStream* tls,
                           const net::SocketAddress& peer) {
  if (tls != nullptr) MakeRoomForHandshake();
  MakeRoomForPending();
  shared_->connections.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t id = next_connection_id_++;
  auto connection =
      std::make_unique<ServerConnection>(this, id, std::move(stream), peer);
  if (!connection->Start().ok()) {
    shared_->connections.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  ServerConnection* const added = connection.get();
  connections_.emplace(id, std::move(connection));
  if (tls != nullptr) handshaking_.emplace(id, tls);
  // Counted against max_connections once its preface arrives
  // (OnPrefaceReceived); until then it is pending.
  pending_.emplace(id, loop_->now());
  if (!pending_timer_.valid()) {
    pending_timer_ = loop_->RunAt(loop_->now() + config().handshake_timeout,
                                  [this] { OnPendingTimer(); });
  }
  if (draining_) {
    shared_->refused_draining.fetch_add(1, std::memory_order_relaxed);
    added->BeginDrain();
  }
}

void ServerLoop::MakeRoomForHandshake() {
  const std::size_t cap =
      static_cast<std::size_t>(config().max_tls_handshakes_per_loop);
  // Each Abort reaches OnConnectionClosed, which erases from handshaking_:
  // no iterator is held across it.
  while (handshaking_.size() >= cap) {
    const std::uint64_t id = handshaking_.begin()->first;
    if (EndHandshake(handshaking_.begin())) continue;
    shared_->refused_max_handshakes.fetch_add(1, std::memory_order_relaxed);
    // Its OnClosed defers the destruction.
    connections_.at(id)->Abort(absl::ResourceExhaustedError(
        "too many TLS handshakes in progress"));
  }
}

void ServerLoop::MakeRoomForPending() {
  const std::size_t cap =
      static_cast<std::size_t>(config().max_pending_connections_per_loop);
  // Each Abort reaches OnConnectionClosed, which erases from pending_ (a
  // no-op here): no iterator is held across it.
  while (pending_.size() >= cap) {
    const std::uint64_t id = pending_.begin()->first;
    pending_.erase(pending_.begin());
    shared_->refused_max_pending.fetch_add(1, std::memory_order_relaxed);
    connections_.at(id)->Abort(absl::ResourceExhaustedError(
        "too many connections awaiting their preface"));
  }
}

void ServerLoop::OnPendingTimer() {
  pending_timer_ = {};
  const net::EventLoop::Clock::time_point now = loop_->now();
  while (!pending_.empty()) {
    const auto [id, added_at] = *pending_.begin();
    const net::EventLoop::Clock::time_point due =
        added_at + config().handshake_timeout;
    if (due > now) {
      pending_timer_ = loop_->RunAt(due, [this] { OnPendingTimer(); });
      return;
    }
    pending_.erase(pending_.begin());
    shared_->refused_handshake_timeout.fetch_add(1, std::memory_order_relaxed);
    // §4.3: no preface was ever received, so nothing is written.
    connections_.at(id)->Abort(absl::DeadlineExceededError(
        "TLS handshake and preface not complete in time"));
  }
}

void ServerLoop::StopAccepting() {
  if (!acceptor_.accepting()) return;
  acceptor_.Stop();
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
  // Streams outlive their connections until their OnDone; their tasks
  // need this loop's mailbox until then.
  if (!draining_ || !connections_.empty() || !streams_.empty()) return;
  loop_->CancelTimer(drain_deadline_timer_);
  drain_deadline_timer_ = {};
  loop_->Quit();
}

}  // namespace dualrpc::raw
