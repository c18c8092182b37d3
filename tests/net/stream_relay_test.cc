// StreamRelay over real unix socketpairs: bytes both ways in order,
// backpressure that bounds what a stalled reader lets pile up, half-close
// passed through, and a close of one side closing both.

#include "dualrpc/net/stream_relay.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/byte_stream.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/net/socket_ops.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/wait.h"

namespace dualrpc::net {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::kWaitTimeout;

constexpr std::size_t kHighWater = 64 * 1024;

// Makes `fd` blocking, with every read bounded by kWaitTimeout.
void MakeBlockingWithTimeout(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval timeout{};
  timeout.tv_sec = absl::ToInt64Seconds(kWaitTimeout);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
}

// Reads exactly `n` bytes (or fewer at EOF / timeout).
std::string ReadExactly(int fd, std::size_t n) {
  std::string data;
  char chunk[64 * 1024];
  while (data.size() < n) {
    const ssize_t got =
        ::recv(fd, chunk, std::min(sizeof chunk, n - data.size()), 0);
    if (got <= 0) break;
    data.append(chunk, static_cast<std::size_t>(got));
  }
  return data;
}

bool SendAll(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n =
        ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// True if the next read on `fd` sees EOF (or a reset) within kWaitTimeout.
bool SeesEnd(int fd) {
  char byte;
  const ssize_t n = ::recv(fd, &byte, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

// A relay between `first_` and `second_`'s relay ends on a loop thread; the
// test talks to their other ends, blocking with timeouts.
class StreamRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
    ASSERT_THAT(loop, IsOk());
    loop_ = *std::move(loop);
    auto first = StreamSocketPair();
    auto second = StreamSocketPair();
    ASSERT_THAT(first, IsOk());
    ASSERT_THAT(second, IsOk());
    first_ = std::move(first->first);
    second_ = std::move(second->first);
    MakeBlockingWithTimeout(first_.get());
    MakeBlockingWithTimeout(second_.get());
    thread_ = std::thread([this] { loop_->Run(); });
    StreamRelay::Options options;
    options.high_water_bytes = kHighWater;
    options.half_close_timeout = absl::ToChronoNanoseconds(kWaitTimeout);
    loop_->Post([this, options, a = std::move(first->second),
                 b = std::move(second->second)]() mutable {
      relay_ = std::make_unique<StreamRelay>(
          loop_.get(), std::make_unique<PlainTcpStream>(std::move(a)),
          std::make_unique<PlainTcpStream>(std::move(b)), options,
          [this](const absl::Status& reason) {
            {
              absl::MutexLock lock(&mu_);
              closed_reason_ = reason;
            }
            loop_->Defer([this] { relay_.reset(); });
            closed_.Notify();
          });
      relay_->Start();
    });
  }

  void TearDown() override {
    if (thread_.joinable()) {
      loop_->Post([this] {
        relay_.reset();
        loop_->Quit();
      });
      thread_.join();
    }
  }

  absl::Status ClosedReason() {
    absl::MutexLock lock(&mu_);
    return closed_reason_.value_or(absl::UnknownError("not closed"));
  }

  std::unique_ptr<EventLoop> loop_;
  std::thread thread_;
  // Loop thread only.
  std::unique_ptr<StreamRelay> relay_;
  base::ScopedFd first_;
  base::ScopedFd second_;
  absl::Notification closed_;
  absl::Mutex mu_;
  std::optional<absl::Status> closed_reason_ ABSL_GUARDED_BY(mu_);
};

TEST_F(StreamRelayTest, CopiesBothWaysInOrder) {
  ASSERT_TRUE(SendAll(first_.get(), "hello"));
  EXPECT_EQ(ReadExactly(second_.get(), 5), "hello");
  ASSERT_TRUE(SendAll(second_.get(), "world!"));
  EXPECT_EQ(ReadExactly(first_.get(), 6), "world!");
}

TEST_F(StreamRelayTest, LargeTransferArrivesWhole) {
  std::string data(4 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>(i * 7 + i / 251);
  }
  std::thread writer([&] { EXPECT_TRUE(SendAll(first_.get(), data)); });
  const std::string got = ReadExactly(second_.get(), data.size());
  writer.join();
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
}

// A reader that never reads: the writer is stopped once the socket buffers
// and one high-water mark are full, instead of the relay buffering it all.
TEST_F(StreamRelayTest, BackpressureBoundsWhatAStalledReaderPilesUp) {
  ::fcntl(first_.get(), F_SETFL, ::fcntl(first_.get(), F_GETFL) | O_NONBLOCK);
  const std::string chunk(64 * 1024, 'x');
  constexpr std::size_t kLimit = 32 * 1024 * 1024;
  std::size_t accepted = 0;
  while (accepted < kLimit) {
    const ssize_t n =
        ::send(first_.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n > 0) {
      accepted += static_cast<std::size_t>(n);
      continue;
    }
    ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
    // Stalled for good once the relay has stopped reading for a while.
    pollfd poll_fd{first_.get(), POLLOUT, 0};
    if (::poll(&poll_fd, 1, 500) == 0) break;
  }
  // Two unix socket buffers (a few hundred KiB each) plus one high-water
  // mark and a read chunk; without backpressure it would take all 32 MiB.
  EXPECT_LT(accepted, std::size_t{8} * 1024 * 1024);
  // Reading drains it all, in order.
  EXPECT_EQ(ReadExactly(second_.get(), accepted), std::string(accepted, 'x'));
}

TEST_F(StreamRelayTest, HalfClosePassesThroughAndBothEndsCloseInOrder) {
  ASSERT_TRUE(SendAll(first_.get(), "request"));
  ASSERT_EQ(::shutdown(first_.get(), SHUT_WR), 0);
  EXPECT_EQ(ReadExactly(second_.get(), 7), "request");
  EXPECT_TRUE(SeesEnd(second_.get()));
  // The other direction still flows after the half-close.
  ASSERT_TRUE(SendAll(second_.get(), "late answer"));
  EXPECT_EQ(ReadExactly(first_.get(), 11), "late answer");
  EXPECT_FALSE(closed_.HasBeenNotified());
  ASSERT_EQ(::shutdown(second_.get(), SHUT_WR), 0);
  EXPECT_TRUE(SeesEnd(first_.get()));
  ASSERT_TRUE(closed_.WaitForNotificationWithTimeout(kWaitTimeout));
  EXPECT_THAT(ClosedReason(), IsOk());
}

// One side gone for good: the next bytes towards it fail, and the relay
// closes the other side too instead of leaving it open.
TEST_F(StreamRelayTest, CloseOfOneSideClosesBoth) {
  second_.Reset();
  // Its end of stream is passed on first (half-close) ...
  EXPECT_TRUE(SeesEnd(first_.get()));
  // ... then bytes towards it fail the relay, which closes both.
  ASSERT_TRUE(SendAll(first_.get(), "into the void"));
  ASSERT_TRUE(closed_.WaitForNotificationWithTimeout(kWaitTimeout));
  EXPECT_FALSE(ClosedReason().ok());
  // Closed, not only half-closed: sending to it now fails.
  EXPECT_TRUE(dualrpc_testing::Eventually([&] {
    return ::send(first_.get(), "x", 1, MSG_NOSIGNAL) < 0 &&
           (errno == EPIPE || errno == ECONNRESET);
  }));
}

}  // namespace
}  // namespace dualrpc::net
