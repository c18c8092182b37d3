#include "dualrpc/cli/request_headers.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace dualrpc::cli {
namespace {

using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

absl::StatusOr<rpc::Metadata> Parse(std::vector<std::string> headers) {
  return ParseRequestHeaders(headers);
}

TEST(ParseRequestHeadersTest, SplitsAtFirstColonLowersAndTrims) {
  EXPECT_THAT(Parse({"X-Trace:  a:b c ", "k:v", "empty"}),
              IsOkAndHolds(ElementsAre(Pair("x-trace", "a:b c"), Pair("k", "v"),
                                       Pair("empty", ""))));
  EXPECT_THAT(Parse({}), IsOkAndHolds(IsEmpty()));
  // Repeated keys stay, in order.
  EXPECT_THAT(Parse({"k: 1", "k: 2"}),
              IsOkAndHolds(ElementsAre(Pair("k", "1"), Pair("k", "2"))));
}

TEST(ParseRequestHeadersTest, BinaryValuesAreBase64AsGrpcurlTakesThem) {
  const std::string bytes("\x00\xff\xfe", 3);
  for (const std::string encoded : {"AP/+", "AP_-", "AA==", "AA"}) {
    absl::StatusOr<rpc::Metadata> metadata = Parse({"trace-bin: " + encoded});
    ASSERT_THAT(metadata, IsOkAndHolds(testing::SizeIs(1))) << encoded;
  }
  EXPECT_THAT(Parse({"trace-bin: AP/+"}),
              IsOkAndHolds(ElementsAre(Pair("trace-bin", bytes))));
  EXPECT_THAT(Parse({"trace-bin: AP_-"}),
              IsOkAndHolds(ElementsAre(Pair("trace-bin", bytes))));
  EXPECT_THAT(
      Parse({"trace-bin: AA"}),
      IsOkAndHolds(ElementsAre(Pair("trace-bin", std::string(1, '\0')))));
  EXPECT_THAT(Parse({"trace-bin: not base64!"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("must be base64")));
}

// The same rules every transport enforces (rpc/metadata.h).
TEST(ParseRequestHeadersTest, RefusesWhatTransportsRefuse) {
  EXPECT_THAT(
      Parse({"bad key: v"}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad key")));
  EXPECT_THAT(Parse({": v"}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Parse({"grpc-timeout: 1S"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Parse({"k: caf\xc3\xa9"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DisplayMetadataValueTest, BinaryAsBase64TextAsIs) {
  EXPECT_EQ(DisplayMetadataValue("trace-bin", std::string("\x00\xff\xfe", 3)),
            "AP/+");
  EXPECT_EQ(DisplayMetadataValue("trace", "a b"), "a b");
}

}  // namespace
}  // namespace dualrpc::cli
