#include "testing/status_matchers.h"

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"

namespace dualrpc_testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Matcher;
using ::testing::Not;

// What `matcher` says about `value` when asked to explain (empty on a match
// that has nothing to add).
template <typename T, typename M>
std::string Explain(const M& matcher, const T& value) {
  const Matcher<const T&> typed = matcher;
  ::testing::StringMatchResultListener listener;
  typed.MatchAndExplain(value, &listener);
  return listener.str();
}

template <typename T, typename M>
std::string Describe(const M& matcher) {
  const Matcher<const T&> typed = matcher;
  return ::testing::DescribeMatcher<const T&>(typed);
}

TEST(StatusMatchersTest, IsOkMatchesOnlyOk) {
  EXPECT_THAT(absl::OkStatus(), IsOk());
  EXPECT_THAT(absl::StatusOr<int>(7), IsOk());
  EXPECT_THAT(absl::NotFoundError("x"), Not(IsOk()));
  EXPECT_THAT(absl::StatusOr<int>(absl::InternalError("x")), Not(IsOk()));
}

TEST(StatusMatchersTest, IsOkFailureNamesTheStatus) {
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THAT(absl::NotFoundError("no such file"), IsOk()),
      "whose status is NOT_FOUND: no such file");
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THAT(absl::StatusOr<std::string>(absl::UnavailableError("down")),
                  IsOk()),
      "whose status is UNAVAILABLE: down");
  EXPECT_EQ(Describe<absl::Status>(IsOk()), "is OK");
}

TEST(StatusMatchersTest, StatusIsChecksTheCode) {
  EXPECT_THAT(absl::NotFoundError("x"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(absl::StatusOr<int>(absl::NotFoundError("x")),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(absl::OkStatus(), StatusIs(absl::StatusCode::kOk));
  EXPECT_THAT(absl::NotFoundError("x"),
              Not(StatusIs(absl::StatusCode::kInternal)));
  EXPECT_THAT(absl::StatusOr<int>(3),
              Not(StatusIs(absl::StatusCode::kNotFound)));
}

TEST(StatusMatchersTest, StatusIsFailsOnAWrongCodeAndSaysWhatItSaw) {
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(absl::InternalError("boom"),
                                      StatusIs(absl::StatusCode::kNotFound)),
                          "whose status is INTERNAL: boom");
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(absl::StatusOr<int>(5),
                                      StatusIs(absl::StatusCode::kNotFound)),
                          "whose status is OK");
  EXPECT_EQ(Explain(StatusIs(absl::StatusCode::kNotFound),
                    absl::AbortedError("late")),
            "whose status is ABORTED: late");
  EXPECT_THAT(Describe<absl::Status>(StatusIs(absl::StatusCode::kNotFound)),
              HasSubstr("has status code NOT_FOUND"));
}

TEST(StatusMatchersTest, StatusIsChecksTheMessage) {
  const absl::Status status = absl::InvalidArgumentError("bad path \"/x\"");
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kInvalidArgument, "bad path \"/x\""));
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("/x")));
  EXPECT_THAT(status, Not(StatusIs(absl::StatusCode::kInvalidArgument,
                                   HasSubstr("/y"))));
  EXPECT_THAT(status,
              Not(StatusIs(absl::StatusCode::kNotFound, HasSubstr("/x"))));
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THAT(status,
                  StatusIs(absl::StatusCode::kInvalidArgument, "other")),
      "whose status is INVALID_ARGUMENT: bad path");
}

TEST(StatusMatchersTest, IsOkAndHoldsChecksStatusAndValue) {
  EXPECT_THAT(absl::StatusOr<int>(3), IsOkAndHolds(3));
  EXPECT_THAT(absl::StatusOr<std::string>("abc"), IsOkAndHolds(HasSubstr("b")));
  EXPECT_THAT(absl::StatusOr<int>(3), Not(IsOkAndHolds(4)));
  EXPECT_THAT(absl::StatusOr<int>(absl::NotFoundError("x")),
              Not(IsOkAndHolds(3)));
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THAT(absl::StatusOr<int>(absl::NotFoundError("gone")),
                  IsOkAndHolds(3)),
      "whose status is NOT_FOUND: gone");
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(absl::StatusOr<int>(4), IsOkAndHolds(3)),
                          "whose value 4 doesn't match");
}

TEST(StatusMatchersTest, AssertThatIsOkStopsTheTest) {
  EXPECT_FATAL_FAILURE(ASSERT_THAT(absl::DataLossError("torn"), IsOk()),
                       "whose status is DATA_LOSS: torn");
}

}  // namespace
}  // namespace dualrpc_testing
