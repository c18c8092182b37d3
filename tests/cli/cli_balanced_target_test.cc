// The dualrpc CLI takes the targets that name several servers (decision
// D1): `dualrpc ls --target raw://A,B` against real dualrpc-server
// processes, with a first address that refuses connections (the call goes
// to the next server), and the gRPC and dns forms.

#include <netinet/in.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dualrpc/base/scoped_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace dualrpc::cli {
namespace {

using ::dualrpc_testing::BinaryPath;
using ::dualrpc_testing::CommandResult;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::RunCommand;
using ::dualrpc_testing::ServerProcess;
using ::dualrpc_testing::StartServer;
using ::dualrpc_testing::TempDir;
using ::testing::HasSubstr;

CommandResult Ls(const std::string& target) {
  return RunCommand(
      {BinaryPath("dualrpc"), "ls", "--target", target, "--timeout", "10s"});
}

TEST(CliBalancedTargetTest, LsTakesListsAndDnsTargets) {
  TempDir root;
  root.WriteFile("backend-file", "");
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      StartServer(root.path());
  ASSERT_THAT(server, IsOk());
  absl::StatusOr<std::string> raw = (*server)->Address("raw");
  absl::StatusOr<std::string> grpc = (*server)->Address("grpc");
  ASSERT_THAT(raw, IsOk());
  ASSERT_THAT(grpc, IsOk());

  // Bound, never listening: connecting there is refused.
  base::ScopedFd refusing(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(
      ::bind(refusing.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(::getsockname(refusing.get(), reinterpret_cast<sockaddr*>(&address),
                          &length),
            0);
  const std::string refused =
      absl::StrCat("127.0.0.1:", ntohs(address.sin_port));
  const std::string raw_port = raw->substr(raw->rfind(':') + 1);
  const std::string grpc_port = grpc->substr(grpc->rfind(':') + 1);

  for (const std::string& target :
       {absl::StrCat("raw://", refused, ",", *raw),
        absl::StrCat("raw://", *raw, ",", *raw),
        absl::StrCat("raw+dns:///localhost:", raw_port),
        absl::StrCat("grpc://", *grpc, ",", *grpc),
        absl::StrCat(*grpc, ",", *grpc),
        absl::StrCat("dns:///localhost:", grpc_port)}) {
    const CommandResult result = Ls(target);
    EXPECT_EQ(result.exit_code, 0) << target << ": " << result.stderr_text;
    EXPECT_THAT(result.stdout_text, HasSubstr("backend-file")) << target;
  }

  const CommandResult names_on_grpc = Ls("grpc://localhost:1,localhost:2");
  EXPECT_NE(names_on_grpc.exit_code, 0);
  EXPECT_THAT(names_on_grpc.stderr_text, HasSubstr("use dns:///NAME:PORT"));
}

}  // namespace
}  // namespace dualrpc::cli
