#ifndef DUALRPC_BENCH_SCENARIO_H_
#define DUALRPC_BENCH_SCENARIO_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "contender.h"
#include "pinning.h"

namespace dualrpc::bench {

// One measured point: every contender that supports the workload runs it,
// interleaved, `repetitions` times.
struct Point {
  // Which table it belongs to: "echo-closed", "echo-pinning",
  // "echo-pipelined", "echo-open", "list", "stream-pingpong",
  // "stream-throughput", "walk"; issue 11's costs: "tls", "shared-port",
  // "auth"; issue 13's: "observability".
  std::string group;
  Workload workload;
  LoadShape shape;
  Pinning pinning = Pinning::kCrossCore;
  // The contenders that run it; empty means kClassicTransports. The
  // variants of issue 11 (raw-tls, grpc-tls, floor-tls, raw-shared,
  // grpc-shared, raw-shared-tls, grpc-shared-tls, raw-auth) and of issue
  // 13 (raw-accesslog, raw-metrics, raw-observed) run only where a point
  // names them, beside the plaintext contender they are compared with.
  std::vector<std::string> transports;
};

// The contenders of a point that names none.
inline const std::vector<std::string>& ClassicTransports() {
  static const std::vector<std::string>* const transports =
      new std::vector<std::string>{"floor", "raw", "grpc", "capnp", "local"};
  return *transports;
}

// Whether `transport` runs at `point`.
bool RunsAt(const Point& point, absl::string_view transport);

struct Scenario {
  std::string name;
  int repetitions = 1;
  // Per run of one contender at one point: warm-up, then measurement.
  absl::Duration warmup;
  absl::Duration duration;
  // ListDirectory runs are longer: one call is a whole listing.
  absl::Duration list_warmup;
  absl::Duration list_duration;
  // A ListDirectory measurement goes on past list_duration until this many
  // listings have completed (a 100,000-entry listing can take seconds), but
  // never past list_max_duration.
  int list_min_calls = 1;
  absl::Duration list_max_duration;
  // Directories to generate below the served root, by entry count.
  std::vector<int> list_entries;
  // Trees to generate for WalkTree (same durations as List), by entry count.
  std::vector<int> walk_entries;
  std::vector<Point> points;
};

// "smoke" (every contender and load mode once, a few seconds, for ctest),
// "quick" (every workload, shape and pinning mode, small: under a minute)
// or "full" (the published run: about ten minutes).
absl::StatusOr<Scenario> MakeScenario(absl::string_view name);

// The path below the served root of the generated directory of `entries`.
std::string ListDirectoryPath(int entries);
// The path below the served root of the generated tree of `entries`.
std::string WalkTreePath(int entries);

// Page size the list workload asks for: the server's largest
// (--max_page_size default), so a listing takes the fewest calls.
inline constexpr int kListPageSize = 10000;

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_SCENARIO_H_
