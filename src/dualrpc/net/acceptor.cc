#include "dualrpc/net/acceptor.h"

#include <sys/epoll.h>

#include <utility>

#include "absl/status/statusor.h"
#include "dualrpc/net/socket_ops.h"

namespace dualrpc::net {

Acceptor::Acceptor(EventLoop* loop, int listen_fd, Options options,
                   NewConnectionCallback on_connection)
    : loop_(loop),
      listen_fd_(listen_fd),
      options_(options),
      on_connection_(std::move(on_connection)) {}

Acceptor::~Acceptor() { Stop(); }

absl::Status Acceptor::Start() {
  if (state_ != State::kStopped) return absl::OkStatus();
  return Watch();
}

absl::Status Acceptor::Watch() {
  const std::uint32_t events =
      EPOLLIN | (options_.exclusive ? EPOLLEXCLUSIVE : 0u);
  absl::Status watched = loop_->Watch(listen_fd_, events, this);
  if (watched.ok()) state_ = State::kWatching;
  return watched;
}

void Acceptor::Stop() {
  loop_->CancelTimer(retry_timer_);
  retry_timer_ = {};
  if (state_ == State::kWatching) loop_->Unwatch(listen_fd_);
  state_ = State::kStopped;
}

void Acceptor::Pause() {
  if (state_ == State::kWatching) loop_->Unwatch(listen_fd_);
  state_ = State::kPaused;
  retry_timer_ =
      loop_->RunAt(loop_->now() + options_.accept_retry_delay, [this] {
        retry_timer_ = {};
        if (state_ == State::kPaused && !Watch().ok()) Pause();
      });
}

void Acceptor::OnIoEvents(std::uint32_t /*events*/) {
  for (int i = 0;
       i < options_.max_accepts_per_wakeup && state_ == State::kWatching; ++i) {
    SocketAddress peer;
    absl::StatusOr<base::ScopedFd> accepted = Accept(listen_fd_, &peer);
    if (!accepted.ok()) {
      Pause();
      return;
    }
    if (!accepted->valid()) return;  // Another loop took it, or it vanished.
    on_connection_(*std::move(accepted), peer);
  }
}

}  // namespace dualrpc::net
