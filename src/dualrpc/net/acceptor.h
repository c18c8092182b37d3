#ifndef DUALRPC_NET_ACCEPTOR_H_
#define DUALRPC_NET_ACCEPTOR_H_

#include <chrono>
#include <cstdint>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/net/socket_address.h"

namespace dualrpc::net {

// The accept side of a listening socket on one EventLoop, after muduo's
// Acceptor: watches the socket and, when it is readable, accepts until
// nothing is pending (at most max_accepts_per_wakeup at a time, so other
// events get a turn: the listener is level-triggered, the rest are taken next
// iteration), handing each connection to the callback as a non-blocking,
// close-on-exec socket with TCP_NODELAY.
//
// Does not own the listening socket: several Acceptors, one per loop, may
// share it. With `exclusive` each watches it with EPOLLEXCLUSIVE, so the
// kernel wakes one waiting loop per incoming connection instead of all of
// them. Loop thread only; the listening socket must outlive the Acceptor.
// The Acceptor may be stopped, but not destroyed, inside its callback.
//
// When accept fails for a reason that concerns the listener, not one
// connection (EMFILE, ENFILE, ENOBUFS, ENOMEM), the Acceptor leaves the
// listener alone for accept_retry_delay and then watches it again; without
// the pause a level-triggered listener would spin.
// TODO(perf): muduo keeps a spare fd to accept-and-close under EMFILE, which
// sheds the connection instead of leaving it queued.
class Acceptor final : private IoWatcher {
 public:
  // Runs on the loop thread with each accepted socket and its peer.
  using NewConnectionCallback = absl::AnyInvocable<void(
      base::ScopedFd socket, const SocketAddress& peer)>;

  struct Options {
    // Watch with EPOLLEXCLUSIVE (for a listener shared by several loops).
    bool exclusive = true;
    // Connections accepted per wakeup before other events get a turn.
    int max_accepts_per_wakeup = 16;
    // How long to leave the listener alone after accept failed for want of
    // fds or memory.
    EventLoop::Clock::duration accept_retry_delay =
        std::chrono::milliseconds(100);
  };

  Acceptor(EventLoop* loop, int listen_fd, Options options,
           NewConnectionCallback on_connection);
  // Stop().
  ~Acceptor();

  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // Starts accepting. The error is the loop's (the listener could not be
  // watched); the Acceptor then stays stopped. No-op while accepting.
  absl::Status Start();
  // Stops accepting for good (until Start): unwatches the listener and
  // cancels a pending retry. Connections still queued stay in the backlog.
  void Stop();

  // Between Start and Stop, including while paused after an error.
  bool accepting() const { return state_ != State::kStopped; }

 private:
  enum class State {
    kStopped,
    // The listener is in the loop's epoll set.
    kWatching,
    // Accept failed; the retry timer will watch the listener again.
    kPaused,
  };

  void OnIoEvents(std::uint32_t events) override;
  absl::Status Watch();
  void Pause();

  EventLoop* const loop_;
  const int listen_fd_;
  const Options options_;
  NewConnectionCallback on_connection_;
  State state_ = State::kStopped;
  EventLoop::TimerId retry_timer_;
};

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_ACCEPTOR_H_
