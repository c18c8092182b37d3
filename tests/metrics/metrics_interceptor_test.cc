// MetricsInterceptor on fake contexts, alone and behind a real
// ServiceRegistry's stage: counts per method × transport × code, the
// in-flight gauge, the duration histogram's buckets, bytes and messages.

#include "dualrpc/metrics/metrics_interceptor.h"

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "dualrpc/metrics/server_metrics.h"
#include "dualrpc/rpc/interceptor.h"
#include "dualrpc/rpc/service_registry.h"
#include "gmock/gmock.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "metrics/metric_samples.h"
#include "testing/status_matchers.h"
#include "testing/unary_method.h"

namespace dualrpc::metrics {
namespace {

using ::dualrpc_testing::FindMetric;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::SampleValue;
using ::dualrpc_testing::StatusIs;
using ::google::protobuf::StringValue;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::Optional;

class FakeCallContext final : public rpc::ServerCallContext {
 public:
  explicit FakeCallContext(std::string transport)
      : transport_(std::move(transport)) {}
  absl::Time deadline() const override { return absl::InfiniteFuture(); }
  bool IsCancelled() const override { return false; }
  const rpc::Metadata& request_metadata() const override { return metadata_; }
  void AddResponseMetadata(std::string, std::string) override {}
  std::string peer() const override { return "fake"; }
  absl::string_view transport() const override { return transport_; }

 private:
  const std::string transport_;
  rpc::Metadata metadata_;
};

rpc::Method MethodAt(std::string path) {
  rpc::Method method;
  method.path = std::move(path);
  return method;
}

// One call start to end through `interceptor`.
void Call(MetricsInterceptor* interceptor, const rpc::Method& method,
          FakeCallContext* context, absl::Status status,
          absl::Duration duration = absl::Microseconds(10),
          std::int64_t request_bytes = 0, std::int64_t response_bytes = 0) {
  ASSERT_THAT(interceptor->OnCallStart(method, context), IsOk());
  rpc::CallRecord record;
  record.method = &method;
  record.context = context;
  record.status = std::move(status);
  record.duration = duration;
  record.request_messages = 1;
  record.request_bytes = request_bytes;
  record.response_messages = record.status.ok() ? 1 : 0;
  record.response_bytes = response_bytes;
  interceptor->OnCallEnd(record);
}

TEST(MetricsInterceptorTest, CountsPerMethodTransportAndCode) {
  ServerMetrics metrics;
  MetricsInterceptor interceptor(&metrics);
  const rpc::Method echo = MethodAt("/t.S/Echo");
  const rpc::Method list = MethodAt("/t.S/List");
  FakeCallContext raw("raw");
  FakeCallContext grpc("grpc");
  for (int i = 0; i < 7; ++i) Call(&interceptor, echo, &raw, absl::OkStatus());
  for (int i = 0; i < 5; ++i) Call(&interceptor, echo, &grpc, absl::OkStatus());
  for (int i = 0; i < 3; ++i) {
    Call(&interceptor, list, &raw, absl::NotFoundError("no such directory"));
  }
  Call(&interceptor, list, &grpc, absl::UnauthenticatedError("no token"));

  const auto calls = [&](const std::string& method,
                         const std::string& transport,
                         const std::string& code) {
    return SampleValue(
        metrics, "dualrpc_server_calls_total",
        {{"method", method}, {"transport", transport}, {"code", code}});
  };
  EXPECT_THAT(calls("/t.S/Echo", "raw", "OK"), Optional(Eq(7)));
  EXPECT_THAT(calls("/t.S/Echo", "grpc", "OK"), Optional(Eq(5)));
  EXPECT_THAT(calls("/t.S/List", "raw", "NOT_FOUND"), Optional(Eq(3)));
  EXPECT_THAT(calls("/t.S/List", "grpc", "UNAUTHENTICATED"), Optional(Eq(1)));
  // Combinations that never happened have no sample at all.
  EXPECT_EQ(calls("/t.S/List", "raw", "OK"), std::nullopt);
  EXPECT_EQ(calls("/t.S/Echo", "raw", "NOT_FOUND"), std::nullopt);
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_request_messages_total",
                          {{"method", "/t.S/List"},
                           {"transport", "raw"},
                           {"code", "NOT_FOUND"}}),
              Optional(Eq(3)));
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_response_messages_total",
                          {{"method", "/t.S/List"},
                           {"transport", "raw"},
                           {"code", "NOT_FOUND"}}),
              Optional(Eq(0)));
}

TEST(MetricsInterceptorTest, CountsBytesPerCall) {
  ServerMetrics metrics;
  MetricsInterceptor interceptor(&metrics);
  const rpc::Method echo = MethodAt("/t.S/Echo");
  FakeCallContext raw("raw");
  Call(&interceptor, echo, &raw, absl::OkStatus(), absl::Microseconds(1), 10,
       100);
  Call(&interceptor, echo, &raw, absl::OkStatus(), absl::Microseconds(1), 32,
       7);
  const dualrpc_testing::MetricLabels labels = {
      {"method", "/t.S/Echo"}, {"transport", "raw"}, {"code", "OK"}};
  EXPECT_THAT(
      SampleValue(metrics, "dualrpc_server_request_bytes_total", labels),
      Optional(Eq(42)));
  EXPECT_THAT(
      SampleValue(metrics, "dualrpc_server_response_bytes_total", labels),
      Optional(Eq(107)));
}

TEST(MetricsInterceptorTest, InFlightGoesUpAtStartAndDownAtEnd) {
  ServerMetrics metrics;
  MetricsInterceptor interceptor(&metrics);
  const rpc::Method echo = MethodAt("/t.S/Echo");
  FakeCallContext raw("raw");
  const dualrpc_testing::MetricLabels labels = {{"method", "/t.S/Echo"},
                                                {"transport", "raw"}};
  ASSERT_THAT(interceptor.OnCallStart(echo, &raw), IsOk());
  ASSERT_THAT(interceptor.OnCallStart(echo, &raw), IsOk());
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_calls_in_flight", labels),
              Optional(Eq(2)));
  rpc::CallRecord record;
  record.method = &echo;
  record.context = &raw;
  interceptor.OnCallEnd(record);
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_calls_in_flight", labels),
              Optional(Eq(1)));
  interceptor.OnCallEnd(record);
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_calls_in_flight", labels),
              Optional(Eq(0)));
  // The other transport's gauge is its own.
  EXPECT_EQ(SampleValue(metrics, "dualrpc_server_calls_in_flight",
                        {{"method", "/t.S/Echo"}, {"transport", "grpc"}}),
            std::nullopt);
}

TEST(MetricsInterceptorTest, DurationsFallInTheirBuckets) {
  ServerMetrics metrics;
  MetricsInterceptor interceptor(&metrics);
  const rpc::Method echo = MethodAt("/t.S/Echo");
  FakeCallContext grpc("grpc");
  for (absl::Duration duration :
       {absl::Microseconds(30), absl::Microseconds(300), absl::Seconds(2),
        absl::Seconds(60)}) {
    Call(&interceptor, echo, &grpc, absl::OkStatus(), duration);
  }
  std::optional<prometheus::ClientMetric> histogram = FindMetric(
      metrics.Collect(), "dualrpc_server_call_duration_seconds",
      {{"method", "/t.S/Echo"}, {"transport", "grpc"}, {"code", "OK"}});
  ASSERT_TRUE(histogram.has_value());
  EXPECT_EQ(histogram->histogram.sample_count, 4u);
  EXPECT_NEAR(histogram->histogram.sample_sum, 62.00033, 1e-9);
  // Cumulative counts at each upper bound, +Inf last.
  std::vector<std::pair<double, std::uint64_t>> buckets;
  for (const auto& bucket : histogram->histogram.bucket) {
    buckets.emplace_back(bucket.upper_bound, bucket.cumulative_count);
  }
  ASSERT_EQ(buckets.size(), CallDurationBuckets().size() + 1);
  EXPECT_EQ(buckets.front(), std::make_pair(0.00005, std::uint64_t{1}));
  EXPECT_EQ(buckets[3], std::make_pair(0.0005, std::uint64_t{2}));
  EXPECT_EQ(buckets[13], std::make_pair(1.0, std::uint64_t{2}));
  EXPECT_EQ(buckets[14], std::make_pair(2.5, std::uint64_t{3}));
  EXPECT_EQ(buckets[16], std::make_pair(10.0, std::uint64_t{3}));
  EXPECT_EQ(buckets.back().second, 4u);
}

TEST(MetricsInterceptorTest, BucketsSpanFiftyMicrosecondsToTenSeconds) {
  const std::vector<double>& buckets = CallDurationBuckets();
  ASSERT_FALSE(buckets.empty());
  EXPECT_DOUBLE_EQ(buckets.front(), 50e-6);
  EXPECT_DOUBLE_EQ(buckets.back(), 10);
  for (std::size_t i = 1; i < buckets.size(); ++i) {
    EXPECT_GE(buckets[i] / buckets[i - 1], 1.99) << i;
    EXPECT_LE(buckets[i] / buckets[i - 1], 2.51) << i;
  }
}

TEST(MetricsInterceptorTest, CountsEveryCallFromManyThreads) {
  ServerMetrics metrics;
  MetricsInterceptor interceptor(&metrics);
  std::vector<rpc::Method> methods;
  for (int i = 0; i < 40; ++i)
    methods.push_back(MethodAt("/t.S/M" + std::to_string(i)));
  constexpr int kThreads = 4;
  constexpr int kRounds = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      FakeCallContext context(t % 2 == 0 ? "raw" : "grpc");
      for (int round = 0; round < kRounds; ++round) {
        for (const rpc::Method& method : methods) {
          Call(&interceptor, method, &context, absl::OkStatus());
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const rpc::Method& method : methods) {
    for (const char* transport : {"raw", "grpc"}) {
      EXPECT_THAT(SampleValue(metrics, "dualrpc_server_calls_total",
                              {{"method", method.path},
                               {"transport", transport},
                               {"code", "OK"}}),
                  Optional(Eq(kThreads / 2 * kRounds)))
          << method.path << " " << transport;
    }
  }
}

// Each thread counts in its own shard; a call may start on one thread (an
// event loop) and end on another (the blocking executor): the gauge is the
// sum over shards, and it is shown once a call started, even where the only
// shard that saw that method's end saw no start.
TEST(MetricsInterceptorTest, CallsEndingOnAnotherThreadComeOffTheGauge) {
  ServerMetrics metrics;
  MetricsInterceptor interceptor(&metrics);
  const rpc::Method slow = MethodAt("/t.S/Slow");
  FakeCallContext raw("raw");
  const dualrpc_testing::MetricLabels in_flight = {{"method", "/t.S/Slow"},
                                                   {"transport", "raw"}};
  constexpr int kCalls = 10;
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_THAT(interceptor.OnCallStart(slow, &raw), IsOk());
  }
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_calls_in_flight", in_flight),
              Optional(Eq(kCalls)));
  std::thread ender([&] {
    rpc::CallRecord record;
    record.method = &slow;
    record.context = &raw;
    for (int i = 0; i < kCalls - 1; ++i) interceptor.OnCallEnd(record);
  });
  ender.join();
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_calls_in_flight", in_flight),
              Optional(Eq(1)));
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_calls_total",
                          {{"method", "/t.S/Slow"},
                           {"transport", "raw"},
                           {"code", "OK"}}),
              Optional(Eq(kCalls - 1)));
}

// Two tables used by one thread in turn (the thread's shard cache holds
// one): each keeps its own counts.
TEST(MetricsInterceptorTest, TwoTablesOnOneThreadCountApart) {
  ServerMetrics first_metrics;
  ServerMetrics second_metrics;
  MetricsInterceptor first(&first_metrics);
  MetricsInterceptor second(&second_metrics);
  const rpc::Method echo = MethodAt("/t.S/Echo");
  FakeCallContext raw("raw");
  for (int i = 0; i < 5; ++i) {
    Call(&first, echo, &raw, absl::OkStatus());
    Call(&second, echo, &raw, absl::OkStatus());
    Call(&second, echo, &raw, absl::OkStatus());
  }
  const dualrpc_testing::MetricLabels labels = {
      {"method", "/t.S/Echo"}, {"transport", "raw"}, {"code", "OK"}};
  EXPECT_THAT(SampleValue(first_metrics, "dualrpc_server_calls_total", labels),
              Optional(Eq(5)));
  EXPECT_THAT(SampleValue(second_metrics, "dualrpc_server_calls_total", labels),
              Optional(Eq(10)));
}

TEST(MetricsInterceptorTest, MoreMethodsThanTableSlotsAreStillCounted) {
  ServerMetrics metrics;
  MetricsInterceptor interceptor(&metrics);
  // More than the lookup table holds: the rest go the locked way.
  std::vector<rpc::Method> methods;
  for (int i = 0; i < 300; ++i)
    methods.push_back(MethodAt("/t.S/M" + std::to_string(i)));
  FakeCallContext raw("raw");
  for (int round = 0; round < 2; ++round) {
    for (const rpc::Method& method : methods) {
      Call(&interceptor, method, &raw, absl::OkStatus());
    }
  }
  for (const rpc::Method& method : methods) {
    ASSERT_THAT(
        SampleValue(
            metrics, "dualrpc_server_calls_total",
            {{"method", method.path}, {"transport", "raw"}, {"code", "OK"}}),
        Optional(Eq(2)))
        << method.path;
  }
}

TEST(MetricsInterceptorTest, BehindTheRegistryStageCountsRefusedCallsToo) {
  // The order main uses: metrics first, then an interceptor that refuses
  // (authentication): the refused call is counted with its code.
  class Refuse final : public rpc::ServerInterceptor {
   public:
    absl::Status OnCallStart(const rpc::Method&,
                             rpc::ServerCallContext* context) override {
      if (context->request_metadata().empty()) {
        return absl::UnauthenticatedError("no token");
      }
      return absl::OkStatus();
    }
  };
  ServerMetrics metrics;
  rpc::ServiceRegistry registry;
  ASSERT_THAT(
      registry.AddInterceptor(std::make_shared<MetricsInterceptor>(&metrics)),
      IsOk());
  ASSERT_THAT(registry.AddInterceptor(std::make_shared<Refuse>()), IsOk());
  ASSERT_THAT(registry.AddMethod(
                  dualrpc_testing::UnaryMethodFrom<StringValue, StringValue>(
                      "/t.S/Echo",
                      [](rpc::ServerCallContext*, const StringValue& request,
                         StringValue* response, rpc::UnaryDone done) {
                        *response = request;
                        std::move(done)(absl::OkStatus());
                      })),
              IsOk());
  const rpc::Method* echo = registry.FindMethod("/t.S/Echo");
  ASSERT_NE(echo, nullptr);
  FakeCallContext raw("raw");
  StringValue request;
  request.set_value("hello");
  StringValue response;
  std::optional<absl::Status> status;
  echo->invoke(&raw, &request, &response,
               [&status](absl::Status s) { status = std::move(s); });
  ASSERT_TRUE(status.has_value());
  EXPECT_THAT(*status, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_calls_total",
                          {{"method", "/t.S/Echo"},
                           {"transport", "raw"},
                           {"code", "UNAUTHENTICATED"}}),
              Optional(Eq(1)));
  EXPECT_THAT(SampleValue(metrics, "dualrpc_server_calls_in_flight",
                          {{"method", "/t.S/Echo"}, {"transport", "raw"}}),
              Optional(Eq(0)));
}

TEST(MetricsInterceptorTest, BehindTheRegistryStageCountsMessageBytes) {
  ServerMetrics metrics;
  rpc::ServiceRegistry registry;
  ASSERT_THAT(
      registry.AddInterceptor(std::make_shared<MetricsInterceptor>(&metrics)),
      IsOk());
  ASSERT_THAT(registry.AddMethod(
                  dualrpc_testing::UnaryMethodFrom<StringValue, StringValue>(
                      "/t.S/Twice",
                      [](rpc::ServerCallContext*, const StringValue& request,
                         StringValue* response, rpc::UnaryDone done) {
                        response->set_value(request.value() + request.value());
                        std::move(done)(absl::OkStatus());
                      })),
              IsOk());
  const rpc::Method* twice = registry.FindMethod("/t.S/Twice");
  ASSERT_NE(twice, nullptr);
  FakeCallContext grpc("grpc");
  StringValue request;
  request.set_value("abcd");  // 6 bytes serialized; the response 10
  StringValue response;
  std::optional<absl::Status> status;
  twice->invoke(&grpc, &request, &response,
                [&status](absl::Status s) { status = std::move(s); });
  ASSERT_THAT(status, Optional(IsOk()));
  const dualrpc_testing::MetricLabels labels = {
      {"method", "/t.S/Twice"}, {"transport", "grpc"}, {"code", "OK"}};
  EXPECT_THAT(
      SampleValue(metrics, "dualrpc_server_request_bytes_total", labels),
      Optional(Eq(6)));
  EXPECT_THAT(
      SampleValue(metrics, "dualrpc_server_response_bytes_total", labels),
      Optional(Eq(10)));
  EXPECT_THAT(
      SampleValue(metrics, "dualrpc_server_response_messages_total", labels),
      Optional(Eq(1)));
}

}  // namespace
}  // namespace dualrpc::metrics
