#include "scenario.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace dualrpc::bench {
namespace {

constexpr int kKiB = 1024;
constexpr int kMiB = 1024 * 1024;

// Connections a closed loop spreads its callers over (at most one per
// caller): enough for gRPC (one HTTP/2 connection per channel) and for the
// servers' two event loops, the same for every contender.
constexpr int kClosedConnections = 4;
// Connections an open loop sends over.
constexpr int kOpenConnections = 4;
// Closed loops keep at most this many payload bytes in flight (full: 1 MiB
// echoes stop at 32 callers; quick: at 8): beyond it a point measures
// memory, and draining its calls after the stop takes seconds.
constexpr int64_t kFullMaxBytesInFlight = 32 * 1024 * 1024;
constexpr int64_t kQuickMaxBytesInFlight = 8 * 1024 * 1024;
// See Flood().
constexpr int kFloodDepth = 1024;

Point Echo(std::string group, int payload_bytes, LoadShape shape,
           Pinning pinning) {
  Point point;
  point.group = std::move(group);
  point.workload.kind = Workload::Kind::kEcho;
  point.workload.payload_bytes = payload_bytes;
  point.shape = shape;
  point.pinning = pinning;
  return point;
}

LoadShape Closed(int callers) {
  LoadShape shape;
  shape.mode = LoadShape::Mode::kClosed;
  shape.connections = std::min(callers, kClosedConnections);
  shape.concurrency = callers;
  shape.in_flight_per_connection =
      (callers + shape.connections - 1) / shape.connections;
  return shape;
}

LoadShape Pipelined(int connections, int depth) {
  LoadShape shape;
  shape.mode = LoadShape::Mode::kPipelined;
  shape.connections = connections;
  shape.in_flight_per_connection = depth;
  shape.concurrency = connections * depth;
  return shape;
}

LoadShape Open(double rate) {
  LoadShape shape;
  shape.mode = LoadShape::Mode::kOpen;
  shape.connections = kOpenConnections;
  shape.concurrency = 0;
  shape.in_flight_per_connection = 0;
  shape.rate = rate;
  return shape;
}

Point List(int entries, int callers, Pinning pinning) {
  Point point;
  point.group = "list";
  point.workload.kind = Workload::Kind::kList;
  point.workload.entries = entries;
  point.workload.list_path = ListDirectoryPath(entries);
  point.workload.page_size = kListPageSize;
  point.shape = Closed(callers);
  point.pinning = pinning;
  return point;
}

// 64 B EchoStream ping-pong over `streams` streams (as many callers), same
// connections as a closed Echo loop of that many callers.
Point PingPong(int streams, Pinning pinning) {
  Point point = Echo("stream-pingpong", 64, Closed(streams), pinning);
  point.workload.kind = Workload::Kind::kEchoStream;
  return point;
}

// 64 B EchoStream flood: one stream per connection, the window its only
// limit; `depth` caps the messages a stream has written and not yet seen
// echoed, and is the floor's pipeline depth for the same point. Kept above
// what the window admits (65,536 / 78 bytes ≈ 840 messages of 64 B), so
// that for raw the window binds first.
Point Flood(int connections, int depth, Pinning pinning) {
  Point point =
      Echo("stream-throughput", 64, Pipelined(connections, depth), pinning);
  point.workload.kind = Workload::Kind::kStreamFlood;
  return point;
}

Point Walk(int entries, Pinning pinning) {
  Point point;
  point.group = "walk";
  point.workload.kind = Workload::Kind::kWalk;
  point.workload.entries = entries;
  point.workload.list_path = WalkTreePath(entries);
  point.shape = Closed(1);
  point.pinning = pinning;
  return point;
}

// Issue 11's and 13's costs, each variant beside the contender it is
// compared with, at `callers` 64 B closed-loop callers: TLS on every
// transport (and the floor), the shared port (--listen), token checking
// (--auth_tokens); the access log (--access_log) and metrics
// (--metrics_listen), apart and together.
std::vector<Point> CostPoints(const std::vector<int>& callers,
                              Pinning pinning) {
  std::vector<Point> points;
  for (int n : callers) {
    Point tls = Echo("tls", 64, Closed(n), pinning);
    tls.transports = {"floor",   "floor-tls", "raw",
                      "raw-tls", "grpc",      "grpc-tls"};
    points.push_back(std::move(tls));
  }
  for (int n : callers) {
    Point shared = Echo("shared-port", 64, Closed(n), pinning);
    // Plaintext, then TLS (ALPN on the shared port; gRPC through the relay).
    shared.transports = {"raw",         "raw-shared",     "grpc",
                         "grpc-shared", "raw-tls",        "raw-shared-tls",
                         "grpc-tls",    "grpc-shared-tls"};
    points.push_back(std::move(shared));
  }
  for (int n : callers) {
    Point auth = Echo("auth", 64, Closed(n), pinning);
    auth.transports = {"raw", "raw-auth"};
    points.push_back(std::move(auth));
  }
  for (int n : callers) {
    Point observed = Echo("observability", 64, Closed(n), pinning);
    observed.transports = {"raw", "raw-accesslog", "raw-metrics",
                           "raw-observed"};
    points.push_back(std::move(observed));
  }
  return points;
}

// The points of quick and full; they differ in size only.
struct Matrix {
  std::vector<int> payloads;
  std::vector<int> callers;
  int64_t max_bytes_in_flight = 0;
  std::vector<Pinning> matrix_pinnings;
  std::vector<int> pinning_callers;
  std::vector<std::pair<int, int>> pipelines;  // connections, depth
  std::vector<Pinning> pipeline_pinnings;
  std::vector<double> rates;
  std::vector<int> list_entries;
  std::vector<int> stream_callers;
  std::vector<int> walk_entries;
};

std::vector<Point> Points(const Matrix& m) {
  std::vector<Point> points;
  for (Pinning pinning : m.matrix_pinnings) {
    for (int payload : m.payloads) {
      for (int callers : m.callers) {
        if (int64_t{callers} * payload > m.max_bytes_in_flight) continue;
        points.push_back(
            Echo("echo-closed", payload, Closed(callers), pinning));
      }
    }
  }
  // The same small echo in every pinning mode the matrix did not cover.
  for (Pinning pinning :
       {Pinning::kSameCore, Pinning::kCrossCore, Pinning::kUnpinned}) {
    if (std::find(m.matrix_pinnings.begin(), m.matrix_pinnings.end(),
                  pinning) != m.matrix_pinnings.end()) {
      continue;
    }
    for (int callers : m.pinning_callers) {
      points.push_back(Echo("echo-pinning", 64, Closed(callers), pinning));
    }
  }
  for (Pinning pinning : m.pipeline_pinnings) {
    for (const auto& [connections, depth] : m.pipelines) {
      points.push_back(
          Echo("echo-pipelined", 64, Pipelined(connections, depth), pinning));
    }
  }
  for (double rate : m.rates) {
    points.push_back(Echo("echo-open", 64, Open(rate), Pinning::kSameCore));
  }
  for (int entries : m.list_entries) {
    points.push_back(List(entries, 1, Pinning::kSameCore));
  }
  for (int streams : m.stream_callers) {
    points.push_back(PingPong(streams, Pinning::kSameCore));
  }
  points.push_back(Flood(1, kFloodDepth, Pinning::kSameCore));
  for (int entries : m.walk_entries) {
    points.push_back(Walk(entries, Pinning::kSameCore));
  }
  // Same-core, as the goals they answer (ratios in one run).
  for (Point& point : CostPoints({1, 32}, Pinning::kSameCore))
    points.push_back(std::move(point));
  return points;
}

}  // namespace

bool RunsAt(const Point& point, absl::string_view transport) {
  const std::vector<std::string>& transports =
      point.transports.empty() ? ClassicTransports() : point.transports;
  return std::find(transports.begin(), transports.end(), transport) !=
         transports.end();
}

std::string ListDirectoryPath(int entries) {
  return absl::StrCat("list-", entries);
}

std::string WalkTreePath(int entries) { return absl::StrCat("tree-", entries); }

absl::StatusOr<Scenario> MakeScenario(absl::string_view name) {
  Scenario scenario;
  scenario.name = std::string(name);
  if (name == "smoke") {
    scenario.repetitions = 1;
    scenario.warmup = absl::Milliseconds(50);
    scenario.duration = absl::Milliseconds(150);
    scenario.list_warmup = absl::Milliseconds(20);
    scenario.list_duration = absl::Milliseconds(150);
    scenario.list_entries = {100};
    scenario.list_max_duration = absl::Seconds(5);
    scenario.points = {
        Echo("echo-closed", 64, Closed(2), Pinning::kUnpinned),
        Echo("echo-pipelined", 64, Pipelined(1, 8), Pinning::kUnpinned),
        Echo("echo-open", 64, Open(2000), Pinning::kUnpinned),
        List(100, 1, Pinning::kUnpinned),
        PingPong(2, Pinning::kUnpinned),
        Flood(1, 64, Pinning::kUnpinned),
        Walk(1000, Pinning::kUnpinned),
    };
    for (Point& point : CostPoints({2}, Pinning::kUnpinned))
      scenario.points.push_back(std::move(point));
    scenario.walk_entries = {1000};
    return scenario;
  }
  Matrix matrix;
  matrix.payloads = {0, 64, kKiB, 64 * kKiB, kMiB};
  // Client and server share one core in the big matrix: the mode with the
  // least noise on this VM, where a call's cost is its CPU time. The other
  // modes are measured for 64 B echoes (echo-pinning) and for pipelines.
  matrix.matrix_pinnings = {Pinning::kSameCore};
  matrix.pinning_callers = {1, 32};
  matrix.list_entries = {100, 10000, 100000};
  matrix.walk_entries = {100000};
  if (name == "quick") {
    scenario.repetitions = 1;
    scenario.warmup = absl::Milliseconds(50);
    scenario.duration = absl::Milliseconds(150);
    scenario.list_warmup = absl::Milliseconds(50);
    scenario.list_duration = absl::Milliseconds(300);
    scenario.list_min_calls = 1;
    scenario.list_max_duration = absl::Seconds(10);
    matrix.callers = {1, 32};
    matrix.stream_callers = {1, 32};
    matrix.max_bytes_in_flight = kQuickMaxBytesInFlight;
    matrix.pipelines = {{2, 64}};
    matrix.pipeline_pinnings = {Pinning::kUnpinned};
    matrix.rates = {10000};
  } else if (name == "full") {
    scenario.repetitions = 3;
    scenario.warmup = absl::Milliseconds(200);
    scenario.duration = absl::Milliseconds(600);
    scenario.list_warmup = absl::Milliseconds(200);
    scenario.list_duration = absl::Milliseconds(1500);
    scenario.list_min_calls = 3;
    scenario.list_max_duration = absl::Seconds(20);
    matrix.callers = {1, 8, 32, 128};
    matrix.stream_callers = {1, 8, 32, 128};
    matrix.max_bytes_in_flight = kFullMaxBytesInFlight;
    matrix.pipelines = {{1, 16}, {1, 128}, {2, 128}};
    matrix.pipeline_pinnings = {Pinning::kSameCore, Pinning::kUnpinned};
    matrix.rates = {10000, 40000};
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--scenario must be smoke, quick or full, not ", name));
  }
  scenario.list_entries = matrix.list_entries;
  scenario.walk_entries = matrix.walk_entries;
  scenario.points = Points(matrix);
  return scenario;
}

}  // namespace dualrpc::bench
