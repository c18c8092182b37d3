#ifndef DUALRPC_RAW_SERVER_SERVER_LOOP_H_
#define DUALRPC_RAW_SERVER_SERVER_LOOP_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/acceptor.h"
#include "dualrpc/net/byte_stream.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/net/socket_address.h"
#include "dualrpc/net/tls.h"
#include "dualrpc/raw/server/message_pool.h"
#include "dualrpc/raw/server/server_call.h"
#include "dualrpc/raw/server/server_config.h"
#include "dualrpc/raw/server/server_shared_state.h"

namespace dualrpc::raw {

class ServerConnection;
class ServerStreamCall;

// One event-loop thread of a RawServer: accepts from the shared listening
// socket and owns the connections dealt to it, for their whole life.
// Loop thread only, except where noted.
//
// Accepting: every loop's net::Acceptor registers the one listening socket
// with EPOLLEXCLUSIVE, so the kernel wakes one waiting loop per incoming
// connection instead of all of them. Unlike SO_REUSEPORT listeners this needs
// one bind (port 0 just works), does not let another process of the same user
// bind the port alongside us, and does not strand connections queued on a
// listener that closes during drain.
//
// Dealing: EPOLLEXCLUSIVE alone put every connection on one loop (the kernel
// wakes the first idle waiter, the same loop whenever the server is idle), so
// the other cores sat idle. The accepting loop therefore does not keep what
// it accepts: connections are dealt round-robin over all loops from one
// shared counter (muduo's scheme, with every loop acting as the acceptor), and
// a connection dealt to another loop is posted to that loop's mailbox as the
// bare socket. The owning loop holds it as pending until its preface
// (handshake timeout, pending cap), then counts it against max_connections,
// evicting or rejecting at the limit (§4.3), or drains it; a socket posted
// to a loop that has already stopped is closed with the refused task,
// before it was ever counted.
class ServerLoop {
 public:
  ServerLoop(std::unique_ptr<net::EventLoop> loop, ServerSharedState* shared);
  ~ServerLoop();

  ServerLoop(const ServerLoop&) = delete;
  ServerLoop& operator=(const ServerLoop&) = delete;

  // Joins the loops accepting from the listening socket. Call once, before
  // Run(), on the thread that created this object.
  absl::Status StartListening();

  // Runs the loop on the calling thread until it has drained, then tears
  // down what is left.
  void Run();

  // Thread-safe. Begins the drain (§5.3) with `deadline` for in-flight
  // calls, or brings the deadline of a drain in progress forward.
  void PostDrain(net::EventLoop::Clock::time_point deadline);

  // Delivers a finished call to its connection, if it is still there.
  void CompleteCall(std::unique_ptr<ServerCall> call, absl::Status status);
  // A connection brackets running an implementation with these, so that a
  // call completing inline (within invoke) goes straight back to it, without
  // a lookup and without entering the connection's calls in flight. This
  // loop is the one place that knows which call is being invoked inline;
  // the connection learns from EndInvoke (and from FinishCall's
  // `completed_inline`) whether it completed inside.
  void BeginInvoke(ServerConnection* connection, const ServerCall* call) {
    invoking_ = {connection, call};
  }
  // True if the call completed inside the bracket.
  bool EndInvoke() {
    const bool completed = invoking_.call == nullptr;
    invoking_ = {};
    return completed;
  }
  // Streaming calls: this loop owns each from its REQUEST until its
  // reactor's OnDone has returned (see ServerStreamCall), and does not quit
  // while it owns any.
  ServerStreamCall* AdoptStream(std::unique_ptr<ServerStreamCall> stream);
  // Destroys `stream`, which OnDone has just left.
  void ReleaseStream(ServerStreamCall* stream);

  // Thread-safe. Queues `stream` (its fd not registered anywhere) to become
  // a connection of this loop, pending, admitted, rejected or drained like
  // an accepted socket (RawServer::Adopt deals it here).
  // If the loop has stopped, the stream is destroyed (closed) on the calling
  // thread, never counted.
  void PostConnection(std::unique_ptr<net::ByteStream> stream,
                      const net::SocketAddress& peer);

  // Thread-safe. The server's memory budget went over (`paused`: shed
  // this loop's largest connections, ShedMemory) or back under its
  // low-water mark (every connection of this loop reads again).
  void PostMemoryEvent(bool paused);

  // Called by a connection from OnClosed; destroys it later in this
  // iteration.
  void OnConnectionClosed(std::uint64_t connection_id);
  // Called by a connection when its client's preface arrives: a TLS
  // handshake, if it had one, is complete, and the connection stops being
  // pending. Admits it against max_connections (§4.3), making room by
  // evicting one of this loop's connections if it must (EvictForNewcomer).
  // False if it could not: the connection has been rejected (GOAWAY
  // RESOURCE_EXHAUSTED, closing) and must read nothing more.
  bool OnPrefaceReceived(std::uint64_t connection_id);

  net::EventLoop* loop() { return loop_.get(); }
  const std::shared_ptr<net::EventLoop::Mailbox>& mailbox() const {
    return loop_->mailbox();
  }
  const ServerConfig& config() const { return shared_->config; }
  MessagePool& messages() { return messages_; }

 private:
  // The call being invoked inline, if any, and its connection. `call` is
  // reset when the call completes inside invoke; `connection` stays until
  // EndInvoke.
  struct Invoking {
    ServerConnection* connection = nullptr;
    const ServerCall* call = nullptr;
  };

  using HandshakeMap = absl::btree_map<std::uint64_t, net::TlsStream*>;

  // Gives an accepted socket to the next loop in turn (maybe this one).
  void DealConnection(base::ScopedFd socket, const net::SocketAddress& peer);
  // Wraps `socket` (TLS when configured) and adds it.
  void AddConnection(base::ScopedFd socket, const net::SocketAddress& peer);
  // Takes `stream` as a connection of this loop; `tls` is the stream itself
  // if it is a TLS stream whose handshake this loop must bound (timeout,
  // cap), else null.
  void AddStream(std::unique_ptr<net::ByteStream> stream, net::TlsStream* tls,
                 const net::SocketAddress& peer);
  // Makes room for one more TLS handshake under the cap: forgets the ones
  // that have completed, then closes the oldest still in progress.
  void MakeRoomForHandshake();
  // Makes room for one more pending connection under this loop's share of
  // max_pending_connections: closes the oldest, silently.
  void MakeRoomForPending();
  // The handshake timeout: closes, silently, the pending connections
  // accepted handshake_timeout ago or earlier, then re-arms for the oldest
  // left. One timer per loop, whatever the number pending.
  void OnPendingTimer();
  // At max_connections: closes the admitted connection of this loop that has
  // made least progress (ServerConnection::Standing: closing already, else
  // inside a frame nearest its deadline, else idle the longest) so that a
  // newcomer can take its place. False if every one has calls in flight.
  // TODO(perf): a scan of this loop's admitted connections, run only at the
  // limit.
  bool EvictForNewcomer();
  // Removes `it` from handshaking_ and counts its handshake, complete or
  // failed, in the server's stats: every entry is counted exactly once,
  // here. True if it was complete.
  bool EndHandshake(HandshakeMap::iterator it);
  void StopAccepting();
  // While the budget is at or over its low-water mark: closes this loop's
  // largest connection (ServerConnection::ShedForMemory), unless another
  // loop's published largest is larger (then that loop is asked to shed,
  // and this one stops: net::LoopToAskToShed), also when this loop has
  // nothing to shed; so the largest offenders server-wide go first.
  // Connections holding no more than an idle connection may are never
  // closed.
  void ShedMemory();
  // malloc_trim, soon (coalesced, at most once per kHeapTrimDelay), after
  // a connection that held large buffers is gone: KeepFreedHeap keeps
  // freed memory in the process, which must not keep a hostile peer's.
  void ScheduleHeapTrim();
  void BeginDrain(net::EventLoop::Clock::time_point deadline);
  void FinishDrain();
  void QuitIfDrained();

  const std::unique_ptr<net::EventLoop> loop_;
  ServerSharedState* const shared_;
  absl::flat_hash_map<std::uint64_t, std::unique_ptr<ServerConnection>>
      connections_;
  std::uint64_t next_connection_id_ = 1;
  MessagePool messages_;
  Invoking invoking_;
  absl::flat_hash_map<ServerStreamCall*, std::unique_ptr<ServerStreamCall>>
      streams_;
  // TLS connections of this loop whose handshake may be in progress, by id
  // (ids grow: the first is the oldest). An entry whose handshake has
  // completed since is dropped when next looked at (cap, timeout, close).
  HandshakeMap handshaking_;
  // Connections of this loop whose preface has not arrived, by id (the
  // first is the oldest), with when they were added (§4.3: not counted
  // against max_connections, bounded by handshake_timeout and
  // max_pending_connections). The timer is due for the oldest, or later.
  absl::btree_map<std::uint64_t, net::EventLoop::Clock::time_point> pending_;
  net::EventLoop::TimerId pending_timer_;
  // Connections of this loop counted in shared_->admitted_connections.
  absl::flat_hash_set<std::uint64_t> admitted_;
  // Accepting while it is one of shared_->loops_listening (until drain).
  net::Acceptor acceptor_;
  bool draining_ = false;
  net::EventLoop::TimerId drain_deadline_timer_;
  net::EventLoop::TimerId heap_trim_timer_;
  // Storage of this loop's largest sheddable connection when it last
  // looked (0: none): what the other loops compare theirs with. Any thread
  // (relaxed).
  std::atomic<std::int64_t> largest_buffered_{0};
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_SERVER_SERVER_LOOP_H_
