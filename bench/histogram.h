#ifndef DUALRPC_BENCH_HISTOGRAM_H_
#define DUALRPC_BENCH_HISTOGRAM_H_

#include <cstdint>
#include <vector>

namespace dualrpc::bench {

// A log-linear histogram of non-negative integers (latencies in
// nanoseconds), in the manner of HdrHistogram: every power-of-two range is
// split into kSubBuckets / 2 equal buckets, so a recorded value is known to
// within 1 / (kSubBuckets / 2) of itself (under 1.6 %), and values below
// kSubBuckets are exact. Values above kMaxValue are clamped to it (and
// counted). Recording is O(1) with no allocation. Not thread-safe: use one
// per thread and Merge().
class LatencyHistogram {
 public:
  // log2 of the number of buckets in the first, linear range.
  static constexpr int kSubBucketBits = 7;
  static constexpr int64_t kSubBuckets = int64_t{1} << kSubBucketBits;
  // About 18 minutes in nanoseconds.
  static constexpr int64_t kMaxValue = (int64_t{1} << 40) - 1;

  LatencyHistogram();

  // Negative values count as 0.
  void Record(int64_t value);
  void Merge(const LatencyHistogram& other);
  void Clear();

  int64_t count() const { return count_; }
  // Exact extremes of what was recorded (after clamping); 0 when empty.
  int64_t min() const { return count_ == 0 ? 0 : min_; }
  int64_t max() const { return max_; }
  double mean() const;

  // The smallest value v such that at least `percentile` % of the recorded
  // values are <= v, reported as the highest value of v's bucket (never above
  // max()). percentile in [0, 100]; 0 when empty.
  int64_t ValueAtPercentile(double percentile) const;

  // How many recorded values fell in bucket `index` (0..BucketCount()-1).
  int64_t CountInBucket(int index) const { return counts_[index]; }

  // Bucket arithmetic, public for tests.
  static int BucketIndex(int64_t value);
  static int64_t BucketLowest(int index);
  static int64_t BucketHighest(int index);
  static int BucketCount();

 private:
  std::vector<int64_t> counts_;
  int64_t count_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  // Sum of recorded values; overflows only after ~8 million max values.
  int64_t sum_ = 0;
};

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_HISTOGRAM_H_
