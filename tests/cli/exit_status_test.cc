#include "dualrpc/cli/exit_status.h"

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace dualrpc::cli {
namespace {

TEST(ExitStatusTest, GrpcurlsCodes) {
  EXPECT_EQ(ExitStatusFor(absl::OkStatus()), 0);
  EXPECT_EQ(ExitStatusFor(absl::InvalidArgumentError("bad JSON")), 1);
  EXPECT_EQ(ExitStatusFor(absl::NotFoundError("no such method")), 1);
  EXPECT_EQ(ExitStatusFor(AsRpcError(absl::NotFoundError("x"))), 69);
  EXPECT_EQ(ExitStatusFor(AsRpcError(absl::PermissionDeniedError("x"))), 71);
  EXPECT_EQ(ExitStatusFor(AsRpcError(absl::UnimplementedError("x"))), 76);
  EXPECT_EQ(ExitStatusFor(AsRpcError(absl::DeadlineExceededError("x"))), 68);
  EXPECT_EQ(ExitStatusFor(AsRpcError(absl::UnauthenticatedError("x"))), 80);
}

TEST(ExitStatusTest, MarkKeepsCodeAndMessage) {
  const absl::Status marked = AsRpcError(absl::NotFoundError("gone"));
  EXPECT_TRUE(IsRpcError(marked));
  EXPECT_EQ(marked.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(marked.message(), "gone");
  EXPECT_FALSE(IsRpcError(absl::NotFoundError("gone")));
  EXPECT_TRUE(AsRpcError(absl::OkStatus()).ok());
  EXPECT_FALSE(IsRpcError(AsRpcError(absl::OkStatus())));
}

}  // namespace
}  // namespace dualrpc::cli
