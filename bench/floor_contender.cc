#include "floor_contender.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench_net.h"
#include "dualrpc/base/posix_error.h"
#include "dualrpc/base/scoped_fd.h"
#include "floor_protocol.h"
#include "floor_stream.h"

namespace dualrpc::bench {
namespace {

constexpr std::size_t kReadChunkBytes = 64 * 1024;
constexpr int kMaxEventsPerPoll = 64;
// How often the I/O thread rechecks for the end of the run when idle.
constexpr int kIdlePollMillis = 5;

// One connection to the floor server. Sends may come from the I/O thread
// (closed loop) or the pacer (open loop), hence the lock; input is the I/O
// thread's alone.
class FloorConnection {
 public:
  FloorConnection(std::unique_ptr<FloorStream> stream, int epoll_fd,
                  const std::string* request)
      : stream_(std::move(stream)),
        epoll_fd_(epoll_fd),
        request_(request),
        input_(kReadChunkBytes) {}

  int fd() const { return stream_->fd(); }

  // Queues `count` requests started at `start_nanos` and writes what the
  // socket takes. False if the connection is broken.
  bool Send(int count, int64_t start_nanos) {
    absl::MutexLock lock(&mu_);
    if (broken_) return false;
    for (int i = 0; i < count; ++i) {
      starts_.push_back(start_nanos);
      output_.append(*request_);
    }
    return FlushLocked();
  }

  // I/O thread, on EPOLLOUT.
  bool OnWritable() {
    absl::MutexLock lock(&mu_);
    return FlushLocked();
  }

  // I/O thread, on EPOLLIN: reads and appends the start times of the
  // calls that ended to `ended`. False when the connection is broken (EOF,
  // error, or a response that is not the echo of the request).
  bool OnReadable(std::vector<int64_t>* ended) {
    for (;;) {
      if (input_.size() - input_size_ < kReadChunkBytes)
        input_.resize(input_.size() * 2);
      const std::size_t space = input_.size() - input_size_;
      ssize_t n;
      {
        // An SSL object is one state machine for both directions: over TLS
        // reads exclude the pacer's writes (open loop). Plaintext reads
        // take no lock, as before.
        absl::MutexLockMaybe lock(stream_->buffers_input() ? &mu_ : nullptr);
        n = stream_->Read(input_.data() + input_size_, space);
      }
      if (n == 0 || n == FloorStream::kBroken) return false;
      if (n == FloorStream::kWouldBlock) break;
      input_size_ += static_cast<std::size_t>(n);
      if (stream_->Drained(static_cast<std::size_t>(n), space)) break;
    }
    const FloorScan scan =
        ScanFloorMessages(absl::string_view(input_.data(), input_size_));
    if (scan.oversized ||
        scan.complete_bytes != scan.messages * request_->size()) {
      return false;
    }
    {
      absl::MutexLock lock(&mu_);
      for (std::size_t i = 0; i < scan.messages && !starts_.empty(); ++i) {
        ended->push_back(starts_.front());
        starts_.pop_front();
      }
    }
    std::memmove(input_.data(), input_.data() + scan.complete_bytes,
                 input_size_ - scan.complete_bytes);
    input_size_ -= scan.complete_bytes;
    return true;
  }

  // Marks the connection broken; returns how many calls were lost.
  std::size_t FailAll() {
    absl::MutexLock lock(&mu_);
    broken_ = true;
    const std::size_t lost = starts_.size();
    starts_.clear();
    return lost;
  }

  std::size_t outstanding() {
    absl::MutexLock lock(&mu_);
    return starts_.size();
  }

 private:
  bool FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (output_offset_ < output_.size()) {
      const ssize_t n = stream_->Write(output_.data() + output_offset_,
                                       output_.size() - output_offset_);
      if (n == FloorStream::kBroken) return false;
      if (n == FloorStream::kWouldBlock) {
        // Over TLS the retry passes at least the same bytes (moved, maybe):
        // the erase below keeps every byte not yet taken.
        // Drops what was written, so that appends do not copy it again.
        if (output_offset_ >= output_.size() / 2) {
          output_.erase(0, output_offset_);
          output_offset_ = 0;
        }
        if (!watching_output_) Watch(EPOLLIN | EPOLLOUT);
        watching_output_ = true;
        return true;
      }
      output_offset_ += static_cast<std::size_t>(n);
    }
    output_.clear();
    output_offset_ = 0;
    if (watching_output_) Watch(EPOLLIN);
    watching_output_ = false;
    return true;
  }

  void Watch(uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.ptr = this;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, stream_->fd(), &event);
  }

  const std::unique_ptr<FloorStream> stream_;
  const int epoll_fd_;
  const std::string* const request_;
  std::vector<char> input_;
  std::size_t input_size_ = 0;

  absl::Mutex mu_;
  std::deque<int64_t> starts_ ABSL_GUARDED_BY(mu_);
  std::string output_ ABSL_GUARDED_BY(mu_);
  std::size_t output_offset_ ABSL_GUARDED_BY(mu_) = 0;
  bool watching_output_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
};

// The whole client of one run.
class FloorClient {
 public:
  FloorClient(const LoadShape& shape, RunControl* control, std::string request,
              const FloorTlsContext* tls)
      : tls_(tls),
        shape_(shape),
        control_(control),
        request_(std::move(request)),
        epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)) {}

  absl::Status Connect(const std::string& address) {
    if (!epoll_fd_.valid()) return base::PosixError("epoll_create1", errno);
    for (int i = 0; i < shape_.connections; ++i) {
      absl::StatusOr<base::ScopedFd> fd =
          ConnectTcp(address, /*non_blocking=*/true);
      if (!fd.ok()) return fd.status();
      std::unique_ptr<FloorStream> stream;
      if (tls_ == nullptr) {
        stream = std::make_unique<FloorStream>(*std::move(fd));
      } else {
        absl::StatusOr<std::unique_ptr<FloorStream>> secured =
            FloorStream::Handshake(*std::move(fd), *tls_);
        if (!secured.ok()) return secured.status();
        stream = *std::move(secured);
      }
      auto connection = std::make_unique<FloorConnection>(
          std::move(stream), epoll_fd_.get(), &request_);
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.ptr = connection.get();
      if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, connection->fd(),
                      &event) != 0) {
        return base::PosixError("epoll_ctl", errno);
      }
      connections_.push_back(std::move(connection));
    }
    return absl::OkStatus();
  }

  void RunClosed() {
    const int64_t now = NowNanos();
    const int count = static_cast<int>(connections_.size());
    for (int i = 0; i < count; ++i) {
      const int callers =
          shape_.concurrency / count + (i < shape_.concurrency % count ? 1 : 0);
      if (!connections_[i]->Send(callers, now)) Fail(connections_[i].get());
    }
    control_->MarkStarted();
    IoLoop(/*reissue=*/true, nullptr);
  }

  void RunOpen() {
    OpenLoopPacer pacer(shape_.rate, kOpenLoopMaxInFlight);
    std::atomic<bool> pacing_done{false};
    std::thread io([&]() { IoLoop(/*reissue=*/false, &pacer, &pacing_done); });
    control_->MarkStarted();
    std::size_t next = 0;
    pacer.Run(*control_, [&](int64_t intended) {
      FloorConnection* connection =
          connections_[next++ % connections_.size()].get();
      if (!connection->Send(1, intended)) {
        control_->RecordCall(0, false);
        pacer.CallEnded();
      }
    });
    pacing_done.store(true);
    io.join();
  }

 private:
  // Reads responses until the run is over and nothing is outstanding.
  // Closed loop (`reissue`): every response sends the next request.
  void IoLoop(bool reissue, OpenLoopPacer* pacer,
              std::atomic<bool>* pacing_done = nullptr) {
    epoll_event events[kMaxEventsPerPoll];
    std::vector<int64_t> ended;
    for (;;) {
      const int ready = ::epoll_wait(epoll_fd_.get(), events, kMaxEventsPerPoll,
                                     kIdlePollMillis);
      for (int i = 0; i < ready; ++i) {
        auto* connection = static_cast<FloorConnection*>(events[i].data.ptr);
        bool ok = true;
        if ((events[i].events & EPOLLOUT) != 0) ok = connection->OnWritable();
        ended.clear();
        if (ok && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
          ok = connection->OnReadable(&ended);
        }
        const int64_t now = NowNanos();
        for (int64_t start : ended) {
          control_->RecordCall(now - start, true);
          if (pacer != nullptr) pacer->CallEnded();
        }
        if (ok && reissue && !ended.empty() && control_->running()) {
          ok = connection->Send(static_cast<int>(ended.size()), now);
        }
        if (!ok) Fail(connection, pacer);
      }
      const bool generating =
          pacing_done != nullptr ? !pacing_done->load() : control_->running();
      if (!generating && Outstanding() == 0) return;
    }
  }

  void Fail(FloorConnection* connection, OpenLoopPacer* pacer = nullptr) {
    const std::size_t lost = connection->FailAll();
    for (std::size_t i = 0; i < lost; ++i) {
      control_->RecordCall(0, false);
      if (pacer != nullptr) pacer->CallEnded();
    }
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, connection->fd(), nullptr);
    control_->NoteError(absl::StrCat("floor connection to the server broke"));
  }

  std::size_t Outstanding() {
    std::size_t total = 0;
    for (const auto& connection : connections_)
      total += connection->outstanding();
    return total;
  }

  const FloorTlsContext* const tls_;
  const LoadShape shape_;
  RunControl* const control_;
  const std::string request_;
  base::ScopedFd epoll_fd_;
  std::vector<std::unique_ptr<FloorConnection>> connections_;
};

}  // namespace

absl::Status FloorContender::Run(const Workload& workload,
                                 const LoadShape& shape, RunControl* control) {
  std::string request;
  AppendFloorMessage(std::string(workload.payload_bytes, 'x'), &request);
  FloorClient client(shape, control, std::move(request), tls_.get());
  if (absl::Status connected = client.Connect(address_); !connected.ok())
    return connected;
  if (shape.mode == LoadShape::Mode::kOpen) {
    client.RunOpen();
  } else {
    client.RunClosed();
  }
  return absl::OkStatus();
}

}  // namespace dualrpc::bench
