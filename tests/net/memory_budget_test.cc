// The server-wide buffer budget (net::MemoryBudget: hysteresis, one report
// per flip) and the choice of which loop sheds (net::LoopToAskToShed).

#include "dualrpc/net/memory_budget.h"

#include <cstdint>
#include <optional>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dualrpc::net {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;

TEST(MemoryBudgetTest, PausesOverTheLimitAndResumesUnderTheLowWaterMark) {
  std::vector<bool> flips;
  MemoryBudget budget(/*limit=*/100, /*low_water=*/60,
                      [&](bool paused) { flips.push_back(paused); });
  budget.Add(100);
  EXPECT_FALSE(budget.reading_paused());  // At the limit, not over it.
  budget.Add(1);
  EXPECT_TRUE(budget.reading_paused());
  budget.Add(50);   // Further over: no second report.
  budget.Add(-80);  // 71: under the limit, not yet under the low-water mark.
  EXPECT_TRUE(budget.reading_paused());
  budget.Add(-11);  // 60: at the mark.
  EXPECT_TRUE(budget.reading_paused());
  budget.Add(-1);
  EXPECT_FALSE(budget.reading_paused());
  budget.Add(0);
  EXPECT_EQ(budget.total(), 59);
  EXPECT_THAT(flips, ElementsAre(true, false));
}

TEST(LoopToAskToShedTest, TheLoopWithTheLargestConnectionSheds) {
  const std::vector<std::int64_t> others = {5, 9, 7};
  EXPECT_THAT(LoopToAskToShed(3, others), Optional(1u));
  EXPECT_EQ(LoopToAskToShed(9, others), std::nullopt);  // A tie: this one.
  EXPECT_EQ(LoopToAskToShed(10, others), std::nullopt);
  EXPECT_EQ(LoopToAskToShed(10, {}), std::nullopt);
}

// The stall CI saw (a well-behaved client waited 3.15 s under the 200
// unread-connection attack): loop A holds the offenders but defers to B,
// whose published figure is stale (the size of a connection B has since
// shed); B, with nothing left to shed, used to stop there, and reading
// stayed paused on every loop until the attackers left. Now B asks A back,
// and A, seeing B's corrected figure, sheds.
TEST(LoopToAskToShedTest, ALoopWithNothingToShedAsksTheOneThatHasSome) {
  std::int64_t published_a = 0;
  std::int64_t published_b = 8 << 20;  // Stale.
  const std::int64_t actual_a = 5 << 20;
  const std::int64_t actual_b = 0;
  // A looks: B's figure is larger, so A asks B.
  published_a = actual_a;
  EXPECT_THAT(LoopToAskToShed(published_a, {published_b}), Optional(0u));
  // B looks: it has nothing, publishes 0 and asks A.
  published_b = actual_b;
  EXPECT_THAT(LoopToAskToShed(published_b, {published_a}), Optional(0u));
  // A looks again: it sheds its own.
  EXPECT_EQ(LoopToAskToShed(actual_a, {published_b}), std::nullopt);
}

TEST(LoopToAskToShedTest, NobodyAsksWhenNobodyHasAnythingToShed) {
  EXPECT_EQ(LoopToAskToShed(0, {0, 0}), std::nullopt);
}

}  // namespace
}  // namespace dualrpc::net
