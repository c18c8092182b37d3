#ifndef DUALRPC_TESTS_METRICS_METRIC_SAMPLES_H_
#define DUALRPC_TESTS_METRICS_METRIC_SAMPLES_H_

// Reading ServerMetrics::Collect() in tests: one sample by family name and
// exact label set.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dualrpc/metrics/server_metrics.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"

namespace dualrpc_testing {

using MetricLabels = std::map<std::string, std::string>;

// The metric of family `name` whose labels are exactly `labels`; nullopt
// when there is none (or no such family).
inline std::optional<prometheus::ClientMetric> FindMetric(
    const std::vector<prometheus::MetricFamily>& families,
    const std::string& name, const MetricLabels& labels) {
  for (const prometheus::MetricFamily& family : families) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      MetricLabels have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      if (have == labels) return metric;
    }
  }
  return std::nullopt;
}

// A counter's or gauge's value; nullopt when the sample is not there.
inline std::optional<double> SampleValue(
    const dualrpc::metrics::ServerMetrics& metrics, const std::string& name,
    const MetricLabels& labels = {}) {
  const std::vector<prometheus::MetricFamily> families = metrics.Collect();
  for (const prometheus::MetricFamily& family : families) {
    if (family.name != name) continue;
    std::optional<prometheus::ClientMetric> metric =
        FindMetric(families, name, labels);
    if (!metric.has_value()) return std::nullopt;
    return family.type == prometheus::MetricType::Counter
               ? metric->counter.value
               : metric->gauge.value;
  }
  return std::nullopt;
}

}  // namespace dualrpc_testing

#endif  // DUALRPC_TESTS_METRICS_METRIC_SAMPLES_H_
