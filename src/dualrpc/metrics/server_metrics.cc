#include "dualrpc/metrics/server_metrics.h"

#include <atomic>
#include <iterator>
#include <sstream>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "dualrpc/metrics/call_table.h"
#include "dualrpc/metrics/metric_family.h"
#include "prometheus/client_metric.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_type.h"
#include "prometheus/text_serializer.h"

#ifndef DUALRPC_METRICS_VERSION
#define DUALRPC_METRICS_VERSION "unknown"
#endif
#ifndef DUALRPC_METRICS_BUILD_TYPE
#define DUALRPC_METRICS_BUILD_TYPE "unknown"
#endif

namespace dualrpc::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

using internal::AddSample;
using internal::Family;

ServerMetrics::Options WithDefaults(ServerMetrics::Options options) {
  if (options.version.empty()) options.version = DUALRPC_METRICS_VERSION;
  if (options.build_type.empty()) {
    options.build_type = DUALRPC_METRICS_BUILD_TYPE;
  }
  if (options.build_type.empty()) options.build_type = "unknown";
  return options;
}

}  // namespace

const std::vector<double>& CallDurationBuckets() {
  static const std::vector<double>* const kBuckets = new std::vector<double>{
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
  return *kBuckets;
}

class ServerMetrics::ScrapeTimeFigures final : public prometheus::Collectable {
 public:
  explicit ScrapeTimeFigures(Options options) : options_(std::move(options)) {}

  void AddTransport(std::string transport,
                    std::function<rpc::TransportStats()> stats) {
    absl::MutexLock lock(&mu_);
    for (auto& [name, hook] : transports_) {
      if (name == transport) {
        hook = std::move(stats);
        return;
      }
    }
    transports_.emplace_back(std::move(transport), std::move(stats));
  }
  void SetExecutor(std::function<ExecutorFigures()> figures) {
    absl::MutexLock lock(&mu_);
    executor_ = std::move(figures);
  }
  void SetAccessLogDropped(std::function<std::int64_t()> dropped_lines) {
    absl::MutexLock lock(&mu_);
    access_log_dropped_ = std::move(dropped_lines);
  }

  void SetReady(bool ready) {
    if (ready) {
      readiness_.store(Readiness::kReady, std::memory_order_release);
      return;
    }
    Readiness expected = Readiness::kReady;
    readiness_.compare_exchange_strong(expected, Readiness::kDraining,
                                       std::memory_order_acq_rel);
  }
  Readiness readiness() const {
    return readiness_.load(std::memory_order_acquire);
  }

  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> families;
    AddConnectionFigures(&families);
    {
      absl::MutexLock lock(&mu_);
      if (executor_) {
        const ExecutorFigures figures = executor_();
        MetricFamily queued = Family(
            "dualrpc_executor_queued_tasks",
            "Blocking tasks accepted and not yet started.", MetricType::Gauge);
        AddSample(&queued, {}, static_cast<double>(figures.queued_tasks));
        MetricFamily busy = Family("dualrpc_executor_busy_threads",
                                   "Blocking executor threads running a task.",
                                   MetricType::Gauge);
        AddSample(&busy, {}, static_cast<double>(figures.busy_threads));
        MetricFamily rejected =
            Family("dualrpc_executor_rejected_total",
                   "Blocking tasks refused because the queue was full.",
                   MetricType::Counter);
        AddSample(&rejected, {}, static_cast<double>(figures.rejected_total));
        MetricFamily rejected_per_connection = Family(
            "dualrpc_executor_rejected_per_connection_total",
            "Blocking tasks refused because their connection had "
            "--blocking_queue_per_connection tasks queued.",
            MetricType::Counter);
        AddSample(&rejected_per_connection, {},
                  static_cast<double>(figures.rejected_per_connection_total));
        families.push_back(std::move(queued));
        families.push_back(std::move(busy));
        families.push_back(std::move(rejected));
        families.push_back(std::move(rejected_per_connection));
      }
      if (access_log_dropped_) {
        MetricFamily dropped =
            Family("dualrpc_access_log_dropped_lines_total",
                   "Access log lines dropped because its buffer was full.",
                   MetricType::Counter);
        AddSample(&dropped, {}, static_cast<double>(access_log_dropped_()));
        families.push_back(std::move(dropped));
      }
    }
    MetricFamily ready =
        Family("dualrpc_server_ready",
               "1 while every configured port listens and no drain has "
               "begun (/readyz is 200), else 0.",
               MetricType::Gauge);
    AddSample(&ready, {}, readiness() == Readiness::kReady ? 1 : 0);
    families.push_back(std::move(ready));
    MetricFamily build =
        Family("dualrpc_build_info",
               "Always 1; the labels say what is running.", MetricType::Gauge);
    AddSample(
        &build,
        {{"build_type", options_.build_type}, {"version", options_.version}},
        1);
    families.push_back(std::move(build));
    return families;
  }

 private:
  void AddConnectionFigures(std::vector<MetricFamily>* families) const {
    MetricFamily open =
        Family("dualrpc_server_connections_open",
               "Connections open now, per transport.", MetricType::Gauge);
    MetricFamily accepted =
        Family("dualrpc_server_connections_accepted_total",
               "Connections accepted or adopted.", MetricType::Counter);
    MetricFamily refused =
        Family("dualrpc_server_connections_refused_total",
               "Connections closed at accept because of a limit or state.",
               MetricType::Counter);
    MetricFamily handshakes =
        Family("dualrpc_server_tls_handshakes_total",
               "TLS handshakes finished.", MetricType::Counter);
    MetricFamily handshake_failures =
        Family("dualrpc_server_tls_handshake_failures_total",
               "TLS handshakes that failed.", MetricType::Counter);
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [transport, hook] : transports_) {
        const rpc::TransportStats stats = hook();
        const std::vector<ClientMetric::Label> labels = {
            {"transport", transport}};
        AddSample(&open, labels, static_cast<double>(stats.connections_open));
        AddSample(&accepted, labels,
                  static_cast<double>(stats.connections_accepted_total));
        for (const auto& [reason, count] : stats.refused_total) {
          AddSample(&refused, {{"reason", reason}, {"transport", transport}},
                    static_cast<double>(count));
        }
        AddSample(&handshakes, labels,
                  static_cast<double>(stats.tls_handshakes_total));
        AddSample(&handshake_failures, labels,
                  static_cast<double>(stats.tls_handshake_failures_total));
      }
    }
    for (MetricFamily* family :
         {&open, &accepted, &refused, &handshakes, &handshake_failures}) {
      families->push_back(std::move(*family));
    }
  }

  const Options options_;
  std::atomic<Readiness> readiness_{Readiness::kStarting};
  // Held while a hook runs, so that a hook is never replaced under a scrape.
  mutable absl::Mutex mu_;
  std::vector<std::pair<std::string, std::function<rpc::TransportStats()>>>
      transports_ ABSL_GUARDED_BY(mu_);
  std::function<ExecutorFigures()> executor_ ABSL_GUARDED_BY(mu_);
  std::function<std::int64_t()> access_log_dropped_ ABSL_GUARDED_BY(mu_);
};

ServerMetrics::ServerMetrics() : ServerMetrics(Options{}) {}

ServerMetrics::ServerMetrics(Options options)
    : call_table_(std::make_unique<CallTable>()),
      registry_(std::make_unique<prometheus::Registry>()),
      figures_(std::make_unique<ScrapeTimeFigures>(
          WithDefaults(std::move(options)))) {}

ServerMetrics::~ServerMetrics() = default;

void ServerMetrics::AddTransport(std::string transport,
                                 std::function<rpc::TransportStats()> stats) {
  figures_->AddTransport(std::move(transport), std::move(stats));
}

void ServerMetrics::SetExecutor(std::function<ExecutorFigures()> figures) {
  figures_->SetExecutor(std::move(figures));
}

void ServerMetrics::SetAccessLogDropped(
    std::function<std::int64_t()> dropped_lines) {
  figures_->SetAccessLogDropped(std::move(dropped_lines));
}

void ServerMetrics::SetReady(bool ready) { figures_->SetReady(ready); }

Readiness ServerMetrics::readiness() const { return figures_->readiness(); }

std::vector<MetricFamily> ServerMetrics::Collect() const {
  std::vector<MetricFamily> families = call_table_->Collect();
  for (std::vector<MetricFamily> more :
       {registry_->Collect(), figures_->Collect()}) {
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  return families;
}

std::string ServerMetrics::SerializeText() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, Collect());
  return out.str();
}

}  // namespace dualrpc::metrics
