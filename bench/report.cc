#include "report.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "dualrpc/base/posix_error.h"

namespace dualrpc::bench {
namespace {

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle]
                                : (values[middle - 1] + values[middle]) / 2;
}

double Micros(int64_t nanos) { return static_cast<double>(nanos) / 1000.0; }

// Percentiles published as the latency curve (for CDF charts).
std::vector<double> CurvePercentiles() {
  std::vector<double> percentiles;
  for (int p = 0; p <= 90; p += 5) percentiles.push_back(p);
  for (int p = 91; p <= 99; ++p) percentiles.push_back(p);
  for (double p : {99.5, 99.9, 99.95, 99.99, 100.0}) percentiles.push_back(p);
  return percentiles;
}

// Message workloads (Echo and the streams): per-message columns.
bool IsMessage(const Point& point) {
  return IsMessageWorkload(point.workload.kind);
}
bool IsEcho(const Point& point) {
  return point.workload.kind == Workload::Kind::kEcho;
}

std::string Shape(const Point& point) {
  const LoadShape& shape = point.shape;
  switch (shape.mode) {
    case LoadShape::Mode::kClosed:
      return absl::StrFormat("closed %d callers / %d conn", shape.concurrency,
                             shape.connections);
    case LoadShape::Mode::kPipelined:
      return absl::StrFormat("pipelined %d conn × %d deep", shape.connections,
                             shape.in_flight_per_connection);
    case LoadShape::Mode::kOpen:
      return absl::StrFormat("open %.0f/s / %d conn", shape.rate,
                             shape.connections);
  }
  return "?";
}

std::string Bytes(int bytes) {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0) {
    return absl::StrCat(bytes / (1024 * 1024), " MiB");
  }
  if (bytes >= 1024 && bytes % 1024 == 0)
    return absl::StrCat(bytes / 1024, " KiB");
  return absl::StrCat(bytes, " B");
}

std::string Ratio(std::optional<double> ratio) {
  return ratio.has_value() ? absl::StrFormat("%.2f", *ratio) : "—";
}

// Summaries of every record, indexed like `records`.
class Results {
 public:
  explicit Results(const std::vector<PointRecord>& records)
      : records_(records) {
    for (const PointRecord& record : records)
      summaries_.push_back(Summarize(record));
  }

  const std::vector<PointRecord>& records() const { return records_; }
  const Summary& summary(std::size_t i) const { return summaries_[i]; }

  // The summary of `transport` at `point`, if it ran there.
  const Summary* At(const Point* point, absl::string_view transport) const {
    for (std::size_t i = 0; i < records_.size(); ++i) {
      if (records_[i].point == point && records_[i].transport == transport)
        return &summaries_[i];
    }
    return nullptr;
  }

  // `transport` at the first point matching `match`.
  const Summary* Find(const std::function<bool(const Point&)>& match,
                      absl::string_view transport) const {
    for (std::size_t i = 0; i < records_.size(); ++i) {
      if (records_[i].transport == transport && match(*records_[i].point))
        return &summaries_[i];
    }
    return nullptr;
  }

  std::optional<double> QpsRatio(std::size_t i, absl::string_view other) const {
    const Summary* base = At(records_[i].point, other);
    if (base == nullptr || base->qps <= 0 || records_[i].transport == other)
      return std::nullopt;
    return summaries_[i].qps / base->qps;
  }
  std::optional<double> TimeRatio(std::size_t i,
                                  absl::string_view other) const {
    const Summary* base = At(records_[i].point, other);
    if (base == nullptr || base->p50_us <= 0 ||
        records_[i].transport == other) {
      return std::nullopt;
    }
    return summaries_[i].p50_us / base->p50_us;
  }

 private:
  const std::vector<PointRecord>& records_;
  std::vector<Summary> summaries_;
};

void PrintGroup(const Results& results, const std::string& group,
                std::ostream& out) {
  bool echo = true;
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < results.records().size(); ++i) {
    if (results.records()[i].point->group != group) continue;
    rows.push_back(i);
    echo = IsMessage(*results.records()[i].point);
  }
  out << "\n### " << group << "\n\n";
  out << (echo ? "| payload " : "| entries (page) ")
      << "| load | pinning | transport | " << (echo ? "calls/s" : "listings/s")
      << " | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | errors | client "
         "CPU s/1k | "
         "server CPU s/1k | server RSS MiB | "
      << (echo ? "calls/s ×gRPC | calls/s ×floor |\n"
               : "calls/s ×gRPC | time ×local |\n");
  out << "|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";
  for (std::size_t i : rows) {
    const PointRecord& record = results.records()[i];
    const Point& point = *record.point;
    const Summary& s = results.summary(i);
    const std::string size = echo ? Bytes(point.workload.payload_bytes)
                                  : absl::StrCat(point.workload.entries, " (",
                                                 point.workload.page_size, ")");
    out << absl::StrFormat(
        "| %s | %s | %s | %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %d | "
        "%s | %s | %s | %s "
        "| %s |\n",
        size, Shape(point), PinningName(point.pinning), record.transport, s.qps,
        s.p50_us, s.p90_us, s.p99_us, s.p999_us, s.max_us, s.errors,
        std::isfinite(s.client_cpu_s_per_1k)
            ? absl::StrFormat("%.4f", s.client_cpu_s_per_1k)
            : "—",
        s.server_cpu_s_per_1k ? absl::StrFormat("%.4f", *s.server_cpu_s_per_1k)
                              : "—",
        s.server_rss_bytes
            ? absl::StrFormat("%.1f", *s.server_rss_bytes / 1048576.0)
            : "—",
        Ratio(results.QpsRatio(i, "grpc")),
        Ratio(echo ? results.QpsRatio(i, "floor")
                   : results.TimeRatio(i, "local")));
  }
}

std::string Verdict(bool met) { return met ? "**met**" : "**missed**"; }

// The streaming goals (issue 10), ratios from this run.
void PrintStreamingGoals(const Results& results, std::ostream& out) {
  // (s1) ping-pong at 32 streams, raw ≥ 5× gRPC.
  {
    const auto match = [](const Point& p) {
      return p.workload.kind == Workload::Kind::kEchoStream &&
             p.workload.payload_bytes == 64 && p.shape.concurrency == 32 &&
             p.pinning == Pinning::kSameCore;
    };
    const Summary* raw = results.Find(match, "raw");
    const Summary* grpc = results.Find(match, "grpc");
    if (raw != nullptr && grpc != nullptr && grpc->qps > 0) {
      const double ratio = raw->qps / grpc->qps;
      out << absl::StrFormat(
          "| (s1) 64 B EchoStream ping-pong, 32 streams, same-core: raw ≥ 5× "
          "gRPC | raw %.0f/s, gRPC %.0f/s = %.2f× | %s |\n",
          raw->qps, grpc->qps, ratio, Verdict(ratio >= 5));
    } else {
      out << "| (s1) ping-pong 32 streams raw ≥ 5× gRPC | not measured in "
             "this scenario | — |\n";
    }
  }
  // (s2) streaming throughput, raw ≥ 0.7× the floor's pipelined rate.
  {
    const auto match = [](const Point& p) {
      return p.workload.kind == Workload::Kind::kStreamFlood &&
             p.pinning == Pinning::kSameCore;
    };
    const Summary* raw = results.Find(match, "raw");
    const Summary* floor = results.Find(match, "floor");
    if (raw != nullptr && floor != nullptr && floor->qps > 0) {
      const double ratio = raw->qps / floor->qps;
      out << absl::StrFormat(
          "| (s2) 64 B streaming throughput (one stream, the window the only "
          "limit), same-core: raw ≥ 0.7× the floor pipelined | raw %.0f "
          "msg/s, floor %.0f/s = %.2f× | %s |\n",
          raw->qps, floor->qps, ratio, Verdict(ratio >= 0.7));
    } else {
      out << "| (s2) streaming throughput raw ≥ 0.7× floor | not measured in "
             "this scenario | — |\n";
    }
  }
  // (s3) WalkTree of 100,000 entries over raw ≤ 1.5× the local walk.
  {
    const auto match = [](const Point& p) {
      return p.workload.kind == Workload::Kind::kWalk &&
             p.workload.entries == 100000;
    };
    const Summary* raw = results.Find(match, "raw");
    const Summary* local = results.Find(match, "local");
    if (raw != nullptr && local != nullptr && local->p50_us > 0) {
      const double ratio = raw->p50_us / local->p50_us;
      out << absl::StrFormat(
          "| (s3) WalkTree of 100,000 entries: raw ≤ 1.5× the local walk | "
          "raw %.1f ms / local %.1f ms = %.2f× | %s |\n",
          raw->p50_us / 1000, local->p50_us / 1000, ratio,
          Verdict(ratio <= 1.5));
    } else {
      out << "| (s3) WalkTree 100k raw ≤ 1.5× local | not measured in this "
             "scenario | — |\n";
    }
  }
}

// Issue 11's and 13's variants and the contender each is compared with.
struct VariantPair {
  const char* variant;
  const char* base;
  const char* what;
};
constexpr VariantPair kVariantPairs[] = {
    {"floor-tls", "floor", "TLS"},
    {"raw-tls", "raw", "TLS"},
    {"grpc-tls", "grpc", "TLS"},
    {"raw-shared", "raw", "shared port"},
    {"grpc-shared", "grpc", "shared port"},
    {"raw-shared-tls", "raw-tls", "shared TLS port"},
    {"grpc-shared-tls", "grpc-tls", "shared TLS port (relay)"},
    {"raw-auth", "raw", "token check"},
    {"raw-accesslog", "raw", "access log"},
    {"raw-metrics", "raw", "metrics"},
    {"raw-observed", "raw", "access log + metrics"},
};

// Why `transport` did not run, if it was unavailable.
const Unavailable* FindUnavailable(const std::vector<Unavailable>& unavailable,
                                   absl::string_view transport) {
  for (const Unavailable& u : unavailable) {
    if (u.transport == transport) return &u;
  }
  return nullptr;
}

// Each variant against its base at the same point: throughput and p50.
void PrintCosts(const Results& results,
                const std::vector<Unavailable>& unavailable,
                std::ostream& out) {
  std::vector<std::string> rows;
  for (std::size_t i = 0; i < results.records().size(); ++i) {
    const PointRecord& record = results.records()[i];
    for (const VariantPair& pair : kVariantPairs) {
      if (record.transport != pair.variant) continue;
      const Summary& variant = results.summary(i);
      const Summary* base = results.At(record.point, pair.base);
      if (base == nullptr || base->qps <= 0 || base->p50_us <= 0) continue;
      const double qps_ratio = variant.qps / base->qps;
      rows.push_back(absl::StrFormat(
          "| %s | %s, %s | %s vs %s | %.0f | %.0f | %.3f | %+.1f %% | %.1f | "
          "%.1f | %.3f |\n",
          pair.what, Shape(*record.point), PinningName(record.point->pinning),
          pair.variant, pair.base, variant.qps, base->qps, qps_ratio,
          (1 - qps_ratio) * 100, variant.p50_us, base->p50_us,
          variant.p50_us / base->p50_us));
    }
  }
  if (rows.empty() && unavailable.empty()) return;
  out << "\n### Costs: TLS, the shared port, token checking (issue 11); "
         "access log, metrics (issue 13)\n\n"
         "| cost of | load | contenders | calls/s | base calls/s | ×base | "
         "cost (throughput) | p50 µs | base p50 µs | p50 ×base |\n"
         "|---|---|---|--:|--:|--:|--:|--:|--:|--:|\n";
  for (const std::string& row : rows) out << row;
  for (const Unavailable& u : unavailable) {
    out << "\nNot measured: " << u.transport << ": " << u.reason << "\n";
  }
}

// The goals of issue 11 §5, same-core, ratios from this run.
void PrintIssue11Goals(const Results& results,
                       const std::vector<Unavailable>& unavailable,
                       std::ostream& out) {
  auto at = [](const char* group, int callers) {
    return [group, callers](const Point& p) {
      return p.group == group && p.shape.concurrency == callers &&
             p.pinning == Pinning::kSameCore;
    };
  };
  // "not measured" with the reason of the first missing contender.
  auto not_measured = [&](const char* goal,
                          std::initializer_list<const char*> transports) {
    std::string why = "not measured in this scenario";
    for (const char* transport : transports) {
      if (const Unavailable* u = FindUnavailable(unavailable, transport)) {
        why = absl::StrCat("not measured: ", u->transport, ": ", u->reason);
        break;
      }
    }
    out << "| " << goal << " | " << why << " | — |\n";
  };
  {
    const char* goal =
        "(t1) 64 B echo, 32 callers, same-core: raw+TLS ≥ 8× gRPC+TLS";
    const Summary* raw = results.Find(at("tls", 32), "raw-tls");
    const Summary* grpc = results.Find(at("tls", 32), "grpc-tls");
    if (raw != nullptr && grpc != nullptr && grpc->qps > 0) {
      const double ratio = raw->qps / grpc->qps;
      out << absl::StrFormat(
          "| %s | raw+TLS %.0f/s, gRPC+TLS %.0f/s = %.2f× | "
          "%s |\n",
          goal, raw->qps, grpc->qps, ratio, Verdict(ratio >= 8));
    } else {
      not_measured(goal, {"raw-tls", "grpc-tls"});
    }
  }
  {
    const char* goal =
        "(t2) 64 B echo, 1 caller, same-core: raw+TLS p50 ≤ 1.3× raw p50";
    const Summary* tls = results.Find(at("tls", 1), "raw-tls");
    const Summary* raw = results.Find(at("tls", 1), "raw");
    if (tls != nullptr && raw != nullptr && raw->p50_us > 0) {
      const double ratio = tls->p50_us / raw->p50_us;
      out << absl::StrFormat(
          "| %s | raw+TLS %.1f µs / raw %.1f µs = %.2f× | %s |\n", goal,
          tls->p50_us, raw->p50_us, ratio, Verdict(ratio <= 1.3));
    } else {
      not_measured(goal, {"raw-tls"});
    }
  }
  // Throughput cost at 32 callers, with the 1-caller p50 beside it.
  auto cost = [&](const char* goal, const char* group, const char* variant,
                  const char* base, std::optional<double> limit) {
    const Summary* v = results.Find(at(group, 32), variant);
    const Summary* b = results.Find(at(group, 32), base);
    if (v == nullptr || b == nullptr || b->qps <= 0) {
      not_measured(goal, {variant});
      return;
    }
    const double cost_percent = (1 - v->qps / b->qps) * 100;
    std::string latency;
    const Summary* v1 = results.Find(at(group, 1), variant);
    const Summary* b1 = results.Find(at(group, 1), base);
    if (v1 != nullptr && b1 != nullptr && b1->p50_us > 0) {
      latency =
          absl::StrFormat("; 1 caller p50 %.1f µs vs %.1f µs (%.2f×)",
                          v1->p50_us, b1->p50_us, v1->p50_us / b1->p50_us);
    }
    out << absl::StrFormat(
        "| %s | %s %.0f/s vs %s %.0f/s: cost %+.1f %%%s | %s |\n", goal,
        variant, v->qps, base, b->qps, cost_percent, latency,
        limit.has_value() ? Verdict(cost_percent <= *limit)
                          : std::string("reported"));
  };
  cost(
      "(t3) shared port, raw, 32 callers, same-core: costs ≤ 3 % of "
      "throughput against its own port",
      "shared-port", "raw-shared", "raw", 3.0);
  cost("(t4) shared port, gRPC, 32 callers, same-core: cost reported",
       "shared-port", "grpc-shared", "grpc", std::nullopt);
  cost(
      "(t4') shared TLS port (ALPN), raw, 32 callers, same-core: cost "
      "reported",
      "shared-port", "raw-shared-tls", "raw-tls", std::nullopt);
  cost(
      "(t4'') shared TLS port, gRPC through dualrpc's TLS relay, 32 "
      "callers, same-core: cost reported",
      "shared-port", "grpc-shared-tls", "grpc-tls", std::nullopt);
  cost(
      "(t5) token checking (AuthInterceptor), raw, 32 callers, same-core: "
      "costs ≤ 3 % of throughput",
      "auth", "raw-auth", "raw", 3.0);
  // Issue 13 §2 and §3.
  cost(
      "(o1) access log (--access_log FILE), raw, 32 callers, same-core: "
      "costs ≤ 5 % of throughput",
      "observability", "raw-accesslog", "raw", 5.0);
  cost(
      "(o2) metrics (--metrics_listen), raw, 32 callers, same-core: costs "
      "≤ 5 % of throughput",
      "observability", "raw-metrics", "raw", 5.0);
  cost(
      "(o3) access log and metrics together, raw, 32 callers, same-core: "
      "cost reported",
      "observability", "raw-observed", "raw", std::nullopt);
}

void PrintGoals(const Results& results,
                const std::vector<Unavailable>& unavailable,
                std::ostream& out) {
  out << "\n### Goals (ratios from this run)\n\n| goal | measured | verdict "
         "|\n|---|---|---|\n";
  PrintIssue11Goals(results, unavailable, out);
  PrintStreamingGoals(results, out);
  auto echo64_closed = [](int callers, Pinning pinning) {
    return [callers, pinning](const Point& p) {
      return IsEcho(p) && p.workload.payload_bytes == 64 &&
             p.shape.mode == LoadShape::Mode::kClosed &&
             p.shape.concurrency == callers && p.pinning == pinning;
    };
  };
  // (a)
  {
    const auto match = echo64_closed(1, Pinning::kSameCore);
    const Summary* raw = results.Find(match, "raw");
    const Summary* floor = results.Find(match, "floor");
    if (raw != nullptr && floor != nullptr && floor->p50_us > 0) {
      const double ratio = raw->p50_us / floor->p50_us;
      out << absl::StrFormat(
          "| (a) 64 B echo, 1 conn, 1 in flight, same-core: raw p50 ≤ 1.5× "
          "floor p50 | raw "
          "%.1f µs / floor %.1f µs = %.2f× | %s |\n",
          raw->p50_us, floor->p50_us, ratio, Verdict(ratio <= 1.5));
    } else {
      out << "| (a) raw p50 ≤ 1.5× floor p50 | not measured in this scenario | "
             "— |\n";
    }
  }
  // (b), in every pinning mode measured.
  for (Pinning pinning :
       {Pinning::kCrossCore, Pinning::kSameCore, Pinning::kUnpinned}) {
    const auto match = echo64_closed(32, pinning);
    const Summary* raw = results.Find(match, "raw");
    const Summary* grpc = results.Find(match, "grpc");
    const Summary* floor = results.Find(match, "floor");
    if (raw == nullptr || grpc == nullptr || floor == nullptr ||
        grpc->qps <= 0 || floor->qps <= 0) {
      continue;
    }
    const double vs_grpc = raw->qps / grpc->qps,
                 vs_floor = raw->qps / floor->qps;
    out << absl::StrFormat(
        "| (b) 64 B echo, 32 closed-loop callers, %s: raw ≥ 8× gRPC and ≥ 0.8× "
        "floor | raw "
        "%.0f/s, gRPC %.0f/s (%.2f×), floor %.0f/s (%.2f×) | %s |\n",
        PinningName(pinning), raw->qps, grpc->qps, vs_grpc, floor->qps,
        vs_floor, Verdict(vs_grpc >= 8 && vs_floor >= 0.8));
  }
  // (c)
  {
    double best = 0;
    std::string where;
    for (std::size_t i = 0; i < results.records().size(); ++i) {
      const PointRecord& record = results.records()[i];
      if (record.transport != "raw" || !IsEcho(*record.point) ||
          record.point->shape.mode != LoadShape::Mode::kPipelined) {
        continue;
      }
      if (results.summary(i).qps > best) {
        best = results.summary(i).qps;
        where = absl::StrCat(Shape(*record.point), ", ",
                             PinningName(record.point->pinning));
      }
    }
    if (where.empty()) {
      out << "| (c) pipelined ≥ 1,000,000 Echo/s | not measured in this "
             "scenario | — |\n";
    } else {
      out << absl::StrFormat(
          "| (c) pipelined through the generated client ≥ 1,000,000 Echo/s | "
          "best raw %.0f/s "
          "(%s) | %s |\n",
          best, where, Verdict(best >= 1e6));
    }
  }
  // (d)
  {
    const auto match = [](const Point& p) {
      return p.workload.kind == Workload::Kind::kList &&
             p.workload.entries == 100000 && p.shape.concurrency == 1;
    };
    const Summary* raw = results.Find(match, "raw");
    const Summary* local = results.Find(match, "local");
    if (raw != nullptr && local != nullptr && local->p50_us > 0) {
      const double ratio = raw->p50_us / local->p50_us;
      out << absl::StrFormat(
          "| (d) ListDirectory 100k entries, all pages, raw ≤ 2× local "
          "readdir+lstat | raw %.1f "
          "ms / local %.1f ms = %.2f× | %s |\n",
          raw->p50_us / 1000, local->p50_us / 1000, ratio, Verdict(ratio <= 2));
    } else {
      out << "| (d) ListDirectory 100k ≤ 2× local | not measured in this "
             "scenario | — |\n";
    }
  }
  // (e): throughput for closed and pipelined points, p50 for open ones.
  {
    int points = 0, ahead = 0;
    std::vector<std::string> behind;
    for (std::size_t i = 0; i < results.records().size(); ++i) {
      const PointRecord& record = results.records()[i];
      if (record.transport != "raw" || !IsEcho(*record.point)) continue;
      const Summary* capnp = results.At(record.point, "capnp");
      if (capnp == nullptr) continue;
      ++points;
      const Summary& raw = results.summary(i);
      const bool open = record.point->shape.mode == LoadShape::Mode::kOpen;
      if (open ? raw.p50_us < capnp->p50_us : raw.qps > capnp->qps) {
        ++ahead;
      } else {
        behind.push_back(absl::StrCat(
            Bytes(record.point->workload.payload_bytes), " ",
            Shape(*record.point), " ", PinningName(record.point->pinning)));
      }
    }
    if (points == 0) {
      out << "| (e) raw ahead of capnp on every Echo point | not measured in "
             "this scenario | — |\n";
      return;
    }
    out << absl::StrFormat(
        "| (e) raw ahead of capnp on every Echo point (calls/s; open loop: "
        "p50) | ahead on %d "
        "of %d%s | %s |\n",
        ahead, points,
        behind.empty()
            ? ""
            : absl::StrCat("; behind on: ", absl::StrJoin(behind, "; ")),
        Verdict(ahead == points));
  }
}

// Minimal JSON output.
std::string Quote(absl::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      case '\n':
        quoted += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          quoted += absl::StrFormat("\\u%04x", c);
        } else {
          quoted += c;
        }
    }
  }
  return quoted + "\"";
}

std::string Number(double value) {
  if (!std::isfinite(value)) return "null";
  return absl::StrFormat("%.6g", value);
}

std::string Number(std::optional<double> value) {
  return value.has_value() ? Number(*value) : "null";
}

}  // namespace

Summary Summarize(const PointRecord& record) {
  Summary s;
  std::vector<double> p50, p90, p99, p999, max, client_cpu, server_cpu, calls;
  LatencyHistogram merged;
  for (const Repetition& rep : record.repetitions) {
    const double qps =
        rep.measured_seconds > 0 ? rep.calls / rep.measured_seconds : 0;
    s.qps_repetitions.push_back(qps);
    calls.push_back(static_cast<double>(rep.calls));
    p50.push_back(Micros(rep.histogram.ValueAtPercentile(50)));
    p90.push_back(Micros(rep.histogram.ValueAtPercentile(90)));
    p99.push_back(Micros(rep.histogram.ValueAtPercentile(99)));
    p999.push_back(Micros(rep.histogram.ValueAtPercentile(99.9)));
    max.push_back(Micros(rep.histogram.max()));
    // Per call: meaningless without calls.
    if (rep.calls > 0) {
      const double thousands = static_cast<double>(rep.calls) / 1000.0;
      client_cpu.push_back(rep.client_cpu_seconds / thousands);
      if (rep.server_cpu_seconds.has_value()) {
        server_cpu.push_back(*rep.server_cpu_seconds / thousands);
      }
    }
    if (rep.server_rss_bytes.has_value()) {
      s.server_rss_bytes =
          std::max(s.server_rss_bytes.value_or(0), *rep.server_rss_bytes);
    }
    s.errors += rep.errors;
    if (s.first_error.empty()) s.first_error = rep.first_error;
    merged.Merge(rep.histogram);
  }
  s.qps = Median(s.qps_repetitions);
  s.calls = static_cast<int64_t>(Median(calls));
  s.p50_us = Median(p50);
  s.p90_us = Median(p90);
  s.p99_us = Median(p99);
  s.p999_us = Median(p999);
  s.max_us = Median(max);
  s.client_cpu_s_per_1k =
      client_cpu.empty() ? std::nan("") : Median(client_cpu);
  if (!server_cpu.empty()) s.server_cpu_s_per_1k = Median(server_cpu);
  for (double percentile : CurvePercentiles()) {
    s.latency_curve_us.emplace_back(
        percentile, Micros(merged.ValueAtPercentile(percentile)));
  }
  return s;
}

MachineInfo DescribeMachine() {
  MachineInfo machine;
  machine.nproc = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      machine.cpu_model = line.substr(line.find(':') + 2);
      break;
    }
  }
  utsname name;
  if (::uname(&name) == 0)
    machine.kernel = absl::StrCat(name.sysname, " ", name.release);
  return machine;
}

void PrintReport(const Scenario& scenario, const MachineInfo& machine,
                 const std::vector<PointRecord>& records,
                 const std::vector<Unavailable>& unavailable,
                 std::ostream& out) {
  const Results results(records);
  out << "## dualrpc-bench --scenario " << scenario.name << "\n\n"
      << absl::StrFormat(
             "Machine: %d CPUs, %s, %s. Medians of %d repetition(s), "
             "contenders interleaved; "
             "each run %s warm-up + %s measured (ListDirectory: %s + %s).\n",
             machine.nproc, machine.cpu_model, machine.kernel,
             scenario.repetitions, absl::FormatDuration(scenario.warmup),
             absl::FormatDuration(scenario.duration),
             absl::FormatDuration(scenario.list_warmup),
             absl::FormatDuration(scenario.list_duration));
  std::vector<std::string> groups;
  for (const PointRecord& record : records) {
    if (std::find(groups.begin(), groups.end(), record.point->group) ==
        groups.end()) {
      groups.push_back(record.point->group);
    }
  }
  for (const std::string& group : groups) PrintGroup(results, group, out);
  PrintCosts(results, unavailable, out);
  PrintGoals(results, unavailable, out);
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (results.summary(i).errors == 0) continue;
    out << absl::StrFormat("\n%s at %s: %d errors; first: %s\n",
                           records[i].transport, Shape(*records[i].point),
                           results.summary(i).errors,
                           results.summary(i).first_error);
  }
}

absl::Status WriteJson(const std::string& path, const Scenario& scenario,
                       const MachineInfo& machine,
                       const std::vector<std::string>& servers,
                       const std::vector<PointRecord>& records,
                       const std::vector<Unavailable>& unavailable) {
  const Results results(records);
  std::string json = "{\n";
  absl::StrAppend(
      &json, "  \"schema_version\": 1,\n  \"scenario\": ", Quote(scenario.name),
      ",\n  \"repetitions\": ", scenario.repetitions,
      ",\n  \"warmup_s\": ", Number(absl::ToDoubleSeconds(scenario.warmup)),
      ",\n  \"duration_s\": ", Number(absl::ToDoubleSeconds(scenario.duration)),
      ",\n  \"list_warmup_s\": ",
      Number(absl::ToDoubleSeconds(scenario.list_warmup)),
      ",\n  \"list_duration_s\": ",
      Number(absl::ToDoubleSeconds(scenario.list_duration)),
      ",\n  \"machine\": {\"nproc\": ", machine.nproc,
      ", \"cpu_model\": ", Quote(machine.cpu_model),
      ", \"kernel\": ", Quote(machine.kernel), "},\n  \"servers\": [");
  for (std::size_t i = 0; i < servers.size(); ++i) {
    absl::StrAppend(&json, i == 0 ? "" : ", ", Quote(servers[i]));
  }
  json += "],\n  \"unavailable\": [";
  for (std::size_t i = 0; i < unavailable.size(); ++i) {
    absl::StrAppend(&json, i == 0 ? "" : ", ",
                    "{\"transport\": ", Quote(unavailable[i].transport),
                    ", \"reason\": ", Quote(unavailable[i].reason), "}");
  }
  json += "],\n  \"records\": [\n";
  for (std::size_t i = 0; i < records.size(); ++i) {
    const PointRecord& record = records[i];
    const Point& point = *record.point;
    const Summary& s = results.summary(i);
    const bool echo = IsEcho(point);
    std::vector<std::string> curve, reps;
    for (const auto& [percentile, micros] : s.latency_curve_us) {
      curve.push_back(
          absl::StrCat("[", Number(percentile), ", ", Number(micros), "]"));
    }
    for (double qps : s.qps_repetitions) reps.push_back(Number(qps));
    absl::StrAppend(
        &json, "    {\"transport\": ", Quote(record.transport),
        ", \"workload\": ", Quote(WorkloadName(point.workload.kind)),
        ", \"group\": ", Quote(point.group),
        ", \"payload_bytes\": ", echo ? point.workload.payload_bytes : 0,
        ", \"entries\": ", echo ? 0 : point.workload.entries,
        ", \"page_size\": ", echo ? 0 : point.workload.page_size,
        ", \"mode\": ", Quote(ModeName(point.shape.mode)),
        ", \"connections\": ", point.shape.connections,
        ", \"concurrency\": ", point.shape.concurrency,
        ", \"in_flight_per_connection\": ",
        point.shape.in_flight_per_connection,
        ", \"rate\": ", Number(point.shape.rate),
        ", \"pinning\": ", Quote(PinningName(point.pinning)),
        ", \"client_cpus\": ", Quote(record.client_cpus),
        ", \"server_cpus\": ", Quote(record.server_cpus),
        ",\n     \"repetitions\": ", record.repetitions.size(),
        ", \"calls\": ", s.calls, ", \"qps\": ", Number(s.qps),
        ", \"qps_repetitions\": [", absl::StrJoin(reps, ", "), "]",
        ",\n     \"latency_us\": {\"p50\": ", Number(s.p50_us),
        ", \"p90\": ", Number(s.p90_us), ", \"p99\": ", Number(s.p99_us),
        ", \"p999\": ", Number(s.p999_us), ", \"max\": ", Number(s.max_us), "}",
        ", \"errors\": ", s.errors,
        ", \"client_cpu_s_per_1k\": ", Number(s.client_cpu_s_per_1k),
        ", \"server_cpu_s_per_1k\": ", Number(s.server_cpu_s_per_1k),
        ", \"server_rss_bytes\": ",
        s.server_rss_bytes ? absl::StrCat(*s.server_rss_bytes)
                           : std::string("null"),
        ",\n     \"qps_ratio_to_grpc\": ", Number(results.QpsRatio(i, "grpc")),
        ", \"qps_ratio_to_floor\": ", Number(results.QpsRatio(i, "floor")),
        ", \"time_ratio_to_local\": ", Number(results.TimeRatio(i, "local")),
        ", \"first_error\": ",
        s.first_error.empty() ? "null" : Quote(s.first_error),
        ",\n     \"latency_curve_us\": [", absl::StrJoin(curve, ", "), "]}",
        i + 1 < records.size() ? ",\n" : "\n");
  }
  json += "  ]\n}\n";
  std::ofstream out(path, std::ios::trunc);
  out << json;
  out.close();
  if (!out) return base::PosixError(absl::StrCat("writing ", path), errno);
  return absl::OkStatus();
}

}  // namespace dualrpc::bench
