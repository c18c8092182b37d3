#ifndef DUALRPC_NET_CONNECTOR_H_
#define DUALRPC_NET_CONNECTOR_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/net/socket_ops.h"

namespace dualrpc::net {

// Opens one TCP connection without blocking its EventLoop (muduo's
// Connector): a non-blocking connect(), then the loop waits for the socket to
// become writable and reads SO_ERROR. Addresses are already resolved
// (net::Resolve, which is where a host name may block): the connector never
// calls getaddrinfo. Loop thread only; owned by whoever connects (one
// attempt at a time), and destroying it cancels the attempt.
class Connector final : private IoWatcher {
 public:
  // Receives the connected socket (non-blocking, close-on-exec, TCP_NODELAY),
  // or UNAVAILABLE with the errno text of the last address tried, or
  // DEADLINE_EXCEEDED when the timeout ran out first.
  using Callback = absl::AnyInvocable<void(absl::StatusOr<base::ScopedFd>) &&>;

  explicit Connector(EventLoop* loop) : loop_(loop) {}
  // Cancel().
  ~Connector();

  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;

  // Loop thread; not while connecting(). Tries `addresses` in turn until one
  // connects, within `timeout` for the whole attempt; InfiniteDuration()
  // sets no timer at all (the kernel's own SYN retries still end it, after
  // minutes). `done` runs exactly once unless Cancel() comes first, on the
  // loop and never inside Start(); it may destroy or restart this Connector.
  void Start(std::vector<SocketAddress> addresses, absl::Duration timeout,
             Callback done);

  // Loop thread. Stops the attempt in progress, if any, closing its socket;
  // its callback is destroyed without running.
  void Cancel();

  // Between Start() and the callback (or Cancel()).
  bool connecting() const { return done_ != nullptr; }

 private:
  void OnIoEvents(std::uint32_t events) override;
  // Starts the connect to addresses_[next_address_], skipping addresses that
  // fail at once; reports when none is left.
  void TryNextAddress();
  // Unregisters and closes the socket being connected, if any.
  void DropSocket();
  // Ends the attempt: cancels the timers and runs the callback.
  void Finish(absl::StatusOr<base::ScopedFd> result);

  EventLoop* const loop_;
  std::vector<SocketAddress> addresses_;
  std::size_t next_address_ = 0;
  // The socket whose connect is in progress (registered for EPOLLOUT).
  base::ScopedFd socket_;
  // The error of the last address that failed.
  absl::Status last_error_;
  Callback done_;
  EventLoop::TimerId timeout_timer_;
  // Reports an outcome known inside Start() on the next loop iteration.
  EventLoop::TimerId report_timer_;
  // Inside Start(): an outcome must not be reported inline.
  bool starting_ = false;
};

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_CONNECTOR_H_
