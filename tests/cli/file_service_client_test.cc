#include "dualrpc/cli/file_service_client.h"

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace dualrpc::cli {
namespace {

using ::dualrpc_testing::IsOk;

using ::dualrpc_testing::StatusIs;

TEST(MakeClientTest, EverySchemeNeedsNoServer) {
  for (const char* target : {"grpc://h:1", "raw://h:1"}) {
    absl::StatusOr<std::unique_ptr<FileServiceClient>> client =
        MakeClient(target);
    ASSERT_THAT(client, IsOk()) << target;
    EXPECT_NE(*client, nullptr) << target;
  }
}

TEST(MakeClientTest, BadTargetsAreInvalidArgument) {
  EXPECT_THAT(MakeClient("garbage"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MakeClient("http://h:1"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MakeClient("raw://h"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace dualrpc::cli
