#include "dualrpc/net/stream_relay.h"

#include <sys/epoll.h>

#include <utility>

namespace dualrpc::net {
namespace {

// Free space a read is offered in the direction's Buffer, so that readv
// fills the Buffer itself instead of spilling into a stack buffer that is
// then copied.
constexpr std::size_t kReadChunkBytes = 64 * 1024;

std::uint32_t EpollEvent(Readiness readiness) {
  return readiness == Readiness::kReadable ? EPOLLIN : EPOLLOUT;
}

}  // namespace

StreamRelay::StreamRelay(EventLoop* loop, std::unique_ptr<ByteStream> first,
                         std::unique_ptr<ByteStream> second, Options options,
                         ClosedCallback on_closed)
    : loop_(loop), options_(options), on_closed_(std::move(on_closed)) {
  sides_[0].relay = this;
  sides_[0].stream = std::move(first);
  sides_[1].relay = this;
  sides_[1].stream = std::move(second);
  for (int i = 0; i < 2; ++i) {
    directions_[i].from = &sides_[i];
    directions_[i].to = &sides_[1 - i];
  }
}

StreamRelay::~StreamRelay() {
  loop_->CancelTimer(half_close_timer_);
  for (Side& side : sides_) {
    if (side.interest != 0) loop_->Unwatch(side.stream->fd());
  }
}

void StreamRelay::Start() {
  if (started_) return;
  started_ = true;
  for (Direction& direction : directions_) {
    if (!Pump(&direction)) return;
  }
  for (Side& side : sides_) UpdateInterest(&side);
}

void StreamRelay::Close(const absl::Status& reason) {
  if (closed_) return;
  closed_ = true;
  loop_->CancelTimer(half_close_timer_);
  half_close_timer_ = {};
  for (Side& side : sides_) {
    if (side.interest != 0) loop_->Unwatch(side.stream->fd());
    side.interest = 0;
  }
  ClosedCallback on_closed = std::move(on_closed_);
  if (on_closed) on_closed(reason);
}

void StreamRelay::Side::OnIoEvents(std::uint32_t events) {
  relay->OnSideEvents(this, events);
}

void StreamRelay::OnSideEvents(Side* side, std::uint32_t events) {
  if (closed_) return;
  if ((events & EPOLLERR) != 0) {
    Close(side->stream->PendingError());
    return;
  }
  const int index = side == &sides_[0] ? 0 : 1;
  Direction* const out = &directions_[index];     // Reads this side.
  Direction* const in = &directions_[1 - index];  // Writes this side.
  if (in->write_blocked) {
    const bool source_paused = !in->source_eof && !Reading(*in);
    in->write_blocked = false;
    if (!Flush(in)) return;
    // Room again: read the other side now rather than on its next event,
    // which a stream holding decrypted bytes might never get.
    if (source_paused && Reading(*in) && !Pump(in)) return;
  }
  if (Reading(*out) && !Pump(out)) return;
  for (Side& each : sides_) UpdateInterest(&each);
}

bool StreamRelay::Reading(const Direction& direction) const {
  return !closed_ && !direction.source_eof &&
         direction.buffer.readable_bytes() < options_.high_water_bytes;
}

bool StreamRelay::Pump(Direction* direction) {
  while (Reading(*direction)) {
    if (direction->buffer.writable_bytes() < kReadChunkBytes) {
      direction->buffer.EnsureWritable(kReadChunkBytes);
    }
    absl::StatusOr<Transfer> read =
        direction->from->stream->ReadInto(&direction->buffer);
    if (!read.ok()) {
      Close(read.status());
      return false;
    }
    if (read->eof) {
      direction->source_eof = true;
      break;
    }
    if (read->bytes == 0) {
      direction->read_wait = read->resume_on;
      break;
    }
  }
  return Flush(direction);
}

bool StreamRelay::Flush(Direction* direction) {
  if (closed_) return false;
  if (direction->write_blocked) return true;
  if (direction->buffer.readable_bytes() > 0) {
    absl::StatusOr<Transfer> written =
        direction->to->stream->WriteFrom(&direction->buffer);
    if (!written.ok()) {
      Close(written.status());
      return false;
    }
    if (direction->buffer.readable_bytes() > 0) {
      direction->write_blocked = true;
      direction->write_wait = written->resume_on;
      return true;
    }
  }
  if (direction->source_eof && !direction->ended) {
    direction->ended = true;
    direction->to->stream->ShutdownWrite();
    AfterDirectionEnded();
  }
  return !closed_;
}

void StreamRelay::AfterDirectionEnded() {
  if (directions_[0].ended && directions_[1].ended) {
    Close(absl::OkStatus());
    return;
  }
  if (half_close_timer_.valid()) return;
  half_close_timer_ =
      loop_->RunAt(loop_->now() + options_.half_close_timeout, [this] {
        half_close_timer_ = {};
        Close(absl::DeadlineExceededError(
            "relay: the other direction did not end after a half-close"));
      });
}

void StreamRelay::UpdateInterest(Side* side) {
  if (closed_) return;
  const int index = side == &sides_[0] ? 0 : 1;
  const Direction& out = directions_[index];
  const Direction& in = directions_[1 - index];
  std::uint32_t events = 0;
  if (Reading(out)) events |= EpollEvent(out.read_wait);
  if (in.write_blocked) events |= EpollEvent(in.write_wait);
  if (events == side->interest) return;
  const int fd = side->stream->fd();
  // Unregistered while nothing is wanted, so that a level-triggered hang-up
  // on a side we no longer read cannot spin the loop.
  if (events == 0) {
    loop_->Unwatch(fd);
    side->interest = 0;
    return;
  }
  absl::Status watched = side->interest == 0 ? loop_->Watch(fd, events, side)
                                             : loop_->Rewatch(fd, events, side);
  if (!watched.ok()) {
    Close(watched);
    return;
  }
  side->interest = events;
}

}  // namespace dualrpc::net
