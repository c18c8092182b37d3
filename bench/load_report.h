#ifndef DUALRPC_BENCH_LOAD_REPORT_H_
#define DUALRPC_BENCH_LOAD_REPORT_H_

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "histogram.h"

namespace dualrpc::bench {

// One call of a load run, kept for the per-call CSV.
struct LoadCallRecord {
  int64_t start_nanos = 0;    // intended start, from the run's start
  int64_t latency_nanos = 0;  // from the intended start to completion
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;  // empty when OK
};

// Calls that ended within one slice of the run, for the charts over time.
struct LoadTimeBin {
  int64_t calls = 0;
  int64_t errors = 0;
  int64_t latency_sum_nanos = 0;
  int64_t latency_max_nanos = 0;
};

// Everything a load run measured, merged from the callers' stripes.
struct LoadResult {
  // What was run, echoed in every format.
  std::string target;
  std::string method;  // "/pkg.Svc/Method"
  int concurrency = 0;
  int connections = 0;
  std::string schedule;  // "closed", "const 200/s", "step 100..400/s" ...
  std::string date;      // RFC 3339, when the run began

  int64_t total_nanos = 0;  // the run's wall time, first start to last end
  // Every call, OK or not, from its intended start to its completion.
  LatencyHistogram latency;
  std::map<std::string, int64_t> status_codes;  // "OK" -> count
  std::map<std::string, int64_t> errors;        // status text -> count
  int64_t bin_nanos = 0;
  std::vector<LoadTimeBin> bins;  // bins[i] covers [i, i+1) * bin_nanos
  // Per call, in start order; empty unless the CSV was asked for.
  std::vector<LoadCallRecord> calls;
  // Calls not kept in `calls` once it reached its limit.
  int64_t calls_dropped = 0;

  int64_t count() const { return latency.count(); }
  double requests_per_second() const {
    return total_nanos > 0 ? 1e9 * static_cast<double>(count()) /
                                 static_cast<double>(total_nanos)
                           : 0.0;
  }
};

// The percentiles every format reports, ghz's set.
inline constexpr double kLoadPercentiles[] = {10, 25, 50, 75, 90, 95, 99};
// Buckets of the summary's linear latency histogram, as ghz's.
inline constexpr int kLoadHistogramBuckets = 10;

// One bucket of the linear histogram from fastest to slowest.
struct LinearBucket {
  int64_t mark_nanos = 0;  // the bucket's upper edge
  int64_t count = 0;
};
// `latency` spread over kLoadHistogramBuckets equal ranges from its min to
// its max; each of its own (log-linear) buckets goes whole to the range its
// highest value falls in, so counts are exact and edges within 1.6 %.
std::vector<LinearBucket> LinearHistogram(const LatencyHistogram& latency);

// The output formats (-O).
enum class LoadFormat { kSummary, kJson, kCsv, kHtml };
absl::StatusOr<LoadFormat> ParseLoadFormat(absl::string_view name);

// Writes `result` as `format` to `out`:
//  summary  ghz's terminal summary (count, total, slowest/fastest/average,
//           requests/s, histogram, percentiles, status codes, errors);
//  json     one object: ghz's field names, durations in nanoseconds;
//  csv      one row per call (start_ms,latency_ms,status,error), as ghz;
//  html     one self-contained page: the summary numbers and inline SVG
//           charts (latency histogram, throughput and latency over time).
void WriteLoadReport(const LoadResult& result, LoadFormat format,
                     std::ostream& out);

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_LOAD_REPORT_H_
