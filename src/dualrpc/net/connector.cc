#include "dualrpc/net/connector.h"

#include <sys/epoll.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace dualrpc::net {

Connector::~Connector() { Cancel(); }

void Connector::Start(std::vector<SocketAddress> addresses,
                      absl::Duration timeout, Callback done) {
  Cancel();
  addresses_ = std::move(addresses);
  next_address_ = 0;
  last_error_ = absl::UnavailableError("no address to connect to");
  done_ = std::move(done);
  if (timeout != absl::InfiniteDuration()) {
    const auto delay =
        absl::ToChronoNanoseconds(std::max(timeout, absl::ZeroDuration()));
    timeout_timer_ =
        loop_->RunAt(EventLoop::Clock::now() + delay, [this, timeout]() {
          timeout_timer_ = EventLoop::TimerId();
          DropSocket();
          Finish(absl::DeadlineExceededError(absl::StrCat(
              "connect timed out after ", absl::FormatDuration(timeout))));
        });
  }
  starting_ = true;
  TryNextAddress();
  starting_ = false;
}

void Connector::Cancel() {
  DropSocket();
  loop_->CancelTimer(std::exchange(timeout_timer_, EventLoop::TimerId()));
  loop_->CancelTimer(std::exchange(report_timer_, EventLoop::TimerId()));
  done_ = nullptr;
}

void Connector::TryNextAddress() {
  while (next_address_ < addresses_.size()) {
    const SocketAddress& address = addresses_[next_address_++];
    bool in_progress = false;
    absl::StatusOr<base::ScopedFd> fd = StartConnect(address, &in_progress);
    if (!fd.ok()) {
      last_error_ = fd.status();
      continue;
    }
    if (!in_progress) {
      Finish(*std::move(fd));
      return;
    }
    // EPOLLERR and EPOLLHUP come without asking: a refused connect wakes too.
    absl::Status watched = loop_->Watch(fd->get(), EPOLLOUT, this);
    if (!watched.ok()) {
      last_error_ = absl::UnavailableError(watched.message());
      continue;
    }
    socket_ = *std::move(fd);
    return;
  }
  Finish(last_error_);
}

void Connector::OnIoEvents(std::uint32_t /*events*/) {
  loop_->Unwatch(socket_.get());
  base::ScopedFd fd = std::move(socket_);
  absl::Status connected =
      FinishConnect(fd.get(), addresses_[next_address_ - 1]);
  if (connected.ok()) {
    Finish(std::move(fd));
    return;
  }
  last_error_ = std::move(connected);
  fd.Reset();
  TryNextAddress();
}

void Connector::DropSocket() {
  if (!socket_.valid()) return;
  loop_->Unwatch(socket_.get());
  socket_ = base::ScopedFd();
}

void Connector::Finish(absl::StatusOr<base::ScopedFd> result) {
  loop_->CancelTimer(std::exchange(timeout_timer_, EventLoop::TimerId()));
  if (starting_) {
    // Due at once, so it runs in this loop iteration's timer pass or the
    // next one; never inside the caller's Start().
    report_timer_ = loop_->RunAt(EventLoop::Clock::now(),
                                 [this, result = std::move(result)]() mutable {
                                   report_timer_ = EventLoop::TimerId();
                                   Finish(std::move(result));
                                 });
    return;
  }
  Callback done = std::exchange(done_, nullptr);
  addresses_.clear();
  // Last: `done` may destroy or restart this Connector.
  std::move(done)(std::move(result));
}

}  // namespace dualrpc::net
