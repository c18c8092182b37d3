// TcpConnection over ByteStream wrappers, on a real EventLoop and a real
// socketpair: the protocol (the Handler) sees only what the stream makes of
// the bytes, and the connection follows the readiness the stream asks for.

#include "dualrpc/net/tcp_connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/net/byte_stream.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loop_thread.h"
#include "testing/status_matchers.h"

namespace dualrpc::net {
namespace {

using ::dualrpc_testing::IsOk;

constexpr char kXor = 0x5a;

std::string Xored(std::string bytes) {
  for (char& c : bytes) c ^= kXor;
  return bytes;
}

// A wrapper stream, as TLS will be: transforms every byte (XOR) in both
// directions over a PlainTcpStream, and counts its calls.
class XorStream final : public ByteStream {
 public:
  explicit XorStream(base::ScopedFd socket) : inner_(std::move(socket)) {}

  int fd() const override { return inner_.fd(); }

  absl::StatusOr<Transfer> ReadInto(Buffer* buffer) override {
    reads.fetch_add(1);
    absl::StatusOr<Transfer> read = inner_.ReadInto(&scratch_);
    if (!read.ok() || read->bytes == 0) return read;
    std::string plain = Xored(std::string(scratch_.View()));
    scratch_.RetrieveAll();
    buffer->Append(plain);
    return read;
  }

  absl::StatusOr<Transfer> WriteFrom(Buffer* buffer) override {
    writes.fetch_add(1);
    Buffer wire;
    wire.Append(Xored(std::string(buffer->View())));
    absl::StatusOr<Transfer> written = inner_.WriteFrom(&wire);
    if (written.ok()) buffer->Retrieve(written->bytes);
    return written;
  }

  void ShutdownWrite() override { inner_.ShutdownWrite(); }
  absl::Status PendingError() override { return inner_.PendingError(); }

  std::atomic<int> reads{0};
  std::atomic<int> writes{0};

 private:
  PlainTcpStream inner_;
  Buffer scratch_;
};

// A stream with a handshake before the first application byte, as TLS has:
// until the peer's hello byte 'H' has been read, writes cannot proceed and
// wait for readable, not writable.
class HandshakeStream final : public ByteStream {
 public:
  explicit HandshakeStream(base::ScopedFd socket) : inner_(std::move(socket)) {}

  int fd() const override { return inner_.fd(); }

  absl::StatusOr<Transfer> ReadInto(Buffer* buffer) override {
    if (handshaken_) return inner_.ReadInto(buffer);
    Buffer hello;
    absl::StatusOr<Transfer> read = inner_.ReadInto(&hello);
    if (!read.ok() || read->bytes == 0) return read;
    if (hello.Peek()[0] != 'H') {
      return absl::UnavailableError("handshake failed");
    }
    handshaken_ = true;
    hello.Retrieve(1);
    buffer->Append(hello.View());
    return Transfer{read->bytes - 1, false, Readiness::kReadable};
  }

  absl::StatusOr<Transfer> WriteFrom(Buffer* buffer) override {
    writes.fetch_add(1);
    if (!handshaken_) return Transfer{0, false, Readiness::kReadable};
    return inner_.WriteFrom(buffer);
  }

  void ShutdownWrite() override { inner_.ShutdownWrite(); }
  absl::Status PendingError() override { return inner_.PendingError(); }

  std::atomic<int> writes{0};

 private:
  PlainTcpStream inner_;
  bool handshaken_ = false;
};

// A protocol that knows nothing of streams: answers each input with
// "pong:" and what it read, and records what it saw.
class PongHandler final : public TcpConnection::Handler {
 public:
  void OnInput(Buffer* input) override {
    {
      absl::MutexLock lock(&mu_);
      seen_.append(input->View().data(), input->readable_bytes());
    }
    connection->output()->Append("pong:");
    connection->output()->Append(input->View());
    input->RetrieveAll();
    connection->ScheduleFlush();
  }
  void OnPeerEof() override { connection->CloseAfterFlush(); }
  void OnClosed(const absl::Status& /*reason*/) override {}

  std::string seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

  TcpConnection* connection = nullptr;

 private:
  absl::Mutex mu_;
  std::string seen_;
};

class TcpConnectionStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                           0, fds),
              0);
    local_ = base::ScopedFd(fds[0]);
    peer_ = base::ScopedFd(fds[1]);
  }

  void TearDown() override {
    ASSERT_TRUE(loop_.RunOnLoop([this] { connection_.reset(); }));
  }

  // Starts a TcpConnection over `stream` on the loop.
  void StartConnection(std::unique_ptr<ByteStream> stream) {
    ASSERT_TRUE(loop_.RunOnLoop([this, stream = std::move(stream)]() mutable {
      connection_ = std::make_unique<TcpConnection>(
          loop_.loop(), std::move(stream), TcpConnection::Options(), &handler_);
      handler_.connection = connection_.get();
      ASSERT_THAT(connection_->Start(), IsOk());
    }));
  }

  void PeerWrite(const std::string& bytes) {
    ASSERT_EQ(::write(peer_.get(), bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
  }

  // Reads until `size` bytes arrived or ten seconds passed.
  std::string PeerRead(std::size_t size) {
    std::string got;
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (got.size() < size && absl::Now() < deadline) {
      pollfd readable{peer_.get(), POLLIN, 0};
      if (::poll(&readable, 1, 100) != 1) continue;
      char data[4096];
      const ssize_t n = ::read(peer_.get(), data, sizeof data);
      if (n <= 0) break;
      got.append(data, static_cast<std::size_t>(n));
    }
    return got;
  }

  LoopThread loop_;
  base::ScopedFd local_;
  base::ScopedFd peer_;
  PongHandler handler_;
  std::unique_ptr<TcpConnection> connection_;
};

TEST_F(TcpConnectionStreamTest, AWrapperTransformsBytesTheProtocolNeverSees) {
  auto stream = std::make_unique<XorStream>(std::move(local_));
  XorStream* const xor_stream = stream.get();
  StartConnection(std::move(stream));

  PeerWrite(Xored("ping"));
  // On the wire both ways: transformed. To the protocol: plain.
  EXPECT_EQ(PeerRead(9), Xored("pong:ping"));
  EXPECT_EQ(handler_.seen(), "ping");
  EXPECT_GE(xor_stream->reads.load(), 1);
  EXPECT_GE(xor_stream->writes.load(), 1);
}

TEST_F(TcpConnectionStreamTest, PlainSocketConstructorIsAPlainStream) {
  ASSERT_TRUE(loop_.RunOnLoop([this] {
    connection_ = std::make_unique<TcpConnection>(
        loop_.loop(), std::move(local_), TcpConnection::Options(), &handler_);
    handler_.connection = connection_.get();
    ASSERT_THAT(connection_->Start(), IsOk());
  }));
  PeerWrite("ping");
  EXPECT_EQ(PeerRead(9), "pong:ping");
}

TEST_F(TcpConnectionStreamTest, AWriteWaitingOnReadableResumesWhenReadable) {
  auto stream = std::make_unique<HandshakeStream>(std::move(local_));
  HandshakeStream* const handshake = stream.get();
  StartConnection(std::move(stream));
  // Output before the handshake: the stream cannot take it yet.
  ASSERT_TRUE(loop_.RunOnLoop([this] {
    connection_->output()->Append("greeting");
    connection_->ScheduleFlush();
  }));
  // Several loop iterations: a connection waiting for writable (which the
  // socket always is) would retry the write in each one.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(loop_.RunOnLoop([] {}));
  EXPECT_EQ(handshake->writes.load(), 1);

  PeerWrite("H");  // The handshake reply: now the write can go.
  EXPECT_EQ(PeerRead(8), "greeting");
  EXPECT_EQ(handshake->writes.load(), 2);
  EXPECT_EQ(handler_.seen(), "");  // The handshake byte is the stream's.

  PeerWrite("ping");
  EXPECT_EQ(PeerRead(9), "pong:ping");
}

}  // namespace
}  // namespace dualrpc::net
