// Acceptor on a real listening socket bound to 127.0.0.1:0, with clients
// connecting from the test thread.

#include "dualrpc/net/acceptor.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/socket_ops.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loop_thread.h"
#include "testing/status_matchers.h"

namespace dualrpc::net {
namespace {

using ::dualrpc_testing::IsOk;

class AcceptorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<base::ScopedFd> listener = Listen("127.0.0.1:0", 16);
    ASSERT_THAT(listener, IsOk());
    listener_ = *std::move(listener);
    absl::StatusOr<SocketAddress> bound = LocalAddress(listener_.get());
    ASSERT_THAT(bound, IsOk());
    address_ = bound->ToHostPort();
    ASSERT_TRUE(loop_.RunOnLoop([this] {
      acceptor_ = std::make_unique<Acceptor>(
          loop_.loop(), listener_.get(), Acceptor::Options(),
          [this](base::ScopedFd socket, const SocketAddress& peer) {
            absl::MutexLock lock(&mu_);
            accepted_.push_back(std::move(socket));
            peers_.insert(peer.ToHostPort());
          });
    }));
  }

  void TearDown() override {
    ASSERT_TRUE(loop_.RunOnLoop([this] { acceptor_.reset(); }));
  }

  // A connected client, and its address as the server sees it.
  std::pair<base::ScopedFd, std::string> ConnectClient() {
    absl::StatusOr<base::ScopedFd> client = ConnectWithin(absl::Seconds(5));
    EXPECT_THAT(client, IsOk());
    if (!client.ok()) return {};
    absl::StatusOr<SocketAddress> local = LocalAddress(client->get());
    EXPECT_THAT(local, IsOk());
    return {*std::move(client), local.ok() ? local->ToHostPort() : ""};
  }

  // A blocking connect for the test's own thread: the socket_ops steps the
  // Connector takes, waiting for writability here with poll().
  absl::StatusOr<base::ScopedFd> ConnectWithin(absl::Duration timeout) {
    absl::StatusOr<std::vector<SocketAddress>> addresses = Resolve(address_);
    if (!addresses.ok()) return addresses.status();
    bool in_progress = false;
    absl::StatusOr<base::ScopedFd> fd =
        StartConnect(addresses->front(), &in_progress);
    if (!fd.ok() || !in_progress) return fd;
    pollfd writable{fd->get(), POLLOUT, 0};
    if (::poll(&writable, 1, absl::ToInt64Milliseconds(timeout)) != 1) {
      return absl::DeadlineExceededError("connect did not finish");
    }
    if (absl::Status done = FinishConnect(fd->get(), addresses->front());
        !done.ok()) {
      return done;
    }
    return fd;
  }

  bool WaitForAccepted(std::size_t count) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return accepted_.size() >= count;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }

  std::size_t accepted_count() {
    absl::MutexLock lock(&mu_);
    return accepted_.size();
  }

  base::ScopedFd listener_;
  std::string address_;
  LoopThread loop_;
  std::unique_ptr<Acceptor> acceptor_;
  absl::Mutex mu_;
  std::vector<base::ScopedFd> accepted_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> peers_ ABSL_GUARDED_BY(mu_);
};

TEST_F(AcceptorTest, HandsOverEveryConnectionWithItsPeer) {
  ASSERT_TRUE(
      loop_.RunOnLoop([this] { ASSERT_THAT(acceptor_->Start(), IsOk()); }));
  std::vector<base::ScopedFd> clients;
  std::set<std::string> client_addresses;
  for (int i = 0; i < 3; ++i) {
    auto [client, address] = ConnectClient();
    clients.push_back(std::move(client));
    client_addresses.insert(address);
  }
  ASSERT_TRUE(WaitForAccepted(3));
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(peers_, client_addresses);
  for (const base::ScopedFd& socket : accepted_) {
    EXPECT_TRUE(fcntl(socket.get(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(fcntl(socket.get(), F_GETFD) & FD_CLOEXEC);
    int no_delay = 0;
    socklen_t length = sizeof no_delay;
    ASSERT_EQ(::getsockopt(socket.get(), IPPROTO_TCP, TCP_NODELAY, &no_delay,
                           &length),
              0);
    EXPECT_NE(no_delay, 0);
  }
}

TEST_F(AcceptorTest, StoppedAcceptorLeavesConnectionsInTheBacklog) {
  ASSERT_TRUE(loop_.RunOnLoop([this] {
    ASSERT_THAT(acceptor_->Start(), IsOk());
    EXPECT_TRUE(acceptor_->accepting());
    acceptor_->Stop();
    EXPECT_FALSE(acceptor_->accepting());
  }));
  auto [client, address] = ConnectClient();
  // The connection is established (in the backlog) before Connect returns,
  // so a watching acceptor would take it in the iteration that runs this.
  ASSERT_TRUE(loop_.RunOnLoop([] {}));
  EXPECT_EQ(accepted_count(), 0u);

  ASSERT_TRUE(
      loop_.RunOnLoop([this] { ASSERT_THAT(acceptor_->Start(), IsOk()); }));
  ASSERT_TRUE(WaitForAccepted(1));
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(peers_, std::set<std::string>{address});
}

TEST_F(AcceptorTest, StartTwiceIsOneWatch) {
  ASSERT_TRUE(loop_.RunOnLoop([this] {
    ASSERT_THAT(acceptor_->Start(), IsOk());
    // A second epoll ADD of the same fd would fail with EEXIST.
    EXPECT_THAT(acceptor_->Start(), IsOk());
  }));
  auto [client, address] = ConnectClient();
  ASSERT_TRUE(WaitForAccepted(1));
}

}  // namespace
}  // namespace dualrpc::net
