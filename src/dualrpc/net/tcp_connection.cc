#include "dualrpc/net/tcp_connection.h"

#include <sys/epoll.h>

#include <algorithm>
#include <utility>

namespace dualrpc::net {
namespace {

std::uint32_t EventsFor(Readiness readiness) {
  return readiness == Readiness::kWritable ? EPOLLOUT : EPOLLIN;
}

}  // namespace

TcpConnection::TcpConnection(EventLoop* loop,
                             std::unique_ptr<ByteStream> stream,
                             Options options, Handler* handler)
    : loop_(loop),
      stream_(std::move(stream)),
      options_(options),
      handler_(handler),
      read_wait_(EPOLLIN) {}

TcpConnection::TcpConnection(EventLoop* loop, base::ScopedFd socket,
                             Options options, Handler* handler)
    : TcpConnection(loop, std::make_unique<PlainTcpStream>(std::move(socket)),
                    options, handler) {}

TcpConnection::~TcpConnection() {
  if (registered_) loop_->Unwatch(stream_->fd());
  loop_->CancelTimer(close_timer_);
  if (options_.budget != nullptr && accounted_bytes_ != 0) {
    options_.budget->Add(-static_cast<std::int64_t>(accounted_bytes_));
  }
}

absl::Status TcpConnection::Start() {
  loop_->AssertInLoopThread();
  absl::Status watched = loop_->Watch(stream_->fd(), read_wait_, this);
  if (!watched.ok()) return watched;
  registered_ = true;
  interest_ = read_wait_;
  Account();
  return absl::OkStatus();
}

void TcpConnection::OnIoEvents(std::uint32_t events) {
  if (state_ == State::kClosed) return;  // Closed earlier in this batch.
  if (events & EPOLLERR) {
    Close(stream_->PendingError());
    return;
  }
  if ((events & EPOLLHUP) && !(events & EPOLLIN)) {
    Close(absl::UnavailableError("connection hung up"));
    return;
  }
  // A read and a write may wait for the same readiness (a TLS write that
  // needs the peer's handshake); each gets its turn.
  if (events & read_wait_) {
    // Not reading (held): the interest is dropped now, so that a
    // level-triggered readiness does not wake the loop again.
    if (Reading()) {
      HandleReadable();
    } else {
      UpdateInterest();
    }
  }
  if (state_ != State::kClosed && (events & write_wait_)) {
    write_wait_ = 0;
    Flush();
  }
}

void TcpConnection::HandleReadable() {
  absl::StatusOr<Transfer> read = stream_->ReadInto(&input_);
  if (!read.ok()) {
    Close(read.status());
    return;
  }
  if (const std::uint32_t wait = EventsFor(read->resume_on);
      wait != read_wait_) {
    read_wait_ = wait;
    UpdateInterest();
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
  DeliverInput();
}

void TcpConnection::DeliverInput() {
  handler_->OnInput(&input_);
  if (state_ == State::kConnected) {
    if (input_.readable_bytes() != 0 && ShouldHoldInput()) input_held_ = true;
    input_.ReleaseIfIdle(kMaxIdleBufferBytes);
  }
  Account();
}

void TcpConnection::MaybeRedeliverInput() {
  if (!input_held_ || redelivery_scheduled_ || state_ != State::kConnected ||
      ShouldHoldInput()) {
    return;
  }
  redelivery_scheduled_ = true;
  // Deferred: this may be called from inside the handler. Safe to capture
  // `this`, as for ScheduleFlush.
  loop_->Defer([this] {
    redelivery_scheduled_ = false;
    if (state_ != State::kConnected || !input_held_ || ShouldHoldInput()) {
      return;
    }
    input_held_ = false;
    DeliverInput();
  });
}

void TcpConnection::set_reserved_output_bytes(std::size_t bytes) {
  const bool lowered = bytes < reserved_output_;
  reserved_output_ = bytes;
  if (!lowered) return;  // Reading stops at the next readiness, if due.
  UpdateInterest();
  MaybeRedeliverInput();
}

void TcpConnection::ResumeReading() {
  UpdateInterest();
  MaybeRedeliverInput();
}

void TcpConnection::Account() {
  const std::size_t held = state_ == State::kClosed ? 0 : buffered_bytes();
  if (held == accounted_bytes_) return;
  peak_buffered_bytes_ = std::max(peak_buffered_bytes_, held);
  if (options_.budget == nullptr) {
    accounted_bytes_ = held;
    return;
  }
  options_.budget->Add(static_cast<std::int64_t>(held) -
                       static_cast<std::int64_t>(accounted_bytes_));
  accounted_bytes_ = held;
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
  if (output_.readable_bytes() != 0 && write_wait_ == 0) {
    absl::StatusOr<Transfer> sent = stream_->WriteFrom(&output_);
    if (!sent.ok()) {
      Close(sent.status());
      return;
    }
    // A short write: wait for what the stream says lets it continue.
    if (output_.readable_bytes() != 0) write_wait_ = EventsFor(sent->resume_on);
  }
  AfterOutputChanged();
  if (state_ == State::kClosed) return;
  MaybeRedeliverInput();
  Account();
}

void TcpConnection::AfterOutputChanged() {
  if (output_.readable_bytes() == 0) {
    output_.ReleaseIfIdle(kMaxIdleBufferBytes);
    if (state_ == State::kClosing && !write_shut_down_) {
      stream_->ShutdownWrite();
      write_shut_down_ = true;
      if (peer_eof_) {
        Close(absl::OkStatus());
        return;
      }
    }
  }
  UpdateInterest();
}

bool TcpConnection::Reading() const {
  return !peer_eof_ && !(state_ == State::kConnected && ShouldHoldInput());
}

void TcpConnection::UpdateInterest() {
  if (!registered_ || state_ == State::kClosed) return;
  const std::uint32_t wanted = (Reading() ? read_wait_ : 0) | write_wait_;
  if (wanted == interest_) return;
  absl::Status changed = loop_->Rewatch(stream_->fd(), wanted, this);
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
  close_timer_ = loop_->RunAt(loop_->now() + options_.close_timeout, [this] {
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
    loop_->Unwatch(stream_->fd());
    registered_ = false;
  }
  // Nothing more is read or written: what the peer made us hold goes now.
  input_.Shrink();
  output_.Shrink();
  Account();
  handler_->OnClosed(reason);
}

void TcpConnection::CloseAfterOneWrite(const absl::Status& reason) {
  if (state_ == State::kClosed) return;
  if (output_.readable_bytes() != 0 && write_wait_ == 0) {
    stream_->WriteFrom(&output_).IgnoreError();
  }
  Close(reason);
}

}  // namespace dualrpc::net
