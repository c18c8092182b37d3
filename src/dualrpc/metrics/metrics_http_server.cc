#include "dualrpc/metrics/metrics_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "civetweb.h"

namespace dualrpc::metrics {
namespace {

struct HostPort {
  std::string host;  // as given ("[::1]", "127.0.0.1", "localhost")
  int port = 0;
};

absl::StatusOr<HostPort> ParseHostPort(absl::string_view address) {
  const auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address \"", address, "\": ", why));
  };
  const std::size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return invalid("want HOST:PORT");
  }
  HostPort parsed;
  parsed.host = std::string(address.substr(0, colon));
  const absl::string_view port = address.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(port, &parsed.port) || parsed.port > 65535) {
    return invalid("the port must be a number from 0 to 65535");
  }
  unsigned char bytes[16];
  if (parsed.host == "localhost") return parsed;
  if (parsed.host.front() == '[' && parsed.host.back() == ']') {
    // Debian's libcivetweb is built without USE_IPV6.
    if (mg_check_feature(8) == 0) {
      return invalid("IPv6 is not supported (libcivetweb built without it)");
    }
    const std::string inner = parsed.host.substr(1, parsed.host.size() - 2);
    if (inet_pton(AF_INET6, inner.c_str(), bytes) == 1) return parsed;
    return invalid("not an IPv6 address between the brackets");
  }
  if (inet_pton(AF_INET, parsed.host.c_str(), bytes) == 1) return parsed;
  return invalid(
      "HOST must be an IPv4 address, a bracketed IPv6 address or localhost");
}

// One connection to 127.0.0.1:`port`, closed at once: wakes civetweb's
// accepting thread from its poll (it looks at its stop flag only every 2 s
// otherwise).
void PokeListener(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  ::close(fd);
}

// civetweb's own messages (bind errors come back through mg_start2).
int DropCivetwebLog(const mg_connection*, const char*) { return 1; }

// Writes a whole response with `status`, `content_type` and `body` (no body
// for HEAD). Returns the status, which tells civetweb it was handled.
int Respond(mg_connection* connection, int status, const char* reason,
            const char* content_type, absl::string_view body) {
  const mg_request_info* request = mg_get_request_info(connection);
  const std::string head = absl::StrCat(
      "HTTP/1.1 ", status, " ", reason, "\r\nContent-Type: ", content_type,
      "\r\nContent-Length: ", body.size(),
      "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
  mg_write(connection, head.data(), head.size());
  if (std::strcmp(request->request_method, "HEAD") != 0) {
    mg_write(connection, body.data(), body.size());
  }
  return status;
}

}  // namespace

absl::Status MetricsHttpServer::ValidateListenAddress(
    absl::string_view address) {
  return ParseHostPort(address).status();
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    MetricsHttpServerOptions options, const ServerMetrics* metrics) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(options.listen_address);
  if (!parsed.ok()) return parsed.status();
  // civetweb wants an IP literal.
  const std::string bind_host =
      parsed->host == "localhost" ? "127.0.0.1" : parsed->host;
  const std::string ports = absl::StrCat(bind_host, ":", parsed->port);
  const std::string threads = absl::StrCat(std::max(1, options.threads));
  const std::string max_request = absl::StrCat(options.max_request_bytes);
  const std::string timeout = absl::StrCat(options.request_timeout_ms);
  // No document_root: civetweb serves no files, only the handler below.
  const char* configuration[] = {"listening_ports",
                                 ports.c_str(),
                                 "num_threads",
                                 threads.c_str(),
                                 "max_request_size",
                                 max_request.c_str(),
                                 "request_timeout_ms",
                                 timeout.c_str(),
                                 "enable_keep_alive",
                                 "no",
                                 nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.log_message = DropCivetwebLog;

  // Balanced by mg_exit_library in the destructor (civetweb counts them).
  mg_init_library(0);
  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer(metrics));
  mg_init_data init;
  init.callbacks = &callbacks;
  init.user_data = server.get();
  init.configuration_options = configuration;
  char error_text[256] = {0};
  unsigned error_code = 0;
  mg_error_data error;
  error.code = &error_code;
  error.text = error_text;
  error.text_buffer_size = sizeof(error_text);
  server->context_ = mg_start2(&init, &error);
  if (server->context_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for metrics on ", options.listen_address, ": ",
        error_text[0] != 0 ? error_text : "civetweb failed"));
  }
  mg_set_request_handler(server->context_, "/",
                         &MetricsHttpServer::HandleRequest, server.get());
  mg_server_port bound[4];
  const int count = mg_get_server_ports(server->context_, 4, bound);
  if (count < 1) {
    return absl::InternalError(absl::StrCat(
        "metrics server on ", options.listen_address, ": no bound port"));
  }
  server->port_ = bound[0].port;
  server->address_ = absl::StrCat(parsed->host, ":", bound[0].port);
  return server;
}

MetricsHttpServer::~MetricsHttpServer() {
  if (context_ != nullptr) {
    // mg_stop returns once its accepting thread sees the stop flag, which
    // it checks between polls of 2 s; connections wake it sooner. A loopback
    // connection reaches the port whatever HOST it is bound to (127.0.0.1,
    // 0.0.0.0); bound elsewhere, the stop takes up to 2 s.
    absl::Notification stopped;
    std::thread stopper([this, &stopped] {
      mg_stop(context_);
      stopped.Notify();
    });
    while (!stopped.WaitForNotificationWithTimeout(absl::Milliseconds(20))) {
      PokeListener(port_);
    }
    stopper.join();
  }
  mg_exit_library();
}

int MetricsHttpServer::HandleRequest(mg_connection* connection, void* server) {
  return static_cast<const MetricsHttpServer*>(server)->Serve(connection);
}

int MetricsHttpServer::Serve(mg_connection* connection) const {
  const mg_request_info* request = mg_get_request_info(connection);
  const absl::string_view path =
      request->local_uri != nullptr ? request->local_uri : "";
  const absl::string_view method = request->request_method;
  constexpr char kText[] = "text/plain; charset=utf-8";
  if (path != "/metrics" && path != "/healthz" && path != "/readyz") {
    return Respond(connection, 404, "Not Found", kText, "not found\n");
  }
  if (method != "GET" && method != "HEAD") {
    return Respond(connection, 405, "Method Not Allowed", kText,
                   "only GET and HEAD\n");
  }
  if (path == "/healthz") return Respond(connection, 200, "OK", kText, "ok\n");
  if (path == "/readyz") {
    switch (metrics_->readiness()) {
      case Readiness::kReady:
        return Respond(connection, 200, "OK", kText, "ready\n");
      case Readiness::kStarting:
        return Respond(connection, 503, "Service Unavailable", kText,
                       "not ready: starting\n");
      case Readiness::kDraining:
        return Respond(connection, 503, "Service Unavailable", kText,
                       "not ready: draining\n");
    }
  }
  return Respond(connection, 200, "OK", "text/plain; version=0.0.4",
                 metrics_->SerializeText());
}

}  // namespace dualrpc::metrics
