#ifndef DUALRPC_METRICS_METRIC_FAMILY_H_
#define DUALRPC_METRICS_METRIC_FAMILY_H_

// Building prometheus-cpp's MetricFamily values at scrape time: the one
// way ServerMetrics and CallTable turn their own figures into families.

#include <string>
#include <utility>
#include <vector>

#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"
#include "prometheus/metric_type.h"

namespace dualrpc::metrics::internal {

// An empty family: its name, help text and type.
inline prometheus::MetricFamily Family(std::string name, std::string help,
                                       prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

// One sample of a counter or gauge `family` with `labels`.
inline void AddSample(prometheus::MetricFamily* family,
                      std::vector<prometheus::ClientMetric::Label> labels,
                      double value) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  if (family->type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family->metric.push_back(std::move(metric));
}

}  // namespace dualrpc::metrics::internal

#endif  // DUALRPC_METRICS_METRIC_FAMILY_H_
