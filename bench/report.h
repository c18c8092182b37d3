#ifndef DUALRPC_BENCH_REPORT_H_
#define DUALRPC_BENCH_REPORT_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "histogram.h"
#include "scenario.h"

namespace dualrpc::bench {

// One contender's run at one point.
struct Repetition {
  double measured_seconds = 0;
  int64_t calls = 0;
  // Failed calls in warm-up and measurement.
  int64_t errors = 0;
  LatencyHistogram histogram;
  double client_cpu_seconds = 0;
  // Absent for contenders without a server process.
  std::optional<double> server_cpu_seconds;
  std::optional<int64_t> server_rss_bytes;
  std::string first_error;
};

// One contender at one point: every repetition.
struct PointRecord {
  const Point* point = nullptr;
  std::string transport;
  std::string client_cpus;
  std::string server_cpus;
  std::vector<Repetition> repetitions;
};

// A record reduced to the numbers that are published: medians over the
// repetitions, except errors (summed) and peak RSS (the largest).
struct Summary {
  double qps = 0;
  std::vector<double> qps_repetitions;
  double p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  int64_t calls = 0;
  int64_t errors = 0;
  // NaN when no call completed.
  double client_cpu_s_per_1k = 0;
  std::optional<double> server_cpu_s_per_1k;
  std::optional<int64_t> server_rss_bytes;
  // (percentile, µs) from the repetitions' merged histogram, for CDFs.
  std::vector<std::pair<double, double>> latency_curve_us;
  std::string first_error;
};

Summary Summarize(const PointRecord& record);

struct MachineInfo {
  int nproc = 0;
  std::string cpu_model;
  std::string kernel;
};
MachineInfo DescribeMachine();

// A selected contender that this build cannot run (a piece of issue 11 not
// merged yet), and why; its points show it as not measured.
struct Unavailable {
  std::string transport;
  std::string reason;
};

// Markdown: one table per group, the costs of issue 11's variants, then the
// goals.
void PrintReport(const Scenario& scenario, const MachineInfo& machine,
                 const std::vector<PointRecord>& records,
                 const std::vector<Unavailable>& unavailable,
                 std::ostream& out);

// The JSON document (docs/BENCHMARKS.md, "JSON schema").
absl::Status WriteJson(const std::string& path, const Scenario& scenario,
                       const MachineInfo& machine,
                       const std::vector<std::string>& servers,
                       const std::vector<PointRecord>& records,
                       const std::vector<Unavailable>& unavailable);

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_REPORT_H_
