#include "cli/file_service_client.h"

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace dualrpc::cli {
namespace {

TEST(MakeClientTest, GrpcTargetNeedsNoServer) {
  absl::StatusOr<std::unique_ptr<FileServiceClient>> client =
      MakeClient("grpc://h:1");
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_NE(*client, nullptr);
}

TEST(MakeClientTest, RawIsUnimplementedForNow) {
  EXPECT_EQ(MakeClient("raw://h:1").status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(MakeClientTest, BadTargetsAreInvalidArgument) {
  EXPECT_EQ(MakeClient("garbage").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeClient("http://h:1").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeClient("raw://h").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dualrpc::cli
