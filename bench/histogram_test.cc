#include "histogram.h"

#include <cstdint>
#include <random>

#include "gtest/gtest.h"

namespace dualrpc::bench {
namespace {

TEST(LatencyHistogramTest, EmptyReportsZero) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.count(), 0);
  EXPECT_EQ(histogram.ValueAtPercentile(50), 0);
  EXPECT_EQ(histogram.max(), 0);
  EXPECT_EQ(histogram.min(), 0);
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram histogram;
  for (int64_t value = 0; value < LatencyHistogram::kSubBuckets; ++value) {
    histogram.Record(value);
  }
  EXPECT_EQ(histogram.ValueAtPercentile(0), 0);
  EXPECT_EQ(histogram.ValueAtPercentile(50), 63);
  EXPECT_EQ(histogram.ValueAtPercentile(100), 127);
  EXPECT_EQ(histogram.max(), 127);
}

TEST(LatencyHistogramTest, BucketsTileTheRangeWithoutGaps) {
  for (int index = 0; index + 1 < LatencyHistogram::BucketCount(); ++index) {
    ASSERT_EQ(LatencyHistogram::BucketHighest(index) + 1,
              LatencyHistogram::BucketLowest(index + 1))
        << "index " << index;
    ASSERT_EQ(
        LatencyHistogram::BucketIndex(LatencyHistogram::BucketLowest(index)),
        index);
    ASSERT_EQ(
        LatencyHistogram::BucketIndex(LatencyHistogram::BucketHighest(index)),
        index);
  }
  EXPECT_EQ(
      LatencyHistogram::BucketHighest(LatencyHistogram::BucketCount() - 1),
      LatencyHistogram::kMaxValue);
}

TEST(LatencyHistogramTest, RelativeErrorIsBounded) {
  const double bound = 2.0 / LatencyHistogram::kSubBuckets;
  std::mt19937_64 random(42);
  for (int i = 0; i < 100000; ++i) {
    const int64_t value =
        static_cast<int64_t>(random() % LatencyHistogram::kMaxValue);
    const int index = LatencyHistogram::BucketIndex(value);
    const int64_t width = LatencyHistogram::BucketHighest(index) -
                          LatencyHistogram::BucketLowest(index);
    ASSERT_LE(static_cast<double>(width),
              bound * static_cast<double>(value) + 1)
        << value;
  }
}

TEST(LatencyHistogramTest, PercentilesOfAUniformRange) {
  LatencyHistogram histogram;
  for (int64_t value = 1; value <= 1000000; ++value) histogram.Record(value);
  EXPECT_NEAR(histogram.ValueAtPercentile(50), 500000, 500000 * 0.016);
  EXPECT_NEAR(histogram.ValueAtPercentile(99), 990000, 990000 * 0.016);
  EXPECT_NEAR(histogram.ValueAtPercentile(99.9), 999000, 999000 * 0.016);
  EXPECT_EQ(histogram.ValueAtPercentile(100), 1000000);
  EXPECT_EQ(histogram.min(), 1);
  EXPECT_EQ(histogram.max(), 1000000);
  EXPECT_NEAR(histogram.mean(), 500000.5, 1e-6);
}

TEST(LatencyHistogramTest, PercentileNeverExceedsMax) {
  LatencyHistogram histogram;
  histogram.Record(1000001);
  EXPECT_EQ(histogram.ValueAtPercentile(50), 1000001);
}

TEST(LatencyHistogramTest, OutliersShowInTheTailOnly) {
  LatencyHistogram histogram;
  for (int i = 0; i < 999; ++i) histogram.Record(5000);
  histogram.Record(80000000);
  EXPECT_NEAR(histogram.ValueAtPercentile(99.9), 5000, 5000 * 0.016);
  EXPECT_EQ(histogram.ValueAtPercentile(99.95), 80000000);
  EXPECT_EQ(histogram.max(), 80000000);
}

TEST(LatencyHistogramTest, ClampsOutOfRangeValues) {
  LatencyHistogram histogram;
  histogram.Record(-5);
  histogram.Record(LatencyHistogram::kMaxValue * 4);
  EXPECT_EQ(histogram.min(), 0);
  EXPECT_EQ(histogram.max(), LatencyHistogram::kMaxValue);
  EXPECT_EQ(histogram.count(), 2);
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverything) {
  LatencyHistogram all, first, second;
  for (int64_t value = 0; value < 50000; value += 7) {
    all.Record(value * 13);
    (value % 2 == 0 ? first : second).Record(value * 13);
  }
  first.Merge(second);
  EXPECT_EQ(first.count(), all.count());
  EXPECT_EQ(first.min(), all.min());
  EXPECT_EQ(first.max(), all.max());
  for (double percentile : {0.0, 10.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(first.ValueAtPercentile(percentile),
              all.ValueAtPercentile(percentile));
  }
  LatencyHistogram empty;
  first.Merge(empty);
  EXPECT_EQ(first.count(), all.count());
  empty.Merge(all);
  EXPECT_EQ(empty.min(), all.min());
}

TEST(LatencyHistogramTest, ClearForgetsEverything) {
  LatencyHistogram histogram;
  histogram.Record(123456);
  histogram.Clear();
  EXPECT_EQ(histogram.count(), 0);
  EXPECT_EQ(histogram.ValueAtPercentile(99), 0);
}

}  // namespace
}  // namespace dualrpc::bench
