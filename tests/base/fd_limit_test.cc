// RaiseOpenFileLimit: the soft limit goes up to the hard one, and a limit
// already there is left alone. The test lowers its own soft limit first
// and puts it back after.

#include "dualrpc/base/fd_limit.h"

#include <sys/resource.h>

#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace dualrpc::base {
namespace {

using ::dualrpc_testing::IsOk;

class FdLimitTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved_), 0); }
  void TearDown() override { ::setrlimit(RLIMIT_NOFILE, &saved_); }

  static rlim_t Soft() {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    return limit.rlim_cur;
  }

  rlimit saved_{};
};

TEST_F(FdLimitTest, RaisesTheSoftLimitToTheHardOne) {
  if (saved_.rlim_max <= 64 || saved_.rlim_max == RLIM_INFINITY) {
    GTEST_SKIP() << "hard limit " << saved_.rlim_max;
  }
  rlimit lowered = saved_;
  lowered.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);

  absl::StatusOr<OpenFileLimit> raised = RaiseOpenFileLimit();
  ASSERT_THAT(raised, IsOk());
  EXPECT_EQ(raised->before, 64);
  EXPECT_EQ(raised->now, static_cast<std::int64_t>(saved_.rlim_max));
  EXPECT_EQ(Soft(), saved_.rlim_max);
}

TEST_F(FdLimitTest, LimitAtTheHardOneStays) {
  ASSERT_THAT(RaiseOpenFileLimit(), IsOk());
  const rlim_t soft = Soft();
  absl::StatusOr<OpenFileLimit> again = RaiseOpenFileLimit();
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->before, again->now);
  EXPECT_EQ(Soft(), soft);
}

}  // namespace
}  // namespace dualrpc::base
