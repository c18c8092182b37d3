#include "dualrpc/metrics/call_table.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "dualrpc/metrics/metric_family.h"
#include "dualrpc/metrics/server_metrics.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_type.h"

namespace dualrpc::metrics {
namespace {

constexpr absl::string_view kTransportNames[] = {"raw", "grpc", "other"};

// `cell` += `value` by the one thread that writes it: a relaxed load and
// store, not a locked read-modify-write. Readers see either value.
void AddOwned(std::atomic<std::int64_t>& cell, std::int64_t value) {
  cell.store(cell.load(std::memory_order_relaxed) + value,
             std::memory_order_relaxed);
}

std::atomic<std::uint64_t> next_table_id{1};

// The shard this thread used last, and of which table.
struct ShardCache {
  std::uint64_t table_id;
  void* shard;
};
thread_local ShardCache shard_cache = {0, nullptr};

}  // namespace

struct CallTable::Cells {
  explicit Cells(std::size_t buckets) : bucket_counts(buckets + 1) {}

  // Written by the shard's thread only (AddOwned).
  std::atomic<std::int64_t> calls{0};
  std::atomic<std::int64_t> request_bytes{0};
  std::atomic<std::int64_t> response_bytes{0};
  std::atomic<std::int64_t> request_messages{0};
  std::atomic<std::int64_t> response_messages{0};
  std::atomic<std::int64_t> duration_ns_sum{0};
  // Per bucket, not cumulative; the last is +Inf.
  std::vector<std::atomic<std::int64_t>> bucket_counts;
};

struct CallTable::MethodCells {
  explicit MethodCells(std::string path) : path(std::move(path)) {}

  const std::string path;
  // Calls started minus ended on this shard's thread (negative when calls
  // started elsewhere end here); AddOwned.
  std::array<std::atomic<std::int64_t>, kTransports> in_flight{};
  // A transport's in-flight gauge is shown once a call started on it.
  std::array<std::atomic<bool>, kTransports> started{};
  // Filled under CallTable::mu_, read without it.
  std::array<std::array<std::atomic<Cells*>, kCodes>, kTransports> cells{};
  // Owns what `cells` points to; under CallTable::mu_.
  std::vector<std::unique_ptr<Cells>> owned;
};

// One thread's cells, written by that thread only.
struct CallTable::Shard {
  // One slot of the lookup table: `cells` is stored before `method` is
  // published (release); neither changes once set.
  struct Slot {
    std::atomic<const rpc::Method*> method{nullptr};
    std::atomic<MethodCells*> cells{nullptr};
  };
  // More methods than kSlots still work, found under mu_.
  static constexpr int kSlotBits = 8;
  static constexpr std::size_t kSlots = std::size_t{1} << kSlotBits;

  std::array<Slot, kSlots> slots;
  // Owns this shard's MethodCells; under CallTable::mu_.
  absl::flat_hash_map<const rpc::Method*, std::unique_ptr<MethodCells>> owned;
};

CallTable::CallTable()
    : id_(next_table_id.fetch_add(1, std::memory_order_relaxed)) {
  for (double bound : CallDurationBuckets()) {
    bucket_bounds_ns_.push_back(
        static_cast<std::int64_t>(std::llround(bound * 1e9)));
  }
}

CallTable::~CallTable() = default;

std::size_t CallTable::SlotHash(const rpc::Method* method) {
  // Fibonacci hashing of the pointer (its low bits are alignment): the top
  // kSlotBits bits of the product.
  const std::uint64_t key =
      static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(method)) >> 4;
  return static_cast<std::size_t>((key * UINT64_C(0x9E3779B97F4A7C15)) >>
                                  (64 - Shard::kSlotBits));
}

std::size_t CallTable::TransportIndex(absl::string_view transport) {
  if (transport == "raw") return 0;
  if (transport == "grpc") return 1;
  return 2;
}

CallTable::Shard* CallTable::LocalShard() {
  if (shard_cache.table_id == id_) {
    return static_cast<Shard*>(shard_cache.shard);
  }
  return LocalShardSlow();
}

CallTable::Shard* CallTable::LocalShardSlow() {
  absl::MutexLock lock(&mu_);
  // A thread id is reused only once its thread is gone, so the shard keeps
  // one writer.
  Shard*& shard = shard_of_thread_[std::this_thread::get_id()];
  if (shard == nullptr) {
    shards_.push_back(std::make_unique<Shard>());
    shard = shards_.back().get();
  }
  shard_cache = {id_, shard};
  return shard;
}

CallTable::MethodCells* CallTable::Find(Shard* shard,
                                        const rpc::Method* method) {
  const std::size_t hash = SlotHash(method);
  for (std::size_t probe = 0; probe < Shard::kSlots; ++probe) {
    const Shard::Slot& slot =
        shard->slots[(hash + probe) & (Shard::kSlots - 1)];
    const rpc::Method* key = slot.method.load(std::memory_order_acquire);
    if (key == method) return slot.cells.load(std::memory_order_relaxed);
    if (key == nullptr) break;
  }
  return FindSlow(shard, method);
}

CallTable::MethodCells* CallTable::FindSlow(Shard* shard,
                                            const rpc::Method* method) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<MethodCells>& owned = shard->owned[method];
  if (owned != nullptr) return owned.get();
  owned = std::make_unique<MethodCells>(method->path);
  const std::size_t hash = SlotHash(method);
  for (std::size_t probe = 0; probe < Shard::kSlots; ++probe) {
    Shard::Slot& slot = shard->slots[(hash + probe) & (Shard::kSlots - 1)];
    if (slot.method.load(std::memory_order_relaxed) != nullptr) continue;
    slot.cells.store(owned.get(), std::memory_order_relaxed);
    slot.method.store(method, std::memory_order_release);
    break;
  }
  // With the table full, `method` keeps coming here (found in `owned`).
  return owned.get();
}

CallTable::Cells* CallTable::CellsFor(MethodCells* method,
                                      std::size_t transport, std::size_t code) {
  Cells* cells = method->cells[transport][code].load(std::memory_order_acquire);
  if (cells != nullptr) return cells;
  absl::MutexLock lock(&mu_);
  cells = method->cells[transport][code].load(std::memory_order_relaxed);
  if (cells != nullptr) return cells;
  method->owned.push_back(std::make_unique<Cells>(bucket_bounds_ns_.size()));
  cells = method->owned.back().get();
  method->cells[transport][code].store(cells, std::memory_order_release);
  return cells;
}

void CallTable::RecordStart(const rpc::Method& method,
                            absl::string_view transport) {
  MethodCells* cells = Find(LocalShard(), &method);
  const std::size_t index = TransportIndex(transport);
  AddOwned(cells->in_flight[index], 1);
  if (!cells->started[index].load(std::memory_order_relaxed)) {
    cells->started[index].store(true, std::memory_order_relaxed);
  }
}

void CallTable::RecordEnd(const rpc::CallRecord& record) {
  MethodCells* method = Find(LocalShard(), record.method);
  const std::size_t transport = TransportIndex(record.context->transport());
  AddOwned(method->in_flight[transport], -1);
  // ok() is inline; code() is a call into libabsl.
  std::size_t code =
      record.status.ok() ? 0 : static_cast<std::size_t>(record.status.code());
  if (code >= kCodes)
    code = static_cast<std::size_t>(absl::StatusCode::kUnknown);
  Cells* cells = CellsFor(method, transport, code);
  const std::int64_t duration_ns =
      std::max<std::int64_t>(0, absl::ToInt64Nanoseconds(record.duration));
  const std::size_t bucket = static_cast<std::size_t>(
      std::lower_bound(bucket_bounds_ns_.begin(), bucket_bounds_ns_.end(),
                       duration_ns) -
      bucket_bounds_ns_.begin());
  AddOwned(cells->calls, 1);
  AddOwned(cells->bucket_counts[bucket], 1);
  AddOwned(cells->duration_ns_sum, duration_ns);
  AddOwned(cells->request_messages, record.request_messages);
  AddOwned(cells->response_messages, record.response_messages);
  AddOwned(cells->request_bytes, record.request_bytes);
  AddOwned(cells->response_bytes, record.response_bytes);
}

std::vector<prometheus::MetricFamily> CallTable::Collect() const {
  using prometheus::ClientMetric;
  using prometheus::MetricFamily;
  using prometheus::MetricType;
  struct Totals {
    std::int64_t calls = 0, request_bytes = 0, response_bytes = 0,
                 request_messages = 0, response_messages = 0,
                 duration_ns_sum = 0;
    std::vector<std::int64_t> buckets;
  };
  // Keyed by labels, so that methods sharing a path are summed and the
  // output is sorted.
  std::map<std::tuple<std::string, std::size_t, std::size_t>, Totals> calls;
  // Per method and transport: the sum over shards, and whether a call
  // started on it (the gauge is shown from then on).
  std::map<std::pair<std::string, std::size_t>, std::pair<std::int64_t, bool>>
      in_flight;
  const auto add_method = [&calls, &in_flight](const MethodCells& method) {
    for (std::size_t t = 0; t < kTransports; ++t) {
      auto& [sum, started] = in_flight[{method.path, t}];
      sum += method.in_flight[t].load(std::memory_order_relaxed);
      started = started || method.started[t].load(std::memory_order_relaxed);
      for (std::size_t c = 0; c < kCodes; ++c) {
        const Cells* cells = method.cells[t][c].load(std::memory_order_acquire);
        if (cells == nullptr) continue;
        Totals& totals = calls[{method.path, t, c}];
        totals.calls += cells->calls.load(std::memory_order_relaxed);
        totals.request_bytes +=
            cells->request_bytes.load(std::memory_order_relaxed);
        totals.response_bytes +=
            cells->response_bytes.load(std::memory_order_relaxed);
        totals.request_messages +=
            cells->request_messages.load(std::memory_order_relaxed);
        totals.response_messages +=
            cells->response_messages.load(std::memory_order_relaxed);
        totals.duration_ns_sum +=
            cells->duration_ns_sum.load(std::memory_order_relaxed);
        totals.buckets.resize(cells->bucket_counts.size());
        for (std::size_t b = 0; b < cells->bucket_counts.size(); ++b) {
          totals.buckets[b] +=
              cells->bucket_counts[b].load(std::memory_order_relaxed);
        }
      }
    }
  };
  {
    absl::MutexLock lock(&mu_);
    for (const std::unique_ptr<Shard>& shard : shards_) {
      for (const auto& [unused, method] : shard->owned) add_method(*method);
    }
  }

  MetricFamily calls_total =
      internal::Family("dualrpc_server_calls_total",
             "Calls ended, per method, transport and status code.",
             MetricType::Counter);
  MetricFamily duration = internal::Family(
      "dualrpc_server_call_duration_seconds",
      "Call duration from the interceptor stage's start to the status, per "
      "method, transport and status code.",
      MetricType::Histogram);
  MetricFamily request_bytes =
      internal::Family("dualrpc_server_request_bytes_total",
             "Serialized request message bytes received.", MetricType::Counter);
  MetricFamily response_bytes =
      internal::Family("dualrpc_server_response_bytes_total",
             "Serialized response message bytes sent.", MetricType::Counter);
  MetricFamily request_messages =
      internal::Family("dualrpc_server_request_messages_total",
             "Request messages received.", MetricType::Counter);
  MetricFamily response_messages =
      internal::Family("dualrpc_server_response_messages_total",
             "Response messages sent.", MetricType::Counter);
  MetricFamily in_flight_family =
      internal::Family("dualrpc_server_calls_in_flight",
             "Calls started and not yet ended, per method and transport.",
             MetricType::Gauge);

  const std::vector<double>& bounds = CallDurationBuckets();
  for (const auto& [key, totals] : calls) {
    const auto& [path, transport, code] = key;
    const std::vector<ClientMetric::Label> labels = {
        {"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))},
        {"method", path},
        {"transport", std::string(kTransportNames[transport])}};
    const std::pair<MetricFamily*, std::int64_t> counters[] = {
        {&calls_total, totals.calls},
        {&request_bytes, totals.request_bytes},
        {&response_bytes, totals.response_bytes},
        {&request_messages, totals.request_messages},
        {&response_messages, totals.response_messages}};
    for (const auto& [family, value] : counters) {
      internal::AddSample(family, labels, static_cast<double>(value));
    }
    ClientMetric histogram;
    histogram.label = labels;
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < totals.buckets.size(); ++b) {
      cumulative += static_cast<std::uint64_t>(totals.buckets[b]);
      ClientMetric::Bucket bucket;
      bucket.cumulative_count = cumulative;
      bucket.upper_bound = b < bounds.size()
                               ? bounds[b]
                               : std::numeric_limits<double>::infinity();
      histogram.histogram.bucket.push_back(bucket);
    }
    // The count is the buckets' total, so that the two never disagree.
    histogram.histogram.sample_count = cumulative;
    histogram.histogram.sample_sum =
        static_cast<double>(totals.duration_ns_sum) / 1e9;
    duration.metric.push_back(std::move(histogram));
  }
  for (const auto& [key, value] : in_flight) {
    if (!value.second) continue;
    internal::AddSample(
        &in_flight_family,
        {{"method", key.first},
         {"transport", std::string(kTransportNames[key.second])}},
        static_cast<double>(value.first));
  }
  std::vector<MetricFamily> families;
  for (MetricFamily* each :
       {&calls_total, &duration, &request_bytes, &response_bytes,
        &request_messages, &response_messages, &in_flight_family}) {
    if (!each->metric.empty()) families.push_back(std::move(*each));
  }
  return families;
}

}  // namespace dualrpc::metrics
