// ServerMetrics's scrape-time figures: the transport hooks (fake
// TransportStats), the executor and access-log hooks, readiness and build
// info, and that the text format names every D4 family.

#include "dualrpc/metrics/server_metrics.h"

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "dualrpc/metrics/metrics_interceptor.h"
#include "dualrpc/rpc/transport_stats.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/metric_samples.h"
#include "testing/status_matchers.h"

namespace dualrpc::metrics {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::SampleValue;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

class FakeCallContext final : public rpc::ServerCallContext {
 public:
  absl::Time deadline() const override { return absl::InfiniteFuture(); }
  bool IsCancelled() const override { return false; }
  const rpc::Metadata& request_metadata() const override { return metadata_; }
  void AddResponseMetadata(std::string, std::string) override {}
  std::string peer() const override { return "fake"; }
  absl::string_view transport() const override { return "raw"; }

 private:
  rpc::Metadata metadata_;
};

TEST(ServerMetricsTest, ReadsTransportStatsAtScrapeTime) {
  ServerMetrics metrics;
  std::atomic<std::int64_t> open{3};
  metrics.AddTransport("raw", [&open] {
    rpc::TransportStats stats;
    stats.connections_open = open.load();
    stats.connections_accepted_total = 10;
    stats.refused_total = {{"max_connections", 2}, {"draining", 1}};
    stats.tls_handshakes_total = 4;
    stats.tls_handshake_failures_total = 1;
    return stats;
  });
  metrics.AddTransport("grpc", [] {
    rpc::TransportStats stats;
    stats.connections_open = 1;
    return stats;
  });
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_connections_open",
                          {{"transport", "raw"}}),
              Optional(Eq(3)));
  open = 5;  // read again at the next scrape, not cached
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_connections_open",
                          {{"transport", "raw"}}),
              Optional(Eq(5)));
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_connections_open",
                          {{"transport", "grpc"}}),
              Optional(Eq(1)));
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_connections_accepted_total",
                          {{"transport", "raw"}}),
              Optional(Eq(10)));
  EXPECT_THAT(
      SampleValue(metrics, "dualrpc_server_connections_refused_total",
                  {{"transport", "raw"}, {"reason", "max_connections"}}),
      Optional(Eq(2)));
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_connections_refused_total",
                          {{"transport", "raw"}, {"reason", "draining"}}),
              Optional(Eq(1)));
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_tls_handshakes_total",
                          {{"transport", "raw"}}),
              Optional(Eq(4)));
  EXPECT_THAT(
      SampleValue(metrics, "dualrpc_server_tls_handshake_failures_total",
                  {{"transport", "raw"}}),
      Optional(Eq(1)));
}

TEST(ServerMetricsTest, ASecondHookForATransportReplacesTheFirst) {
  ServerMetrics metrics;
  metrics.AddTransport("raw", [] {
    rpc::TransportStats stats;
    stats.connections_open = 1;
    return stats;
  });
  metrics.AddTransport("raw", [] {
    rpc::TransportStats stats;
    stats.connections_open = 2;
    return stats;
  });
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_connections_open",
                          {{"transport", "raw"}}),
              Optional(Eq(2)));
}

TEST(ServerMetricsTest, ExecutorAndAccessLogFiguresOnlyOnceHooked) {
  ServerMetrics metrics;
  EXPECT_EQ(SampleValue(metrics, "dualrpc_executor_queued_tasks"),
            std::nullopt);
  EXPECT_EQ(SampleValue(metrics, "dualrpc_access_log_dropped_lines_total"),
            std::nullopt);
  metrics.SetExecutor([] {
    ExecutorFigures figures;
    figures.queued_tasks = 7;
    figures.busy_threads = 4;
    figures.rejected_total = 9;
    figures.rejected_per_connection_total = 5;
    return figures;
  });
  metrics.SetAccessLogDropped([] { return std::int64_t{12}; });
  EXPECT_THAT(SampleValue(metrics, "dualrpc_executor_queued_tasks"),
              Optional(Eq(7)));
  EXPECT_THAT(SampleValue(metrics, "dualrpc_executor_busy_threads"),
              Optional(Eq(4)));
  EXPECT_THAT(SampleValue(metrics, "dualrpc_executor_rejected_total"),
              Optional(Eq(9)));
  EXPECT_THAT(SampleValue(metrics,
                          "dualrpc_executor_rejected_per_connection_total"),
              Optional(Eq(5)));
  EXPECT_THAT(SampleValue(metrics, "dualrpc_access_log_dropped_lines_total"),
              Optional(Eq(12)));
}

TEST(ServerMetricsTest, ReadinessStartsThenReadyThenDraining) {
  ServerMetrics metrics;
  EXPECT_EQ(metrics.readiness(), Readiness::kStarting);
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_ready"), Optional(Eq(0)));
  // Not ready before ever being ready is still starting, not draining.
  metrics.SetReady(false);
  EXPECT_EQ(metrics.readiness(), Readiness::kStarting);
  metrics.SetReady(true);
  EXPECT_EQ(metrics.readiness(), Readiness::kReady);
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_ready"), Optional(Eq(1)));
  metrics.SetReady(false);
  EXPECT_EQ(metrics.readiness(), Readiness::kDraining);
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_ready"), Optional(Eq(0)));
}

TEST(ServerMetricsTest, BuildInfoCarriesVersionAndBuildType) {
  ServerMetrics given({"1.2.3", "Release"});
  EXPECT_THAT(SampleValue(given, "dualrpc_build_info",
                          {{"version", "1.2.3"}, {"build_type", "Release"}}),
              Optional(Eq(1)));
  // The defaults: this build's.
  ServerMetrics defaults;
  const std::string text = defaults.SerializeText();
  EXPECT_THAT(text, HasSubstr("dualrpc_build_info{build_type=\""));
  EXPECT_THAT(text, Not(HasSubstr("version=\"\"")));
  EXPECT_THAT(text, Not(HasSubstr("build_type=\"\"")));
}

TEST(ServerMetricsTest, TextFormatDeclaresEveryFamilyWithItsType) {
  ServerMetrics metrics;
  // The per-call families show once they have a sample.
  MetricsInterceptor interceptor(&metrics);
  rpc::Method echo;
  echo.path = "/t.S/Echo";
  FakeCallContext context;
  ASSERT_THAT(interceptor.OnCallStart(echo, &context), IsOk());
  rpc::CallRecord record;
  record.method = &echo;
  record.context = &context;
  interceptor.OnCallEnd(record);
  metrics.AddTransport("raw", [] { return rpc::TransportStats{}; });
  metrics.SetExecutor([] { return ExecutorFigures{}; });
  metrics.SetAccessLogDropped([] { return std::int64_t{0}; });
  const std::string text = metrics.SerializeText();
  for (const char* declaration : {
           "# TYPE dualrpc_server_calls_total counter",
           "# TYPE dualrpc_server_call_duration_seconds histogram",
           "# TYPE dualrpc_server_request_bytes_total counter",
           "# TYPE dualrpc_server_response_bytes_total counter",
           "# TYPE dualrpc_server_request_messages_total counter",
           "# TYPE dualrpc_server_response_messages_total counter",
           "# TYPE dualrpc_server_calls_in_flight gauge",
           "# TYPE dualrpc_server_connections_open gauge",
           "# TYPE dualrpc_server_connections_accepted_total counter",
           "# TYPE dualrpc_server_connections_refused_total counter",
           "# TYPE dualrpc_server_tls_handshakes_total counter",
           "# TYPE dualrpc_server_tls_handshake_failures_total counter",
           "# TYPE dualrpc_executor_queued_tasks gauge",
           "# TYPE dualrpc_executor_busy_threads gauge",
           "# TYPE dualrpc_executor_rejected_total counter",
           "# TYPE dualrpc_executor_rejected_per_connection_total counter",
           "# TYPE dualrpc_access_log_dropped_lines_total counter",
           "# TYPE dualrpc_server_ready gauge",
           "# TYPE dualrpc_build_info gauge",
       }) {
    EXPECT_TRUE(absl::StrContains(text, declaration)) << declaration;
  }
}

}  // namespace
}  // namespace dualrpc::metrics
