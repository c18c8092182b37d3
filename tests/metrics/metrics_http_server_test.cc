// MetricsHttpServer on 127.0.0.1 port 0 over real sockets: /metrics in the
// text format (checked by promtool, Prometheus's own parser), /healthz,
// /readyz through the readiness states, 404, 405, an oversized request
// refused with the server still serving, address validation and a bind
// failure.

#include "dualrpc/metrics/metrics_http_server.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "civetweb.h"
#include "dualrpc/metrics/metrics_interceptor.h"
#include "dualrpc/metrics/server_metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/http_client.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace dualrpc::metrics {
namespace {

using ::dualrpc_testing::HttpGet;
using ::dualrpc_testing::HttpResponse;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
        MetricsHttpServer::Start({.listen_address = "127.0.0.1:0"}, &metrics_);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
  }

  ServerMetrics metrics_;
  std::unique_ptr<MetricsHttpServer> server_;
};

TEST_F(MetricsHttpServerTest, ReportsTheBoundPort) {
  EXPECT_THAT(server_->address(), StartsWith("127.0.0.1:"));
  EXPECT_NE(server_->address(), "127.0.0.1:0");
}

TEST_F(MetricsHttpServerTest, MetricsAreTextFormatThatPrometheusParses) {
  MetricsInterceptor interceptor(&metrics_);
  rpc::Method echo;
  echo.path = "/dualrpc.v1.FileService/Echo";
  class Context final : public rpc::ServerCallContext {
   public:
    absl::Time deadline() const override { return absl::InfiniteFuture(); }
    bool IsCancelled() const override { return false; }
    const rpc::Metadata& request_metadata() const override { return metadata_; }
    void AddResponseMetadata(std::string, std::string) override {}
    std::string peer() const override { return "fake"; }
    absl::string_view transport() const override { return "raw"; }

   private:
    rpc::Metadata metadata_;
  } context;
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(interceptor.OnCallStart(echo, &context), IsOk());
    rpc::CallRecord record;
    record.method = &echo;
    record.context = &context;
    record.status = absl::NotFoundError("x");
    interceptor.OnCallEnd(record);
  }
  metrics_.AddTransport("raw", [] {
    rpc::TransportStats stats;
    stats.connections_open = 2;
    stats.refused_total = {{"max_connections", 1}};
    return stats;
  });
  metrics_.SetExecutor([] { return ExecutorFigures{1, 2, 3}; });

  const HttpResponse response = HttpGet(server_->address(), "/metrics");
  ASSERT_EQ(response.status, 200) << response.head;
  EXPECT_THAT(response.head,
              HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(response.body,
              HasSubstr("dualrpc_server_calls_total{code=\"NOT_FOUND\","
                        "method=\"/dualrpc.v1.FileService/Echo\","
                        "transport=\"raw\"} 3"));
  EXPECT_THAT(
      response.body,
      HasSubstr("dualrpc_server_connections_open{transport=\"raw\"} 2"));
  EXPECT_THAT(response.body,
              HasSubstr("dualrpc_server_connections_refused_total{reason=\"max_"
                        "connections\",transport=\"raw\"} 1"));
  EXPECT_THAT(response.body, HasSubstr("dualrpc_executor_rejected_total 3"));
  EXPECT_THAT(
      response.body,
      HasSubstr("dualrpc_server_call_duration_seconds_bucket{code=\"NOT_"
                "FOUND\",method=\"/dualrpc.v1.FileService/Echo\","
                "transport=\"raw\",le=\"5e-05\"} 3"));

  // Prometheus's own parser and linter (promtool, from the prometheus
  // package) on the body as served.
  dualrpc_testing::TempDir dir;
  dir.WriteFile("metrics.txt", response.body);
  const dualrpc_testing::CommandResult checked = dualrpc_testing::RunCommand(
      {"/bin/sh", "-c",
       "/usr/bin/promtool check metrics < " + dir.path() + "/metrics.txt"});
  EXPECT_EQ(checked.exit_code, 0) << checked.stdout_text << checked.stderr_text;
}

TEST_F(MetricsHttpServerTest, HealthzIsOkWhileTheProcessRuns) {
  const HttpResponse response = HttpGet(server_->address(), "/healthz");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "ok\n");
}

TEST_F(MetricsHttpServerTest, ReadyzFollowsReadiness) {
  HttpResponse response = HttpGet(server_->address(), "/readyz");
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.body, "not ready: starting\n");
  metrics_.SetReady(true);
  response = HttpGet(server_->address(), "/readyz");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "ready\n");
  metrics_.SetReady(false);
  response = HttpGet(server_->address(), "/readyz");
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.body, "not ready: draining\n");
  // Liveness is not readiness.
  EXPECT_EQ(HttpGet(server_->address(), "/healthz").status, 200);
}

TEST_F(MetricsHttpServerTest, HeadHasNoBody) {
  const HttpResponse response = dualrpc_testing::HttpExchange(
      server_->address(), "HEAD /healthz HTTP/1.1\r\nHost: test\r\n\r\n");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "");
}

TEST_F(MetricsHttpServerTest, OtherPathsAreNotFound) {
  for (const char* path :
       {"/", "/metrics/x", "/index.html", "/../etc/passwd", "/healthz2"}) {
    EXPECT_EQ(HttpGet(server_->address(), path).status, 404) << path;
  }
}

TEST_F(MetricsHttpServerTest, OtherMethodsAreRefused) {
  const HttpResponse response = dualrpc_testing::HttpExchange(
      server_->address(),
      "POST /metrics HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(response.status, 405);
}

TEST_F(MetricsHttpServerTest, OversizedRequestIsRefusedAndTheServerStaysUp) {
  // Headers beyond the 16 KiB limit.
  const std::string request =
      absl::StrCat("GET /metrics HTTP/1.1\r\nHost: test\r\nX-Filler: ",
                   std::string(64 * 1024, 'a'), "\r\n\r\n");
  const HttpResponse refused =
      dualrpc_testing::HttpExchange(server_->address(), request);
  // civetweb 1.15 says 400; 413 would do as well.
  EXPECT_THAT(refused.status, AnyOf(400, 413)) << refused.head;
  EXPECT_THAT(refused.body, Not(HasSubstr("dualrpc_build_info")));
  // Still serving.
  EXPECT_EQ(HttpGet(server_->address(), "/healthz").status, 200);
  EXPECT_EQ(HttpGet(server_->address(), "/metrics").status, 200);
}

TEST(MetricsHttpServerAddressTest, ValidatesHostAndPort) {
  for (const char* good : {"127.0.0.1:0", "0.0.0.0:9090", "localhost:65535"}) {
    EXPECT_THAT(MetricsHttpServer::ValidateListenAddress(good), IsOk()) << good;
  }
  for (const char* bad :
       {"", "9090", ":9090", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:65536",
        "127.0.0.1:-1", "::1:9090", "[nonsense]:1", "example.com:9090"}) {
    EXPECT_THAT(MetricsHttpServer::ValidateListenAddress(bad),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

TEST(MetricsHttpServerAddressTest, ABusyPortIsAnErrorNamingTheAddress) {
  ServerMetrics metrics;
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> first =
      MetricsHttpServer::Start({.listen_address = "127.0.0.1:0"}, &metrics);
  ASSERT_THAT(first, IsOk());
  const std::string address = (*first)->address();
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> second =
      MetricsHttpServer::Start({.listen_address = address}, &metrics);
  EXPECT_THAT(second,
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(address)));
  // The first still serves.
  EXPECT_EQ(HttpGet(address, "/healthz").status, 200);
}

TEST(MetricsHttpServerAddressTest, IPv6WhereCivetwebHasIt) {
  ServerMetrics metrics;
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
      MetricsHttpServer::Start({.listen_address = "[::1]:0"}, &metrics);
  if (mg_check_feature(8) == 0) {
    // Debian's libcivetweb: refused up front, saying why.
    EXPECT_THAT(server, StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("IPv6 is not supported")));
    return;
  }
  ASSERT_THAT(server, IsOk());
  EXPECT_THAT((*server)->address(), StartsWith("[::1]:"));
  EXPECT_NE((*server)->address(), "[::1]:0");
}

TEST(MetricsHttpServerAddressTest, StopsPromptly) {
  // civetweb alone takes up to 2 s to stop; the destructor wakes it.
  ServerMetrics metrics;
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
      MetricsHttpServer::Start({.listen_address = "127.0.0.1:0"}, &metrics);
  ASSERT_THAT(server, IsOk());
  EXPECT_EQ(HttpGet((*server)->address(), "/healthz").status, 200);
  const absl::Time start = absl::Now();
  server->reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

}  // namespace
}  // namespace dualrpc::metrics
