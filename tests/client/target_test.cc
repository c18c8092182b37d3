#include "dualrpc/client/target.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace dualrpc::client {
namespace {

using ::dualrpc_testing::IsOk;

using ::testing::HasSubstr;

TEST(ParseTargetTest, Grpc) {
  absl::StatusOr<Target> target = ParseTarget("grpc://h:1");
  ASSERT_THAT(target, IsOk());
  EXPECT_EQ(target->scheme, TransportScheme::kGrpc);
  EXPECT_EQ(target->host, "h");
  EXPECT_EQ(target->port, 1);
  EXPECT_EQ(target->HostPort(), "h:1");
}

TEST(ParseTargetTest, Raw) {
  absl::StatusOr<Target> target = ParseTarget("raw://127.0.0.1:65535");
  ASSERT_THAT(target, IsOk());
  EXPECT_EQ(target->scheme, TransportScheme::kRaw);
  EXPECT_EQ(target->HostPort(), "127.0.0.1:65535");
}

TEST(ParseTargetTest, BracketedIpv6) {
  absl::StatusOr<Target> target = ParseTarget("grpc://[::1]:50051");
  ASSERT_THAT(target, IsOk());
  EXPECT_EQ(target->host, "[::1]");
  EXPECT_EQ(target->port, 50051);
  EXPECT_EQ(target->HostPort(), "[::1]:50051");
}

TEST(ParseTargetTest, UnknownSchemeIsInvalidArgument) {
  for (const char* uri : {"http://h:1", "GRPC://h:1", "://h:1"}) {
    absl::StatusOr<Target> target = ParseTarget(uri);
    EXPECT_EQ(target.status().code(), absl::StatusCode::kInvalidArgument)
        << uri;
    EXPECT_THAT(target.status().message(),
                HasSubstr("unsupported target scheme"))
        << uri;
  }
}

TEST(ParseTargetTest, GarbageIsInvalidArgument) {
  for (const char* uri :
       {"", "garbage", "h:1", "grpc://", "grpc://h", "grpc://h:", "grpc://:1",
        "grpc://h:0", "grpc://h:65536", "grpc://h:+1", "grpc://h:-1",
        "grpc://h: 1", "grpc://h:1x", "grpc://h:1/path", "grpc://a:b:1",
        "grpc://::1:1", "grpc://[]:1", "grpc://h/x:1"}) {
    EXPECT_EQ(ParseTarget(uri).status().code(),
              absl::StatusCode::kInvalidArgument)
        << uri;
  }
}

}  // namespace
}  // namespace dualrpc::client
