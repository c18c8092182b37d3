// PlainTcpStream over a real socketpair: each result a ByteStream promises
// (bytes moved, would block and on what, end of stream, error), and that the
// stream owns its fd.

#include "dualrpc/net/byte_stream.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/buffer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace dualrpc::net {
namespace {

using ::dualrpc_testing::IsOk;
using ::testing::Not;

class PlainTcpStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                           0, fds),
              0);
    stream_ = std::make_unique<PlainTcpStream>(base::ScopedFd(fds[0]));
    peer_ = base::ScopedFd(fds[1]);
  }

  void PeerWrite(const std::string& bytes) {
    ASSERT_EQ(::write(peer_.get(), bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
  }

  // What the peer can read within a second (empty on timeout or EOF).
  std::string PeerRead() {
    pollfd readable{peer_.get(), POLLIN, 0};
    if (::poll(&readable, 1, 1000) != 1) return "";
    char data[4096];
    const ssize_t n = ::read(peer_.get(), data, sizeof data);
    return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : "";
  }

  std::unique_ptr<PlainTcpStream> stream_;
  base::ScopedFd peer_;
};

TEST_F(PlainTcpStreamTest, ReadAppendsWhatArrived) {
  PeerWrite("hello");
  Buffer buffer;
  buffer.Append("x");
  absl::StatusOr<Transfer> read = stream_->ReadInto(&buffer);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->bytes, 5u);
  EXPECT_FALSE(read->eof);
  EXPECT_EQ(buffer.View(), "xhello");
}

TEST_F(PlainTcpStreamTest, ReadWithNothingPendingWouldBlockOnReadable) {
  Buffer buffer;
  absl::StatusOr<Transfer> read = stream_->ReadInto(&buffer);
  ASSERT_THAT(read, IsOk());
  EXPECT_TRUE(read->would_block());
  EXPECT_EQ(read->resume_on, Readiness::kReadable);
  EXPECT_EQ(buffer.readable_bytes(), 0u);
}

TEST_F(PlainTcpStreamTest, ReadAfterPeerClosedIsEof) {
  PeerWrite("last");
  peer_ = base::ScopedFd();
  Buffer buffer;
  absl::StatusOr<Transfer> read = stream_->ReadInto(&buffer);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->bytes, 4u);
  read = stream_->ReadInto(&buffer);
  ASSERT_THAT(read, IsOk());
  EXPECT_TRUE(read->eof);
  EXPECT_FALSE(read->would_block());
  EXPECT_EQ(buffer.View(), "last");
}

TEST_F(PlainTcpStreamTest, WriteSendsAndConsumes) {
  Buffer buffer;
  buffer.Append("abc");
  absl::StatusOr<Transfer> written = stream_->WriteFrom(&buffer);
  ASSERT_THAT(written, IsOk());
  EXPECT_EQ(written->bytes, 3u);
  EXPECT_EQ(buffer.readable_bytes(), 0u);
  EXPECT_EQ(PeerRead(), "abc");
}

TEST_F(PlainTcpStreamTest, WriteToAFullSocketStopsShortAndResumesOnWritable) {
  // More than any socketpair buffer holds (the peer reads nothing).
  Buffer buffer;
  buffer.Append(std::string(16 * 1024 * 1024, 'z'));
  absl::StatusOr<Transfer> written = stream_->WriteFrom(&buffer);
  ASSERT_THAT(written, IsOk());
  EXPECT_GT(written->bytes, 0u);
  ASSERT_GT(buffer.readable_bytes(), 0u);
  EXPECT_EQ(written->resume_on, Readiness::kWritable);
  const std::size_t left = buffer.readable_bytes();
  written = stream_->WriteFrom(&buffer);
  ASSERT_THAT(written, IsOk());
  EXPECT_TRUE(written->would_block());
  EXPECT_EQ(written->resume_on, Readiness::kWritable);
  EXPECT_EQ(buffer.readable_bytes(), left);
}

TEST_F(PlainTcpStreamTest, WriteToAClosedPeerIsAnErrorNotASignal) {
  peer_ = base::ScopedFd();
  Buffer buffer;
  buffer.Append("nobody listens");
  absl::StatusOr<Transfer> written = stream_->WriteFrom(&buffer);
  EXPECT_THAT(written, Not(IsOk()));
  EXPECT_EQ(buffer.View(), "nobody listens");
}

TEST_F(PlainTcpStreamTest, ShutdownWriteEndsOurDirectionOnly) {
  stream_->ShutdownWrite();
  char byte;
  pollfd readable{peer_.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&readable, 1, 1000), 1);
  EXPECT_EQ(::read(peer_.get(), &byte, 1), 0);  // EOF at the peer.
  PeerWrite("still open");
  Buffer buffer;
  absl::StatusOr<Transfer> read = stream_->ReadInto(&buffer);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(buffer.View(), "still open");
}

TEST_F(PlainTcpStreamTest, PendingErrorIsNeverOk) {
  EXPECT_THAT(stream_->PendingError(), Not(IsOk()));
}

TEST_F(PlainTcpStreamTest, OwnsItsFd) {
  const int fd = stream_->fd();
  ASSERT_GE(fcntl(fd, F_GETFD), 0);
  stream_.reset();
  errno = 0;
  EXPECT_EQ(fcntl(fd, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

}  // namespace
}  // namespace dualrpc::net
