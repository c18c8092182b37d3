#include "dualrpc/cli/file_service_client.h"

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace dualrpc::cli {
namespace {

TEST(MakeClientTest, EverySchemeNeedsNoServer) {
  for (const char* target : {"grpc://h:1", "raw://h:1"}) {
    absl::StatusOr<std::unique_ptr<FileServiceClient>> client =
        MakeClient(target);
    ASSERT_TRUE(client.ok()) << target << ": " << client.status();
    EXPECT_NE(*client, nullptr) << target;
  }
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
