// The raw transport over a unix stream socket, end to end: a RawServer
// listening on a path in a temp dir, a RawChannel calling it, the peer()
// a method sees, and the socket file's lifecycle (a stale socket replaced,
// any other file refused and kept, the file unlinked at destruction).

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/raw/client/raw_channel.h"
#include "dualrpc/raw/server/raw_server.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "raw/echo_methods.h"
#include "testing/echo_call.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"
#include "testing/unary_method.h"
#include "testing/wait.h"

namespace dualrpc::raw {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::kWaitTimeout;
using ::dualrpc_testing::StatusIs;
using ::dualrpc_testing::TempDir;
using ::testing::HasSubstr;

constexpr char kEcho[] = "/test.Unix/Echo";
constexpr char kPeer[] = "/test.Unix/Peer";

void RegisterMethods(rpc::ServiceRegistry* registry) {
  AddEchoAndPeerMethods(kEcho, kPeer, registry);
}

absl::StatusOr<std::unique_ptr<RawServer>> StartOn(
    const std::string& address, const rpc::ServiceRegistry* registry) {
  RawServer::Options options;
  options.listen_address = address;
  options.event_loop_threads = 1;
  return RawServer::Start(options, registry);
}

// One call of `method`: the response's payload or the call's status.
absl::StatusOr<std::string> Call(rpc::Channel& channel, const char* method,
                                 const std::string& payload) {
  return dualrpc_testing::EchoCall(channel, payload, method);
}

absl::StatusOr<std::string> CallAt(const std::string& address,
                                   const char* method,
                                   const std::string& payload) {
  absl::StatusOr<std::shared_ptr<RawChannel>> channel =
      RawChannel::Create(address);
  if (!channel.ok()) return channel.status();
  return Call(**channel, method, payload);
}

bool IsSocketFile(const std::string& path) {
  struct stat status {};
  return ::lstat(path.c_str(), &status) == 0 && S_ISSOCK(status.st_mode);
}

bool Exists(const std::string& path) {
  struct stat status {};
  return ::lstat(path.c_str(), &status) == 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// Leaves a socket file at `path` with nobody listening: what a server killed
// with SIGKILL leaves behind.
void MakeStaleSocket(const std::string& path) {
  base::ScopedFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
  ASSERT_TRUE(fd.valid()) << std::strerror(errno);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof address.sun_path);
  std::memcpy(address.sun_path, path.data(), path.size());
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address),
                   sizeof address),
            0)
      << std::strerror(errno);
  ASSERT_EQ(::listen(fd.get(), 1), 0) << std::strerror(errno);
}

class RawUnixSocketTest : public ::testing::Test {
 protected:
  void SetUp() override { RegisterMethods(&registry_); }

  std::string SocketPath() const { return dir_.HostPath("raw.sock"); }
  std::string SocketUri() const { return "unix://" + SocketPath(); }

  TempDir dir_;
  rpc::ServiceRegistry registry_;
};

TEST_F(RawUnixSocketTest, ChannelCallsServerOverTheSocket) {
  absl::StatusOr<std::unique_ptr<RawServer>> server =
      StartOn(SocketUri(), &registry_);
  ASSERT_THAT(server, IsOk());
  EXPECT_EQ((*server)->address(), SocketUri());
  EXPECT_TRUE(IsSocketFile(SocketPath()));

  absl::StatusOr<std::shared_ptr<RawChannel>> channel =
      RawChannel::Create((*server)->address());
  ASSERT_THAT(channel, IsOk());
  EXPECT_THAT(Call(**channel, kEcho, "over unix"), IsOkAndHolds("over unix"));
  // Many calls on the one connection, as on TCP.
  for (int i = 0; i < 20; ++i) {
    EXPECT_THAT(Call(**channel, kEcho, absl::StrCat(i)),
                IsOkAndHolds(absl::StrCat(i)));
  }
  // gRPC's form for a unix peer; a connecting client's socket has no name.
  EXPECT_THAT(Call(**channel, kPeer, ""), IsOkAndHolds("unix:"));
}

TEST_F(RawUnixSocketTest, GrpcsOtherSpellingsOfTheSamePathWork) {
  absl::StatusOr<std::unique_ptr<RawServer>> server =
      StartOn("unix:" + SocketPath(), &registry_);
  ASSERT_THAT(server, IsOk());
  // Reported in one canonical spelling, whichever was asked for.
  EXPECT_EQ((*server)->address(), SocketUri());
  EXPECT_THAT(CallAt("unix:" + SocketPath(), kEcho, "a"), IsOkAndHolds("a"));
  EXPECT_THAT(CallAt(SocketUri(), kEcho, "b"), IsOkAndHolds("b"));
}

TEST_F(RawUnixSocketTest, StaleSocketFileIsReplaced) {
  ASSERT_NO_FATAL_FAILURE(MakeStaleSocket(SocketPath()));
  ASSERT_TRUE(IsSocketFile(SocketPath()));
  absl::StatusOr<std::unique_ptr<RawServer>> server =
      StartOn(SocketUri(), &registry_);
  ASSERT_THAT(server, IsOk());
  EXPECT_THAT(CallAt(SocketUri(), kEcho, "fresh"), IsOkAndHolds("fresh"));
}

TEST_F(RawUnixSocketTest, AnotherKindOfFileAtThePathIsRefusedAndKept) {
  dir_.WriteFile("raw.sock", "precious data");
  EXPECT_THAT(StartOn(SocketUri(), &registry_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not a socket")));
  EXPECT_EQ(ReadFile(SocketPath()), "precious data");

  dir_.MakeDir("dir.sock");
  EXPECT_THAT(StartOn("unix://" + dir_.HostPath("dir.sock"), &registry_),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(Exists(dir_.HostPath("dir.sock")));
}

TEST_F(RawUnixSocketTest, SocketFileIsUnlinkedWhenTheServerIsDestroyed) {
  absl::StatusOr<std::unique_ptr<RawServer>> server =
      StartOn(SocketUri(), &registry_);
  ASSERT_THAT(server, IsOk());
  ASSERT_TRUE(IsSocketFile(SocketPath()));
  server->reset();
  EXPECT_FALSE(Exists(SocketPath()));
  // Nobody listens there now.
  EXPECT_THAT(CallAt(SocketUri(), kEcho, "gone"),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(RawUnixSocketTest, AFileThatReplacedTheSocketIsNotUnlinked) {
  absl::StatusOr<std::unique_ptr<RawServer>> server =
      StartOn(SocketUri(), &registry_);
  ASSERT_THAT(server, IsOk());
  // Someone else's file now sits at the path (another server replaced the
  // socket, say): the destructor must leave it alone.
  dir_.WriteFile("other", "theirs");
  ASSERT_EQ(::rename(dir_.HostPath("other").c_str(), SocketPath().c_str()), 0);
  server->reset();
  EXPECT_EQ(ReadFile(SocketPath()), "theirs");
}

TEST_F(RawUnixSocketTest, NoServerAtThePathIsUnavailable) {
  EXPECT_THAT(
      CallAt(SocketUri(), kEcho, "nobody"),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr(SocketPath())));
}

TEST_F(RawUnixSocketTest, MalformedUnixAddressesAreInvalidArgument) {
  const std::string too_long = "unix:///" + std::string(200, 'x');
  for (const std::string& address :
       {too_long, std::string("unix:"), std::string("unix://host/path")}) {
    EXPECT_THAT(StartOn(address, &registry_),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << address;
    // A channel resolves at its first connect: the call fails, naming the
    // address (CreateChannel refuses these targets up front).
    EXPECT_THAT(CallAt(address, kEcho, "x"),
                StatusIs(absl::StatusCode::kUnavailable, HasSubstr(address)))
        << address;
  }
}

}  // namespace
}  // namespace dualrpc::raw
