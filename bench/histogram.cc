#include "histogram.h"

#include <algorithm>
#include <cmath>

namespace dualrpc::bench {
namespace {

constexpr int64_t kHalf = LatencyHistogram::kSubBuckets / 2;

int HighestBit(int64_t value) {
  return 63 - __builtin_clzll(static_cast<uint64_t>(value));
}

// How far values of this magnitude are shifted to land in [kHalf, kSubBuckets).
int ShiftOf(int64_t value) {
  if (value < LatencyHistogram::kSubBuckets) return 0;
  return HighestBit(value) - (LatencyHistogram::kSubBucketBits - 1);
}

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(BucketCount(), 0) {}

int LatencyHistogram::BucketIndex(int64_t value) {
  const int shift = ShiftOf(value);
  return static_cast<int>(shift * kHalf + (value >> shift));
}

int64_t LatencyHistogram::BucketLowest(int index) {
  if (index < kSubBuckets) return index;
  const int shift = static_cast<int>(index / kHalf) - 1;
  return (index - shift * kHalf) << shift;
}

int64_t LatencyHistogram::BucketHighest(int index) {
  if (index < kSubBuckets) return index;
  const int shift = static_cast<int>(index / kHalf) - 1;
  return BucketLowest(index) + (int64_t{1} << shift) - 1;
}

int LatencyHistogram::BucketCount() { return BucketIndex(kMaxValue) + 1; }

void LatencyHistogram::Record(int64_t value) {
  value = std::clamp<int64_t>(value, 0, kMaxValue);
  ++counts_[BucketIndex(value)];
  min_ = count_ == 0 ? value : std::min(min_, value);
  max_ = std::max(max_, value);
  ++count_;
  sum_ += value;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < counts_.size(); ++i)
    counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

void LatencyHistogram::Clear() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = min_ = max_ = sum_ = 0;
}

double LatencyHistogram::mean() const {
  return count_ == 0 ? 0.0
                     : static_cast<double>(sum_) / static_cast<double>(count_);
}

int64_t LatencyHistogram::ValueAtPercentile(double percentile) const {
  if (count_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  // The slack keeps 99.9 % of 1000 at rank 999 despite rounding (99.9 / 100
  // is not exact in binary).
  const double target = percentile / 100.0 * static_cast<double>(count_);
  const int64_t rank = std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil(target - target * 1e-12 - 1e-9)));
  int64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      return std::min(BucketHighest(static_cast<int>(i)), max_);
    }
  }
  return max_;
}

}  // namespace dualrpc::bench
