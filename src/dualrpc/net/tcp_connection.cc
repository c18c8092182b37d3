#include "dualrpc/net/tcp_connection.h"

#include <sys/epoll.h>

#include <utility>

#include "dualrpc/net/socket_ops.h"

namespace dualrpc::net {

TcpConnection::TcpConnection(EventLoop* loop, base::ScopedFd socket, Options options,
                             Handler* handler)
    : loop_(loop),
      socket_(std::move(socket)),
      options_(options),
      handler_(handler) {}

TcpConnection::~TcpConnection() {
  if (registered_) loop_->Unwatch(socket_.get());
  loop_->CancelTimer(close_timer_);
}

absl::Status TcpConnection::Start() {
  loop_->AssertInLoopThread();
  absl::Status watched = loop_->Watch(socket_.get(), EPOLLIN, this);
  if (!watched.ok()) return watched;
  registered_ = true;
  interest_ = EPOLLIN;
  return absl::OkStatus();
}

void TcpConnection::OnIoEvents(std::uint32_t events) {
  if (state_ == State::kClosed) return;  // Closed earlier in this batch.
  if (events & EPOLLERR) {
    Close(SocketError(socket_.get()));
    return;
  }
  if ((events & EPOLLHUP) && !(events & EPOLLIN)) {
    Close(absl::UnavailableError("connection hung up"));
    return;
  }
  if (events & EPOLLIN) HandleReadable();
  if (state_ != State::kClosed && (events & EPOLLOUT)) {
    waiting_for_writable_ = false;
    Flush();
  }
}

void TcpConnection::HandleReadable() {
  absl::StatusOr<Transfer> read = ReadToBuffer(socket_.get(), &input_);
  if (!read.ok()) {
    Close(read.status());
    return;
  }
  if (read->eof) {
    peer_eof_ = true;
    if (state_ == State::kConnected) {
      UpdateInterest();
      handler_->OnPeerEof();
    } else if (write_shut_down_) {
      Close(absl::OkStatus());  // Both FINs exchanged: done.
    } else {
      UpdateInterest();  // Still flushing; closes when output is empty.
    }
    return;
  }
  if (read->bytes == 0) return;
  if (state_ == State::kClosing) {
    input_.RetrieveAll();
    return;
  }
  handler_->OnInput(&input_);
  if (state_ == State::kConnected) {
    input_.ReleaseIfIdle(kMaxIdleBufferBytes);
  }
}

void TcpConnection::ScheduleFlush() {
  if (state_ == State::kClosed || flush_scheduled_) return;
  flush_scheduled_ = true;
  // Safe to capture `this`: the owner destroys a connection only in a task
  // deferred after Close(), which runs after this one.
  loop_->Defer([this] {
    flush_scheduled_ = false;
    Flush();
  });
}

void TcpConnection::FlushIfOver(std::size_t threshold) {
  if (output_.readable_bytes() >= threshold) Flush();
}

void TcpConnection::Flush() {
  if (state_ == State::kClosed) return;
  if (output_.readable_bytes() != 0 && !waiting_for_writable_) {
    absl::StatusOr<Transfer> sent = SendFromBuffer(socket_.get(), &output_);
    if (!sent.ok()) {
      Close(sent.status());
      return;
    }
    // A short send means the socket buffer is full.
    waiting_for_writable_ = output_.readable_bytes() != 0;
  }
  AfterOutputChanged();
}

void TcpConnection::AfterOutputChanged() {
  if (output_.readable_bytes() == 0) {
    output_.ReleaseIfIdle(kMaxIdleBufferBytes);
    if (state_ == State::kClosing && !write_shut_down_) {
      ShutdownWrite(socket_.get());
      write_shut_down_ = true;
      if (peer_eof_) {
        Close(absl::OkStatus());
        return;
      }
    }
  }
  UpdateInterest();
}

void TcpConnection::UpdateInterest() {
  if (!registered_ || state_ == State::kClosed) return;
  std::uint32_t wanted = 0;
  const bool over_high_water =
      state_ == State::kConnected &&
      output_.readable_bytes() > options_.high_water_mark;
  if (!peer_eof_ && !over_high_water) wanted |= EPOLLIN;
  if (waiting_for_writable_) wanted |= EPOLLOUT;
  if (wanted == interest_) return;
  absl::Status changed = loop_->Rewatch(socket_.get(), wanted, this);
  if (!changed.ok()) {
    Close(changed);
    return;
  }
  interest_ = wanted;
}

void TcpConnection::CloseAfterFlush() {
  if (state_ != State::kConnected) return;
  state_ = State::kClosing;
  input_.RetrieveAll();
  close_timer_ = loop_->RunAt(
      loop_->now() + options_.close_timeout, [this] {
        close_timer_ = {};
        Close(absl::DeadlineExceededError(
            "peer did not close the connection in time"));
      });
  ScheduleFlush();
}

void TcpConnection::Close(const absl::Status& reason) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  loop_->CancelTimer(close_timer_);
  close_timer_ = {};
  if (registered_) {
    loop_->Unwatch(socket_.get());
    registered_ = false;
  }
  handler_->OnClosed(reason);
}

}  // namespace dualrpc::net
