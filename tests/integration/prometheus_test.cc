// dualrpc-server's --metrics_listen against a real Prometheus (Debian's
// /usr/bin/prometheus on loopback, scraping every second with a config
// written here): known numbers of calls on both transports must show in
// Prometheus's query API with exactly those counts. And readiness during a
// drain: /readyz 503 while grpc.health.v1 says NOT_SERVING.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/rpc/blocking_stream.h"
#include "dualrpc/rpc/channel.h"
#include "dualrpc/v1/file_service.dualrpc.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.pb.h"
#include "gtest/gtest.h"
#include "metrics/http_client.h"
#include "nlohmann/json.hpp"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace dualrpc::server {
namespace {

using ::dualrpc_testing::Eventually;
using ::dualrpc_testing::HttpGet;
using ::dualrpc_testing::HttpResponse;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

constexpr char kPrometheus[] = "/usr/bin/prometheus";
// Prometheus scrapes every second; its start-up and first scrapes on a
// loaded 2-core machine take a few seconds more.
constexpr absl::Duration kPrometheusTimeout = absl::Seconds(40);

// A child process with its output in `log_path`, killed with the test
// (PR_SET_PDEATHSIG) and stopped by the destructor: SIGTERM, then SIGKILL
// after 10 s.
class ChildProcess {
 public:
  static std::unique_ptr<ChildProcess> Start(
      const std::vector<std::string>& argv, const std::string& log_path) {
    std::vector<char*> args;
    for (const std::string& arg : argv)
      args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int log = ::open(log_path.c_str(),
                             O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      ::dup2(null, 0);
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    EXPECT_GT(pid, 0);
    return std::unique_ptr<ChildProcess>(new ChildProcess(pid, log_path));
  }

  ~ChildProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    if (!Eventually([this] { return Reaped(); }, absl::Seconds(10))) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Reaps the child if it has exited; true once it has.
  bool Reaped() {
    if (pid_ <= 0) return true;
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) pid_ = -1;
    return pid_ <= 0;
  }

  std::string LogText() const {
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  ChildProcess(pid_t pid, std::string log_path)
      : pid_(pid), log_path_(std::move(log_path)) {}

  pid_t pid_;
  const std::string log_path_;
};

// A loopback port that was free a moment ago (Prometheus needs a concrete
// one): bound on port 0, read back, closed. Racy by nature: the caller
// retries when the port was taken in between.
int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (fd < 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ADD_FAILURE() << "cannot bind a loopback port";
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string PercentEncode(const std::string& text) {
  std::string encoded;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      encoded.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&encoded, "%%%02X", c);
    }
  }
  return encoded;
}

// A Prometheus scraping `target` every second, on its own loopback port,
// with its config and storage in `dir`.
class Prometheus {
 public:
  // Starts it and waits for /-/ready; retries on another port when the one
  // picked was taken meanwhile.
  static absl::StatusOr<std::unique_ptr<Prometheus>> Start(
      const dualrpc_testing::TempDir& dir, const std::string& target) {
    dir.WriteFile("prometheus.yml", absl::StrCat("global:\n"
                                                 "  scrape_interval: 1s\n"
                                                 "  scrape_timeout: 1s\n"
                                                 "  evaluation_interval: 1s\n"
                                                 "scrape_configs:\n"
                                                 "  - job_name: dualrpc\n"
                                                 "    static_configs:\n"
                                                 "      - targets: ['",
                                                 target, "']\n"));
    std::string last_log;
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto prometheus = std::unique_ptr<Prometheus>(new Prometheus);
      prometheus->address_ = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
      const std::string storage = absl::StrCat(dir.path(), "/tsdb", attempt);
      prometheus->process_ = ChildProcess::Start(
          {kPrometheus, "--config.file=" + dir.path() + "/prometheus.yml",
           "--storage.tsdb.path=" + storage,
           "--web.listen-address=" + prometheus->address_, "--log.level=warn"},
          absl::StrCat(dir.path(), "/prometheus", attempt, ".log"));
      ChildProcess* process = prometheus->process_.get();
      const std::string address = prometheus->address_;
      bool ready = false;
      Eventually(
          [&] {
            if (process->Reaped()) return true;  // exited: give up this try
            ready = HttpGet(address, "/-/ready").status == 200;
            return ready;
          },
          kPrometheusTimeout);
      if (ready) return prometheus;
      last_log = process->LogText();
    }
    return absl::UnavailableError("prometheus did not become ready: " +
                                  last_log);
  }

  // The values of the instant vector `query` now: one per series, or an
  // error for a failed request.
  absl::StatusOr<std::vector<double>> Query(const std::string& query) const {
    const HttpResponse response =
        HttpGet(address_, "/api/v1/query?query=" + PercentEncode(query));
    if (response.status != 200) {
      return absl::UnavailableError(absl::StrCat(
          "query ", query, ": HTTP ", response.status, " ", response.body));
    }
    const nlohmann::json answer =
        nlohmann::json::parse(response.body, nullptr,
                              /*allow_exceptions=*/false);
    if (answer.is_discarded() || answer.value("status", "") != "success") {
      return absl::InternalError("query " + query + ": " + response.body);
    }
    std::vector<double> values;
    for (const nlohmann::json& series : answer["data"]["result"]) {
      values.push_back(std::stod(series["value"][1].get<std::string>()));
    }
    return values;
  }

  // Waits until `query` yields exactly one series whose value is `expected`;
  // false (with what it saw) when it does not within kPrometheusTimeout.
  ::testing::AssertionResult EventuallyEquals(const std::string& query,
                                              double expected) const {
    std::string seen = "nothing";
    const bool equal = Eventually(
        [&] {
          absl::StatusOr<std::vector<double>> values = Query(query);
          if (!values.ok()) {
            seen = values.status().ToString();
            return false;
          }
          seen = absl::StrCat(values->size(), " series");
          for (double value : *values) absl::StrAppend(&seen, " ", value);
          return values->size() == 1 && (*values)[0] == expected;
        },
        kPrometheusTimeout);
    if (equal) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << query << " never became " << expected << "; last: " << seen;
  }

 private:
  Prometheus() = default;

  std::string address_;
  std::unique_ptr<ChildProcess> process_;
};

std::shared_ptr<rpc::Channel> ChannelTo(const std::string& target) {
  absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
      client::CreateChannel(target);
  EXPECT_THAT(channel, IsOk());
  return channel.ok() ? *channel : nullptr;
}

std::string CallsTotal(const std::string& method, const std::string& transport,
                       const std::string& code) {
  return absl::StrFormat(
      "dualrpc_server_calls_total{method=\"/dualrpc.v1.FileService/%s\","
      "transport=\"%s\",code=\"%s\"}",
      method, transport, code);
}

TEST(PrometheusTest, ScrapesCallCountsOfBothTransports) {
  dualrpc_testing::TempDir root;
  root.WriteFile("hello.txt", "hello\n");
  absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
      dualrpc_testing::StartServer(root.path(),
                                   {"--metrics_listen=127.0.0.1:0"});
  ASSERT_THAT(server, IsOk());
  absl::StatusOr<std::string> metrics_address = (*server)->Address("metrics");
  ASSERT_THAT(metrics_address, IsOk());

  dualrpc_testing::TempDir prometheus_dir;
  absl::StatusOr<std::unique_ptr<Prometheus>> prometheus =
      Prometheus::Start(prometheus_dir, *metrics_address);
  ASSERT_THAT(prometheus, IsOk());

  v1::FileServiceClient raw(ChannelTo("raw://" + *(*server)->Address("raw")));
  v1::FileServiceClient grpc(
      ChannelTo("grpc://" + *(*server)->Address("grpc")));
  rpc::CallOptions options;
  options.timeout = absl::Seconds(10);
  v1::EchoRequest echo;
  echo.set_payload("counted");
  for (int i = 0; i < 7; ++i) ASSERT_THAT(raw.Echo(echo, options), IsOk());
  for (int i = 0; i < 5; ++i) ASSERT_THAT(grpc.Echo(echo, options), IsOk());
  v1::ListDirectoryRequest missing;
  missing.set_path("no-such-directory");
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(raw.ListDirectory(missing, options),
                StatusIs(absl::StatusCode::kNotFound));
  }

  EXPECT_TRUE((*prometheus)->EventuallyEquals("up{job=\"dualrpc\"}", 1));
  EXPECT_TRUE(
      (*prometheus)->EventuallyEquals(CallsTotal("Echo", "raw", "OK"), 7));
  EXPECT_TRUE(
      (*prometheus)->EventuallyEquals(CallsTotal("Echo", "grpc", "OK"), 5));
  EXPECT_TRUE((*prometheus)
                  ->EventuallyEquals(
                      CallsTotal("ListDirectory", "raw", "NOT_FOUND"), 3));
  // Per series, not summed over codes or transports.
  EXPECT_TRUE((*prometheus)
                  ->EventuallyEquals("sum(dualrpc_server_calls_total{method=~"
                                     "\"/dualrpc.v1.FileService/.*\"})",
                                     15));
  EXPECT_TRUE(
      (*prometheus)
          ->EventuallyEquals(
              "dualrpc_server_call_duration_seconds_count{method=\"/dualrpc.v1."
              "FileService/Echo\",transport=\"grpc\",code=\"OK\"}",
              5));
  EXPECT_TRUE((*prometheus)
                  ->EventuallyEquals("dualrpc_server_request_messages_total{"
                                     "method=\"/dualrpc.v1.FileService/"
                                     "Echo\",transport=\"raw\",code=\"OK\"}",
                                     7));
  // Connection figures from the transports' own hooks: the one raw
  // connection this test opened, and gRPC's series.
  EXPECT_TRUE((*prometheus)
                  ->EventuallyEquals(
                      "dualrpc_server_connections_open{transport=\"raw\"}", 1));
  EXPECT_TRUE(
      (*prometheus)
          ->EventuallyEquals(
              "dualrpc_server_connections_accepted_total{transport=\"raw\"}",
              1));
  EXPECT_TRUE(
      (*prometheus)
          ->EventuallyEquals(
              "count(dualrpc_server_connections_open{transport=\"grpc\"})", 1));
  EXPECT_TRUE(
      (*prometheus)
          ->EventuallyEquals("count(dualrpc_executor_queued_tasks)", 1));
  EXPECT_TRUE((*prometheus)->EventuallyEquals("dualrpc_server_ready", 1));
  EXPECT_TRUE(
      (*prometheus)
          ->EventuallyEquals(
              "count(dualrpc_build_info{version!=\"\",build_type!=\"\"})", 1));
}

// Readiness and grpc.health.v1 flip at the same moment: a Health/Watch
// stream (which also keeps the drain going, --shutdown_grace being long)
// sees NOT_SERVING after SIGTERM, and /readyz is then 503 "not ready:
// draining" while the server is still draining; /healthz stays 200.
TEST(MetricsReadinessTest, ReadyzIsNotReadyWhileHealthSaysNotServing) {
  dualrpc_testing::TempDir root;
  absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
      dualrpc_testing::StartServer(root.path(), {"--metrics_listen=127.0.0.1:0",
                                                 "--shutdown_grace=40s"});
  ASSERT_THAT(server, IsOk());
  const std::string metrics = *(*server)->Address("metrics");
  EXPECT_EQ(HttpGet(metrics, "/readyz").body, "ready\n");

  std::shared_ptr<rpc::Channel> channel =
      ChannelTo("raw://" + *(*server)->Address("raw"));
  HealthCheckRequest request;
  rpc::ClientReader<HealthCheckResponse> watch(
      *channel, "/grpc.health.v1.Health/Watch", request, rpc::CallOptions{});
  HealthCheckResponse response;
  ASSERT_TRUE(watch.Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  ASSERT_THAT((*server)->Signal(SIGTERM), IsOk());
  ASSERT_TRUE(watch.Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  // Flipped together with health (the two sit side by side in main); the
  // wait covers only the few instructions between them.
  HttpResponse readyz;
  EXPECT_TRUE(Eventually(
      [&] {
        readyz = HttpGet(metrics, "/readyz");
        return readyz.status == 503;
      },
      absl::Seconds(5)))
      << readyz.status << " " << readyz.body;
  EXPECT_EQ(readyz.body, "not ready: draining\n");
  // Still draining: the Watch is open and the process alive.
  EXPECT_TRUE((*server)->Alive());
  EXPECT_EQ(HttpGet(metrics, "/healthz").status, 200);
  EXPECT_EQ(HttpGet(metrics, "/readyz").status, 503);
  HttpResponse scraped = HttpGet(metrics, "/metrics");
  EXPECT_THAT(scraped.body, ::testing::HasSubstr("dualrpc_server_ready 0\n"));

  // Ending the last call ends the drain.
  watch.Cancel();
  EXPECT_THAT((*server)->WaitForExit(absl::Seconds(30)),
              dualrpc_testing::IsOkAndHolds(0));
}

// A bad --metrics_listen is a usage error before anything listens; a busy
// metrics port is a runtime failure.
TEST(MetricsFlagTest, BadAddressIsAUsageErrorBeforeListening) {
  dualrpc_testing::TempDir root;
  for (const char* bad : {"nonsense", "127.0.0.1:99999", "example.com:9090"}) {
    const dualrpc_testing::CommandResult result = dualrpc_testing::RunCommand(
        {dualrpc_testing::BinaryPath("dualrpc-server"), "--root=" + root.path(),
         "--grpc_listen=127.0.0.1:0", "--raw_listen=127.0.0.1:0",
         std::string("--metrics_listen=") + bad},
        "", absl::Seconds(30));
    EXPECT_EQ(result.exit_code, 2) << bad << ": " << result.stderr_text;
    EXPECT_THAT(result.stderr_text, ::testing::HasSubstr("--metrics_listen"));
    EXPECT_THAT(result.stderr_text,
                ::testing::Not(::testing::HasSubstr("listening")));
  }
}

TEST(MetricsFlagTest, BusyPortIsARuntimeFailure) {
  dualrpc_testing::TempDir root;
  absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> first =
      dualrpc_testing::StartServer(root.path(),
                                   {"--metrics_listen=127.0.0.1:0"});
  ASSERT_THAT(first, IsOk());
  const std::string taken = *(*first)->Address("metrics");
  const dualrpc_testing::CommandResult result = dualrpc_testing::RunCommand(
      {dualrpc_testing::BinaryPath("dualrpc-server"), "--root=" + root.path(),
       "--grpc_listen=127.0.0.1:0", "--raw_listen=127.0.0.1:0",
       "--metrics_listen=" + taken},
      "", absl::Seconds(30));
  EXPECT_EQ(result.exit_code, 1) << result.stderr_text;
  EXPECT_THAT(result.stderr_text, ::testing::HasSubstr(taken));
  // The metrics port is first: no transport was started.
  EXPECT_THAT(result.stderr_text,
              ::testing::Not(::testing::HasSubstr("grpc listening")));
}

}  // namespace
}  // namespace dualrpc::server
