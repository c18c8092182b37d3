#include "dualrpc/metrics/metrics_interceptor.h"

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace dualrpc::metrics {

namespace {

constexpr absl::string_view kTransportNames[] = {"raw", "grpc", "other"};

// The gRPC code name of absl::StatusCode `code` (0..16).
std::string CodeName(std::size_t code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace

std::size_t MetricsInterceptor::SlotHash(const rpc::Method* method) {
  // Fibonacci hashing of the pointer (its low bits are alignment): the top
  // kSlotBits bits of the product.
  return static_cast<std::size_t>(
      (static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(method)) >>
       4) *
          UINT64_C(0x9E3779B97F4A7C15) >>
      (64 - kSlotBits));
}

struct MetricsInterceptor::CodeMetrics {
  prometheus::Counter* calls;
  prometheus::Histogram* duration;
  prometheus::Counter* request_bytes;
  prometheus::Counter* response_bytes;
  prometheus::Counter* request_messages;
  prometheus::Counter* response_messages;
};

struct MetricsInterceptor::MethodMetrics {
  explicit MethodMetrics(std::string path) : path(std::move(path)) {}

  const std::string path;
  // Filled under MetricsInterceptor::mu_, read without it.
  std::array<std::atomic<prometheus::Gauge*>, kTransports> in_flight{};
  std::array<std::array<std::atomic<CodeMetrics*>, kCodes>, kTransports>
      codes{};
  // Owns what `codes` points to; touched under MetricsInterceptor::mu_.
  std::vector<std::unique_ptr<CodeMetrics>> owned_codes;
};

MetricsInterceptor::MetricsInterceptor(const ServerMetrics* metrics)
    : families_(metrics->call_families()) {}

MetricsInterceptor::~MetricsInterceptor() = default;

std::size_t MetricsInterceptor::TransportIndex(absl::string_view transport) {
  if (transport == "raw") return 0;
  if (transport == "grpc") return 1;
  return 2;
}

MetricsInterceptor::MethodMetrics* MetricsInterceptor::Lookup(
    const rpc::Method* method) {
  const std::size_t hash = SlotHash(method);
  for (std::size_t probe = 0; probe < kSlots; ++probe) {
    const Slot& slot = slots_[(hash + probe) & (kSlots - 1)];
    const rpc::Method* key = slot.method.load(std::memory_order_acquire);
    if (key == method) return slot.metrics.load(std::memory_order_relaxed);
    if (key == nullptr) break;
  }
  return LookupSlow(method);
}

MetricsInterceptor::MethodMetrics* MetricsInterceptor::LookupSlow(
    const rpc::Method* method) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<MethodMetrics>& owned = owned_[method];
  if (owned != nullptr) return owned.get();
  owned = std::make_unique<MethodMetrics>(method->path);
  const std::size_t hash = SlotHash(method);
  for (std::size_t probe = 0; probe < kSlots; ++probe) {
    Slot& slot = slots_[(hash + probe) & (kSlots - 1)];
    if (slot.method.load(std::memory_order_relaxed) != nullptr) continue;
    slot.metrics.store(owned.get(), std::memory_order_relaxed);
    slot.method.store(method, std::memory_order_release);
    break;
  }
  // A full table leaves `method` to this slow path (found in owned_).
  return owned.get();
}

prometheus::Gauge* MetricsInterceptor::InFlight(MethodMetrics* metrics,
                                                std::size_t transport) {
  prometheus::Gauge* gauge =
      metrics->in_flight[transport].load(std::memory_order_acquire);
  if (gauge != nullptr) return gauge;
  absl::MutexLock lock(&mu_);
  gauge = metrics->in_flight[transport].load(std::memory_order_relaxed);
  if (gauge != nullptr) return gauge;
  gauge = &families_.in_flight.Add(
      {{"method", metrics->path},
       {"transport", std::string(kTransportNames[transport])}});
  metrics->in_flight[transport].store(gauge, std::memory_order_release);
  return gauge;
}

MetricsInterceptor::CodeMetrics* MetricsInterceptor::Code(
    MethodMetrics* metrics, std::size_t transport, std::size_t code) {
  CodeMetrics* found =
      metrics->codes[transport][code].load(std::memory_order_acquire);
  if (found != nullptr) return found;
  absl::MutexLock lock(&mu_);
  found = metrics->codes[transport][code].load(std::memory_order_relaxed);
  if (found != nullptr) return found;
  const prometheus::Labels labels = {
      {"method", metrics->path},
      {"transport", std::string(kTransportNames[transport])},
      {"code", CodeName(code)}};
  auto created = std::make_unique<CodeMetrics>(CodeMetrics{
      &families_.calls.Add(labels),
      &families_.duration.Add(labels, CallDurationBuckets()),
      &families_.request_bytes.Add(labels),
      &families_.response_bytes.Add(labels),
      &families_.request_messages.Add(labels),
      &families_.response_messages.Add(labels),
  });
  found = created.get();
  metrics->owned_codes.push_back(std::move(created));
  metrics->codes[transport][code].store(found, std::memory_order_release);
  return found;
}

absl::Status MetricsInterceptor::OnCallStart(const rpc::Method& method,
                                             rpc::ServerCallContext* context) {
  InFlight(Lookup(&method), TransportIndex(context->transport()))->Increment();
  return absl::OkStatus();
}

void MetricsInterceptor::OnCallEnd(const rpc::CallRecord& record) {
  MethodMetrics* metrics = Lookup(record.method);
  const std::size_t transport = TransportIndex(record.context->transport());
  InFlight(metrics, transport)->Decrement();
  std::size_t code = static_cast<std::size_t>(record.status.code());
  if (code >= kCodes) code = static_cast<std::size_t>(absl::StatusCode::kUnknown);
  CodeMetrics* figures = Code(metrics, transport, code);
  figures->calls->Increment();
  figures->duration->Observe(absl::ToDoubleSeconds(record.duration));
  figures->request_messages->Increment(
      static_cast<double>(record.request_messages));
  figures->response_messages->Increment(
      static_cast<double>(record.response_messages));
  figures->request_bytes->Increment(static_cast<double>(record.request_bytes));
  figures->response_bytes->Increment(
      static_cast<double>(record.response_bytes));
}

}  // namespace dualrpc::metrics
