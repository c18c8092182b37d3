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

TEST(ExitStatusTest, NotServingIsGrpcHealthProbesUnhealthyCode) {
  const absl::Status not_serving =
      AsNotServing(absl::UnavailableError("NOT_SERVING"));
  EXPECT_TRUE(IsNotServing(not_serving));
  EXPECT_EQ(not_serving.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(not_serving.message(), "NOT_SERVING");
  EXPECT_EQ(ExitStatusFor(not_serving), 4);
  // An RPC that failed UNAVAILABLE is not an answer that said so.
  EXPECT_EQ(ExitStatusFor(AsRpcError(absl::UnavailableError("x"))), 78);
  EXPECT_FALSE(IsNotServing(absl::UnavailableError("x")));
  EXPECT_TRUE(AsNotServing(absl::OkStatus()).ok());
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
