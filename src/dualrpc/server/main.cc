// dualrpc-server: serves dualrpc.v1.FileService over gRPC and over the
// raw protocol (docs/PROTOCOL.md), side by side.
//
// main() owns every part and wires them: the served root, the service core,
// the executor for blocking work, the one FileServiceImpl, the registry both
// transports serve it from, and the transports. Server reflection
// (grpc.reflection.v1 and v1alpha, bidi) is ReflectionService and health
// (Check, Watch) HealthService, from that one registry on both transports
// (docs/PROTOCOL.md §10), so that every call passes its interceptor stage
// (authentication: --auth_tokens). Every flag is checked (ValidateFlags)
// before anything is opened or bound. The process log is dualrpc::log
// (--log_level). SIGHUP reloads the TLS certificate and key for new
// connections and the tokens for new calls (ReloadOnSighup), and logs it.
// SIGINT/SIGTERM begin a graceful shutdown of both at once: health flips to
// NOT_SERVING (and everything still serves for --shutdown_delay, for load
// balancers to notice), listeners close, GOAWAY goes out on raw connections,
// in-flight calls get --shutdown_grace to finish.
// --metrics_listen serves Prometheus metrics, /healthz and /readyz
// (dualrpc::metrics): its port listens before the transports', and /readyz
// flips with grpc.health.v1.

#include <fcntl.h>
#include <grpc/support/log.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/auth/auth_interceptor.h"
#include "dualrpc/auth/token_file.h"
#include "dualrpc/base/blocking_executor.h"
#include "dualrpc/base/fd_limit.h"
#include "dualrpc/base/heap.h"
#include "dualrpc/base/program_info.h"
#include "dualrpc/fileservice/file_service.h"
#include "dualrpc/fileservice/served_root.h"
#include "dualrpc/grpc/grpc_server.h"
#include "dualrpc/grpc/registry_grpc_service.h"
#include "dualrpc/inspection/health_service.h"
#include "dualrpc/inspection/reflection_service.h"
#include "dualrpc/log/access_log.h"
#include "dualrpc/log/log.h"
#include "dualrpc/metrics/metrics_http_server.h"
#include "dualrpc/metrics/metrics_interceptor.h"
#include "dualrpc/metrics/server_metrics.h"
#include "dualrpc/net/socket_ops.h"
#include "dualrpc/net/tls.h"
#include "dualrpc/raw/server/raw_server.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/server/ready_file.h"
#include "dualrpc/server/shared_port.h"
#include "dualrpc/service/file_service_impl.h"

ABSL_FLAG(std::string, root, ".",
          "Directory to serve (default: the current directory).");
ABSL_FLAG(std::string, grpc_listen, "127.0.0.1:50051",
          "HOST:PORT for the gRPC transport; port 0 picks a free port; or a "
          "unix socket, unix:///ABS/PATH or unix:REL/PATH; empty: no port of "
          "its own (served on --listen only).");
ABSL_FLAG(int32_t, grpc_max_concurrent_streams, 100,
          "gRPC transport: calls open at once per connection at most "
          "(HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); more are refused.");
ABSL_FLAG(int64_t, grpc_max_buffered_bytes, int64_t{64} << 20,
          "gRPC transport: serialized responses not yet written (held by "
          "HTTP/2 flow control for peers that do not read), in bytes, across "
          "all connections at most; a response beyond it is dropped and "
          "its call cancelled (the client sees CANCELLED).");
ABSL_FLAG(int64_t, grpc_max_memory_bytes, int64_t{1} << 30,
          "gRPC transport: memory grpc-core may account across all "
          "connections (its ResourceQuota: read buffers, call arenas); above "
          "it, it stops reading and cancels the largest calls.");
ABSL_FLAG(absl::Duration, grpc_handshake_timeout, absl::Seconds(10),
          "gRPC transport: a connection that has not sent its HTTP/2 "
          "preface (with TLS: finished its handshake) this long after "
          "accept is closed.");
ABSL_FLAG(absl::Duration, grpc_max_connection_idle, absl::Seconds(300),
          "gRPC transport: a connection with no call open for this long "
          "gets GOAWAY and is closed.");
ABSL_FLAG(absl::Duration, grpc_keepalive_time, absl::Seconds(60),
          "gRPC transport: PING a connection after this long without "
          "reading from it ...");
ABSL_FLAG(absl::Duration, grpc_keepalive_timeout, absl::Seconds(20),
          "... and close it if the PING's ACK has not come this long after.");
ABSL_FLAG(std::string, raw_listen, "127.0.0.1:50052",
          "HOST:PORT for the raw transport; port 0 picks a free port; or a "
          "unix socket, unix:///ABS/PATH or unix:REL/PATH (a stale socket "
          "file there is replaced); empty disables it.");
ABSL_FLAG(std::string, listen, "",
          "HOST:PORT serving gRPC and raw on one port (port 0 picks a free "
          "port), told apart by their first bytes or, with --tls_cert, by "
          "ALPN (h2, dualrpc/1); beside --grpc_listen and --raw_listen, "
          "which may be empty. Empty disables it.");
ABSL_FLAG(absl::Duration, listen_detect_timeout, absl::Seconds(5),
          "--listen: a connection that has not shown its protocol (with TLS: "
          "finished its handshake) this long after accept is closed.");
ABSL_FLAG(int32_t, listen_max_detecting, 1024,
          "--listen: connections whose protocol is not known yet, at most; "
          "more are closed at once.");
ABSL_FLAG(int32_t, raw_threads, 0,
          "Raw transport event-loop threads; 0 means one per core.");
ABSL_FLAG(int32_t, raw_max_connections, 10000,
          "Raw transport: open connections at most.");
ABSL_FLAG(int32_t, raw_max_calls_in_flight, 1024,
          "Raw transport: calls in flight per connection at most.");
ABSL_FLAG(absl::Duration, raw_idle_timeout, absl::Seconds(300),
          "Raw transport: close connections idle for this long.");
ABSL_FLAG(int64_t, raw_max_output_bytes, 8 * 1024 * 1024,
          "Raw transport: unsent output per connection, plus the "
          "--max_message_bytes each call in flight reserves for its "
          "response, above which the connection is not read.");
ABSL_FLAG(int64_t, raw_max_buffered_bytes, int64_t{128} * 1024 * 1024,
          "Raw transport: buffered input + unsent output of all connections "
          "together; over it no connection is read and the largest are "
          "closed (GOAWAY RESOURCE_EXHAUSTED) until it is 1/4 under.");

ABSL_FLAG(absl::Duration, raw_handshake_timeout, absl::Seconds(10),
          "Raw transport: a connection whose preface (after its TLS "
          "handshake, with --tls_cert) is not complete this long after "
          "accept is closed without a word.");
ABSL_FLAG(absl::Duration, raw_frame_timeout, absl::Seconds(10),
          "Raw transport: a frame must be complete this long, plus its "
          "payload length / --raw_min_frame_rate, after its first byte "
          "arrived; else GOAWAY RESOURCE_EXHAUSTED and close.");
ABSL_FLAG(int64_t, raw_min_frame_rate, 64 * 1024,
          "Raw transport: bytes per second a large frame is allowed at "
          "least (see --raw_frame_timeout).");
ABSL_FLAG(int32_t, raw_max_pending_connections, 1024,
          "Raw transport: connections whose preface has not arrived, at "
          "most (not counted in --raw_max_connections); one more closes "
          "the oldest.");
ABSL_FLAG(std::string, ready_file, "",
          "Once listening, write the bound addresses here as JSON, e.g. "
          "{\"grpc\": \"127.0.0.1:41234\", \"raw\": \"unix:///run/d.sock\"} "
          "(a unix listener as its unix:... address); --listen's port is "
          "\"listen\".");
ABSL_FLAG(int32_t, max_message_bytes, 4 * 1024 * 1024,
          "Largest request or response message, in bytes (gRPC's default "
          "receive limit).");
ABSL_FLAG(int32_t, default_page_size, 1000,
          "ListDirectory entries per page when page_size is 0.");
ABSL_FLAG(int32_t, max_page_size, 10000,
          "Larger ListDirectory page sizes are coerced to this.");
ABSL_FLAG(
    int64_t, listing_cache_names, 1000000,
    "Names of recently listed directories kept so that later pages need not "
    "re-read them (about 50 bytes each); 0 disables the cache.");
ABSL_FLAG(int32_t, blocking_threads, 4,
          "Threads for blocking filesystem work (ListDirectory).");
ABSL_FLAG(
    int32_t, blocking_queue, 1024,
    "Blocking calls queued beyond the busy threads before RESOURCE_EXHAUSTED.");
ABSL_FLAG(int32_t, blocking_queue_per_connection, 64,
          "Blocking calls one connection may have queued (of --blocking_queue) "
          "before its next is refused with RESOURCE_EXHAUSTED; the queue "
          "serves connections round-robin.");
ABSL_FLAG(absl::Duration, heap_release_interval, absl::Seconds(2),
          "How often to check whether freed heap should go back to the "
          "kernel (malloc_trim, when the resident set or the malloc arenas' "
          "free bytes grew by 16 MiB or more since the last release); 0 "
          "turns the check off.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "On SIGINT/SIGTERM, how long in-flight calls may take to finish.");
ABSL_FLAG(absl::Duration, shutdown_delay, absl::ZeroDuration(),
          "On SIGINT/SIGTERM, how long to go on serving while health "
          "(grpc.health.v1) answers NOT_SERVING, before the ports close and "
          "the drain (--shutdown_grace) begins: time for health-checking "
          "load balancers to stop sending (a few check intervals). A second "
          "SIGINT/SIGTERM ends it at once. 0: drain at once.");
ABSL_FLAG(std::string, auth_tokens, "",
          "Bearer tokens, one per line: TOKEN PRINCIPAL [METHOD ...] (METHOD "
          "a gRPC path or /pkg.Svc/*; none means all; # comments). Calls "
          "without a known token fail UNAUTHENTICATED, methods outside the "
          "token's list PERMISSION_DENIED. Empty: no token authentication.");
ABSL_FLAG(std::string, auth_open_methods, dualrpc::auth::kDefaultOpenMethods,
          "With --auth_tokens: comma-separated methods (paths or /pkg.Svc/*) "
          "callable without a token.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain (leaf first): serve TLS on every port "
          "(gRPC, raw, shared); needs --tls_key.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle: require client certificates that verify against it "
          "(mTLS); needs --tls_cert.");
ABSL_FLAG(std::string, tls_min_version, "1.3",
          "Lowest TLS version accepted: 1.2 or 1.3.");
ABSL_FLAG(std::string, log_level, "info",
          "Process log (stderr): lines below this level are not written: "
          "debug, info (lifecycle), warning (reload failures, refused "
          "configuration) or error (failures that stop the server).");
ABSL_FLAG(std::string, access_log, "",
          "Access log: one line per call (any transport, any status) appended "
          "to this file, or - for standard output; reopened on SIGHUP "
          "(logrotate). Empty: no access log.");
ABSL_FLAG(std::string, access_log_format, "logfmt",
          "--access_log lines: logfmt or json.");
ABSL_FLAG(int64_t, access_log_buffer_bytes, 8 * 1024 * 1024,
          "--access_log: bytes of lines queued for the writer thread at most; "
          "lines beyond are dropped and counted (never waited for).");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT (HOST an IPv4 address or localhost; port 0 picks a free "
          "port) serving HTTP: Prometheus metrics on /metrics, /healthz and "
          "/readyz (503 until every port listens and once a drain begins). "
          "The ready file's \"metrics\". Empty disables it.");

namespace dualrpc::server {
namespace {

// Blocks SIGINT, SIGTERM and SIGHUP in this thread and in every thread it
// creates later, so they are only ever taken by WaitForShutdownSignal.
sigset_t BlockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int WaitForShutdownSignal(const sigset_t& signals) {
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  return signal_number;
}

// --shutdown_delay: health already says NOT_SERVING; everything still
// serves for `delay`, so that load balancers checking health stop sending
// here before the ports close (gRPC refuses calls that arrive once its
// shutdown began, and a raw GOAWAY races the requests already on the wire).
// Returns early on a second SIGINT or SIGTERM; SIGHUP is taken and logged.
void ServeWhileNotServing(const sigset_t& signals, absl::Duration delay) {
  const absl::Time end = absl::Now() + delay;
  for (absl::Duration left = delay; left > absl::ZeroDuration();
       left = end - absl::Now()) {
    const timespec timeout = absl::ToTimespec(left);
    const int signal_number = sigtimedwait(&signals, nullptr, &timeout);
    if (signal_number == SIGINT || signal_number == SIGTERM) {
      log::Info("received %s again: draining now",
                signal_number == SIGINT ? "SIGINT" : "SIGTERM");
      return;
    }
    if (signal_number == SIGHUP) {
      log::Info("received SIGHUP while stopping: ignored");
    }
  }
}

// Authentication from --auth_tokens / --auth_open_methods, as the registry's
// interceptor; without --auth_tokens it only makes an mTLS client's
// certificate subject the principal. INVALID_ARGUMENT naming the file and
// line for a malformed token file.
absl::StatusOr<std::shared_ptr<auth::AuthInterceptor>> MakeAuth() {
  absl::StatusOr<std::vector<std::string>> open_methods =
      auth::ParseMethodPatternList(absl::GetFlag(FLAGS_auth_open_methods));
  if (!open_methods.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--auth_open_methods: ", open_methods.status().message()));
  }
  auth::AuthOptions options;
  options.tokens_file = absl::GetFlag(FLAGS_auth_tokens);
  options.open_methods = *std::move(open_methods);
  return auth::AuthInterceptor::Create(std::move(options));
}

// Re-reads --auth_tokens for the calls that start afterwards (from
// ReloadOnSighup, never from a signal handler); a bad file keeps the tokens
// in use. Logs the outcome, never a token.
absl::Status ReloadAuthTokens(auth::AuthInterceptor* auth) {
  absl::Status reloaded = auth->Reload();
  if (reloaded.ok()) {
    log::Info("reloaded %d tokens from %s",
              static_cast<int>(auth->token_count()),
              absl::GetFlag(FLAGS_auth_tokens));
  } else {
    log::Warning("token reload failed, keeping the old tokens: %s",
                 reloaded.ToString());
  }
  return reloaded;
}

// ---- Access log (--access_log*) --------------------------------------------

// The access log from --access_log*: null when off. INVALID_ARGUMENT naming
// the flag (and the path) on a bad value or a file that cannot be opened;
// main exits 2 on one, before anything listens.
absl::StatusOr<std::unique_ptr<log::AccessLog>> MakeAccessLog() {
  log::AccessLogOptions options;
  options.path = absl::GetFlag(FLAGS_access_log);
  absl::StatusOr<log::AccessLogFormat> format =
      log::ParseAccessLogFormat(absl::GetFlag(FLAGS_access_log_format));
  if (!format.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--access_log_format: ", format.status().message()));
  }
  options.format = *format;
  const int64_t buffer_bytes = absl::GetFlag(FLAGS_access_log_buffer_bytes);
  if (buffer_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--access_log_buffer_bytes must be positive, not ", buffer_bytes));
  }
  options.buffer_bytes = static_cast<std::size_t>(buffer_bytes);
  if (options.path.empty()) return nullptr;
  absl::StatusOr<std::unique_ptr<log::AccessLog>> access_log =
      log::AccessLog::Create(std::move(options));
  if (!access_log.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--access_log: ", access_log.status().message()));
  }
  return access_log;
}

// Authentication has something to decide: tokens or client certificates.
bool Authenticating() {
  return !absl::GetFlag(FLAGS_auth_tokens).empty() ||
         !absl::GetFlag(FLAGS_tls_client_ca).empty();
}

// The gRPC transport: the registry's services as grpc::Services, and the
// server that serves them (declared after them, so destroyed first).
struct GrpcTransport {
  // Read by the services' calls: destroyed after them.
  std::shared_ptr<grpc::AdoptedPeerSubjects> adopted_subjects;
  std::vector<std::unique_ptr<::grpc::Service>> services;
  std::unique_ptr<grpc::GrpcServer> server;
};

// The gRPC server's TLS from --tls_* (checked by CheckTlsFlags): nullopt
// for plaintext. The files are read, and their contents checked, by
// GrpcServer::Start.
std::optional<grpc::GrpcServerTlsOptions> GrpcTlsFromFlags() {
  grpc::GrpcServerTlsOptions tls;
  tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  tls.key_file = absl::GetFlag(FLAGS_tls_key);
  tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  if (tls.cert_file.empty()) return std::nullopt;
  if (absl::GetFlag(FLAGS_tls_min_version) == "1.3") {
    // grpc/tls_credentials.h: gRPC 1.51 has no floor to set.
    log::Warning(
        "note: the gRPC port also accepts TLS 1.2 (gRPC 1.51 cannot raise "
        "its floor); --tls_min_version applies to the raw port");
  }
  return tls;
}

// --grpc_max_*, --grpc_handshake_timeout, --grpc_keepalive_* (checked by
// CheckGrpcLimitFlags).
grpc::GrpcLimits GrpcLimitsFromFlags() {
  grpc::GrpcLimits limits;
  limits.max_concurrent_streams =
      absl::GetFlag(FLAGS_grpc_max_concurrent_streams);
  limits.max_buffered_bytes = absl::GetFlag(FLAGS_grpc_max_buffered_bytes);
  limits.max_memory_bytes = absl::GetFlag(FLAGS_grpc_max_memory_bytes);
  limits.handshake_timeout = absl::GetFlag(FLAGS_grpc_handshake_timeout);
  limits.max_connection_idle = absl::GetFlag(FLAGS_grpc_max_connection_idle);
  limits.keepalive_time = absl::GetFlag(FLAGS_grpc_keepalive_time);
  limits.keepalive_timeout = absl::GetFlag(FLAGS_grpc_keepalive_timeout);
  return limits;
}

// The registry brings health and reflection (grpc++'s own are off).
absl::StatusOr<GrpcTransport> StartGrpc(
    const std::string& listen_address, const rpc::ServiceRegistry& registry,
    const std::optional<grpc::GrpcServerTlsOptions>& tls) {
  GrpcTransport transport;
  // Subjects of mTLS clients that --listen's TLS relay hands over.
  transport.adopted_subjects = std::make_shared<grpc::AdoptedPeerSubjects>();
  absl::StatusOr<std::vector<std::unique_ptr<::grpc::Service>>> services =
      grpc::MakeGrpcServices(registry, transport.adopted_subjects.get());
  if (!services.ok()) return services.status();
  transport.services = *std::move(services);
  std::vector<::grpc::Service*> service_pointers;
  for (const auto& service : transport.services)
    service_pointers.push_back(service.get());

  grpc::GrpcServerOptions options;
  options.listen_address = listen_address;
  options.max_receive_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.max_send_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.builtin_inspection = false;
  options.tls = tls;
  options.adopted_subjects = transport.adopted_subjects;
  options.limits = GrpcLimitsFromFlags();
  absl::StatusOr<std::unique_ptr<grpc::GrpcServer>> server =
      grpc::GrpcServer::Start(options, service_pointers);
  if (!server.ok()) return server.status();
  transport.server = *std::move(server);
  return transport;
}

// ---- TLS (--tls_*) ---------------------------------------------------------

// The flag a TLS file error is about, from the words of
// TlsServerContext::Create.
const char* TlsFlagOf(const absl::Status& error) {
  const absl::string_view message = error.message();
  if (absl::StrContains(message, "private key")) return "--tls_key";
  if (absl::StrContains(message, "client CA")) return "--tls_client_ca";
  return "--tls_cert";
}

// A TLS context from the --tls_* flags offering `alpn` (the raw port:
// dualrpc/1; the shared port: h2 and dualrpc/1); null without --tls_cert.
// The flags are checked (CheckTlsFlags); every error here (a file that
// cannot be read or used) names its flag; main exits 2 on one, before
// anything listens.
absl::StatusOr<std::shared_ptr<net::TlsServerContext>> MakeTlsContext(
    std::vector<std::string> alpn) {
  net::TlsServerOptions options;
  options.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.key_file = absl::GetFlag(FLAGS_tls_key);
  options.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  options.min_version = absl::GetFlag(FLAGS_tls_min_version) == "1.2"
                            ? net::TlsVersion::kTls12
                            : net::TlsVersion::kTls13;
  if (options.cert_file.empty()) return nullptr;
  const std::pair<const char*, const std::string*> files[] = {
      {"--tls_cert", &options.cert_file},
      {"--tls_key", &options.key_file},
      {"--tls_client_ca", &options.client_ca_file}};
  for (const auto& [flag, path] : files) {
    if (path->empty()) continue;
    const int fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, ": cannot read \"", *path, "\": ", std::strerror(errno)));
    }
    ::close(fd);
  }
  options.alpn_protocols = std::move(alpn);
  absl::StatusOr<std::shared_ptr<net::TlsServerContext>> context =
      net::TlsServerContext::Create(options);
  if (!context.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        TlsFlagOf(context.status()), ": ", context.status().message()));
  }
  return context;
}

// What SIGHUP can reload; a null member is not configured. Main owns
// what they point to, for longer than the signal loop runs.
struct Reloadables {
  net::TlsServerContext* raw_tls = nullptr;
  net::TlsServerContext* shared_tls = nullptr;
  // Only when the gRPC port serves TLS.
  grpc::GrpcServer* grpc_tls = nullptr;
  // Only with --auth_tokens.
  auth::AuthInterceptor* auth = nullptr;
  // Only with --access_log (reopened; "-" has nothing to reopen).
  log::AccessLog* access_log = nullptr;
};

// SIGHUP: re-reads --tls_cert and --tls_key for new connections on every
// port (existing connections keep what they negotiated) and --auth_tokens
// for the calls that start afterwards, and reopens --access_log's file
// (logrotate). Logs what it reloads (info) and
// every failure (warning: the server keeps what it had and goes on). The
// one place SIGHUP acts; never called from a signal handler.
void ReloadOnSighup(const Reloadables& reloadables) {
  std::vector<std::string> what;
  if (reloadables.raw_tls != nullptr || reloadables.shared_tls != nullptr ||
      reloadables.grpc_tls != nullptr) {
    what.push_back(
        absl::StrCat("TLS certificate ", absl::GetFlag(FLAGS_tls_cert)));
  }
  if (reloadables.auth != nullptr) {
    what.push_back(absl::StrCat("tokens ", absl::GetFlag(FLAGS_auth_tokens)));
  }
  log::AccessLog* access_log = reloadables.access_log;
  if (access_log != nullptr && access_log->path() != "-") {
    what.push_back(absl::StrCat("access log ", access_log->path()));
  }
  if (what.empty()) {
    log::Info(
        "received SIGHUP: nothing to reload (no --tls_cert, no "
        "--auth_tokens, no --access_log file)");
    return;
  }
  log::Info("received SIGHUP: reloading %s", absl::StrJoin(what, " and "));
  if (access_log != nullptr && access_log->path() != "-") {
    if (absl::Status reopened = access_log->Reopen(); !reopened.ok()) {
      log::Warning(
          "received SIGHUP: cannot reopen the access log, keeping the old "
          "file: %s",
          reopened.ToString());
    } else {
      log::Info("reopened access log %s", access_log->path());
    }
  }
  const std::pair<net::TlsServerContext*, const char*> contexts[] = {
      {reloadables.raw_tls, "raw port"},
      {reloadables.shared_tls, "shared port"}};
  for (const auto& [context, port] : contexts) {
    if (context == nullptr) continue;
    if (absl::Status reloaded = context->Reload(); !reloaded.ok()) {
      log::Warning(
          "cannot reload TLS certificate (%s), keeping the old one: "
          "%s",
          port, reloaded.ToString());
    } else {
      log::Info("reloaded TLS certificate %s (%s)",
                absl::GetFlag(FLAGS_tls_cert), port);
    }
  }
  if (reloadables.grpc_tls != nullptr) {
    if (absl::Status reloaded = reloadables.grpc_tls->ReloadTls();
        !reloaded.ok()) {
      log::Warning(
          "cannot reload TLS certificate (gRPC port), keeping the "
          "old one: %s",
          reloaded.ToString());
    } else {
      log::Info("reloaded TLS certificate %s (grpc)",
                absl::GetFlag(FLAGS_tls_cert));
    }
  }
  if (reloadables.auth != nullptr) {
    ReloadAuthTokens(reloadables.auth).IgnoreError();
  }
}

absl::StatusOr<std::unique_ptr<raw::RawServer>> StartRaw(
    const std::string& listen_address, const rpc::ServiceRegistry& registry,
    std::shared_ptr<net::TlsServerContext> tls) {
  raw::RawServer::Options options;
  options.tls = std::move(tls);
  options.listen_address = listen_address;
  if (absl::GetFlag(FLAGS_raw_threads) > 0) {
    options.event_loop_threads = absl::GetFlag(FLAGS_raw_threads);
  }
  options.max_connections = absl::GetFlag(FLAGS_raw_max_connections);
  options.max_calls_in_flight = absl::GetFlag(FLAGS_raw_max_calls_in_flight);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.idle_timeout = absl::GetFlag(FLAGS_raw_idle_timeout);
  options.output_high_water_bytes =
      static_cast<std::size_t>(absl::GetFlag(FLAGS_raw_max_output_bytes));
  options.max_buffered_bytes = absl::GetFlag(FLAGS_raw_max_buffered_bytes);

  options.handshake_timeout = absl::GetFlag(FLAGS_raw_handshake_timeout);
  options.frame_timeout = absl::GetFlag(FLAGS_raw_frame_timeout);
  options.min_frame_rate_bytes_per_second =
      absl::GetFlag(FLAGS_raw_min_frame_rate);
  options.max_pending_connections =
      absl::GetFlag(FLAGS_raw_max_pending_connections);
  return raw::RawServer::Start(options, &registry);
}

// --listen: the shared port, handing what it recognises to `raw` and
// `grpc` (which must outlive it). With --tls_cert the port is TLS and
// routes by ALPN.
absl::StatusOr<std::unique_ptr<SharedPort>> StartSharedPort(
    const std::string& listen_address,
    std::shared_ptr<net::TlsServerContext> tls, raw::RawServer* raw,
    grpc::GrpcServer* grpc) {
  SharedPort::Options options;
  options.listen_address = listen_address;
  options.detect_timeout = absl::GetFlag(FLAGS_listen_detect_timeout);
  options.max_detecting = absl::GetFlag(FLAGS_listen_max_detecting);
  options.tls = std::move(tls);
  SharedPort::Handlers handlers;
  // A refusal (the server is draining) has closed what it was given.
  handlers.raw = [raw](std::unique_ptr<net::ByteStream> stream,
                       const net::SocketAddress& peer) {
    raw->Adopt(std::move(stream), peer).IgnoreError();
  };
  handlers.grpc = [grpc](base::ScopedFd socket, std::string subject) {
    grpc->AdoptConnection(std::move(socket), std::move(subject)).IgnoreError();
  };
  return SharedPort::Start(std::move(options), std::move(handlers));
}

// ---- Metrics (--metrics_listen) --------------------------------------------

// The metrics port, started before any transport listens so that /readyz
// answers "not ready: starting" until the ready file is written. Null with
// an empty --metrics_listen.
absl::StatusOr<std::unique_ptr<metrics::MetricsHttpServer>> StartMetricsHttp(
    const metrics::ServerMetrics* server_metrics) {
  const std::string listen = absl::GetFlag(FLAGS_metrics_listen);
  if (listen.empty()) return nullptr;
  metrics::MetricsHttpServerOptions options;
  options.listen_address = listen;
  return metrics::MetricsHttpServer::Start(std::move(options), server_metrics);
}

// The scrape-time hooks: the executor's figures and each transport's
// connection figures ("raw", "grpc", "listen" for the shared port). All
// passed must outlive the scrapes (main stops the metrics port before any of
// them is destroyed); null ones are not running.
void AddMetricsHooks(metrics::ServerMetrics* server_metrics,
                     const base::BlockingExecutor* executor,
                     const raw::RawServer* raw, const grpc::GrpcServer* grpc,
                     const SharedPort* shared_port) {
  server_metrics->SetExecutor([executor] {
    const base::BlockingExecutor::Stats stats = executor->GetStats();
    metrics::ExecutorFigures figures;
    figures.queued_tasks = stats.queued;
    figures.busy_threads = stats.busy_threads;
    figures.rejected_total = stats.rejected_total;
    figures.rejected_per_connection_total = stats.rejected_per_key_total;
    return figures;
  });
  if (raw != nullptr) {
    server_metrics->AddTransport("raw", [raw] { return raw->GetStats(); });
  }
  if (grpc != nullptr) {
    server_metrics->AddTransport("grpc", [grpc] { return grpc->GetStats(); });
  }
  if (shared_port != nullptr) {
    server_metrics->AddTransport(
        "listen", [shared_port] { return shared_port->GetStats(); });
  }
}

// Why `transport`'s server did not start, alike for every port: "grpc:
// cannot listen: bind 127.0.0.1:50051: Address already in use".
void LogStartFailure(absl::string_view transport, const absl::Status& error) {
  log::Error("%s: %s%s", transport,
             absl::IsUnavailable(error) ? "cannot listen: " : "",
             error.message());
}

// gRPC core's own log lines (gpr_log: a failed bind's details, a TLS
// handshake's errors), in the process log's format and levels, under
// --log_level. gRPC writes only what GRPC_VERBOSITY lets through (default:
// errors).
void LogGrpcLine(gpr_log_func_args* args) {
  const log::Level level =
      args->severity == GPR_LOG_SEVERITY_ERROR  ? log::Level::kError
      : args->severity == GPR_LOG_SEVERITY_INFO ? log::Level::kInfo
                                                : log::Level::kDebug;
  if (!log::Enabled(level)) return;
  log::Write(level, absl::StrCat("grpc: ", args->message, " (", args->file, ":",
                                 args->line, ")"));
}

// ---- flag validation -------------------------------------------------------

// INVALID_ARGUMENT "--name ..." unless `value` is at least `minimum`.
absl::Status CheckAtLeast(absl::string_view flag, int64_t value,
                          int64_t minimum) {
  if (value >= minimum) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "--%s must be %s, not %d", flag,
      minimum == 0 ? "0 or more" : absl::StrCat("at least ", minimum), value));
}

// INVALID_ARGUMENT "--name ..." unless `value` is longer than zero.
absl::Status CheckPositive(absl::string_view flag, absl::Duration value) {
  if (value > absl::ZeroDuration()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, " must be longer than 0, not ", absl::FormatDuration(value)));
}

// For durations where 0 means something (off, at once).
absl::Status CheckNotNegative(absl::string_view flag, absl::Duration value) {
  if (value >= absl::ZeroDuration()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, " must be 0 or longer, not ", absl::FormatDuration(value)));
}

// INVALID_ARGUMENT "--name ..." unless `address` is empty (no port) or an
// address the servers can bind: the parsing net::Listen and gRPC's port
// share (HOST:PORT, [V6]:PORT, unix:PATH), and a HOST that resolves.
absl::Status CheckListenAddress(absl::string_view flag,
                                const std::string& address) {
  if (address.empty()) return absl::OkStatus();
  absl::StatusOr<std::vector<net::SocketAddress>> resolved =
      net::Resolve(address);
  if (resolved.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, ": ", resolved.status().message()));
}

// --tls_*: the version, and the files that need each other.
absl::Status CheckTlsFlags() {
  const std::string min_version = absl::GetFlag(FLAGS_tls_min_version);
  if (min_version != "1.2" && min_version != "1.3") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls_min_version must be 1.2 or 1.3, not \"", min_version, "\""));
  }
  const bool cert = !absl::GetFlag(FLAGS_tls_cert).empty();
  if (!cert && !absl::GetFlag(FLAGS_tls_key).empty()) {
    return absl::InvalidArgumentError("--tls_key needs --tls_cert");
  }
  if (!cert && !absl::GetFlag(FLAGS_tls_client_ca).empty()) {
    return absl::InvalidArgumentError("--tls_client_ca needs --tls_cert");
  }
  if (cert && absl::GetFlag(FLAGS_tls_key).empty()) {
    return absl::InvalidArgumentError("--tls_cert needs --tls_key");
  }
  return absl::OkStatus();
}

// The gRPC port's limits (GrpcLimitsFromFlags): counts at least 1,
// durations positive and within what grpc-core takes (an int of
// milliseconds).
absl::Status CheckGrpcLimitFlags() {
  if (absl::Status checked =
          CheckAtLeast("grpc_max_concurrent_streams",
                       absl::GetFlag(FLAGS_grpc_max_concurrent_streams), 1);
      !checked.ok()) {
    return checked;
  }
  if (absl::Status checked =
          CheckAtLeast("grpc_max_buffered_bytes",
                       absl::GetFlag(FLAGS_grpc_max_buffered_bytes), 1);
      !checked.ok()) {
    return checked;
  }
  // Below a megabyte grpc-core cannot hold one connection's read buffers.
  if (absl::Status checked =
          CheckAtLeast("grpc_max_memory_bytes",
                       absl::GetFlag(FLAGS_grpc_max_memory_bytes), 1 << 20);
      !checked.ok()) {
    return checked;
  }
  const std::pair<const char*, absl::Duration> durations[] = {
      {"grpc_handshake_timeout", absl::GetFlag(FLAGS_grpc_handshake_timeout)},
      {"grpc_max_connection_idle",
       absl::GetFlag(FLAGS_grpc_max_connection_idle)},
      {"grpc_keepalive_time", absl::GetFlag(FLAGS_grpc_keepalive_time)},
      {"grpc_keepalive_timeout", absl::GetFlag(FLAGS_grpc_keepalive_timeout)}};
  for (const auto& [flag, value] : durations) {
    if (absl::Status checked = CheckPositive(flag, value); !checked.ok()) {
      return checked;
    }
    if (value > absl::Milliseconds(std::numeric_limits<int>::max())) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, " must be at most 596h (grpc's limit), not ",
                       absl::FormatDuration(value)));
    }
  }
  return absl::OkStatus();
}

// Every flag's value and combination, before anything is opened or bound:
// INVALID_ARGUMENT naming the first flag that is wrong (main exits 2).
// `positional`: the arguments that are not flags, of which there must be
// none. A new flag adds its check here.
absl::Status ValidateFlags(const std::vector<std::string>& positional) {
  if (!positional.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unexpected argument \"", positional.front(),
        "\": dualrpc-server takes flags only (--help lists them)"));
  }
  if (absl::Status level =
          log::ParseLevel(absl::GetFlag(FLAGS_log_level)).status();
      !level.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_level: ", level.message()));
  }
  const std::pair<const char*, int64_t> at_least_one[] = {
      {"max_message_bytes", absl::GetFlag(FLAGS_max_message_bytes)},
      {"raw_max_connections", absl::GetFlag(FLAGS_raw_max_connections)},
      {"raw_max_calls_in_flight", absl::GetFlag(FLAGS_raw_max_calls_in_flight)},
      {"raw_max_output_bytes", absl::GetFlag(FLAGS_raw_max_output_bytes)},
      {"raw_max_buffered_bytes", absl::GetFlag(FLAGS_raw_max_buffered_bytes)},

      {"raw_min_frame_rate", absl::GetFlag(FLAGS_raw_min_frame_rate)},
      {"raw_max_pending_connections",
       absl::GetFlag(FLAGS_raw_max_pending_connections)},
      {"blocking_threads", absl::GetFlag(FLAGS_blocking_threads)},
      {"blocking_queue", absl::GetFlag(FLAGS_blocking_queue)},
      {"blocking_queue_per_connection",
       absl::GetFlag(FLAGS_blocking_queue_per_connection)},
      {"listen_max_detecting", absl::GetFlag(FLAGS_listen_max_detecting)},
      {"default_page_size", absl::GetFlag(FLAGS_default_page_size)},
      {"max_page_size", absl::GetFlag(FLAGS_max_page_size)}};
  for (const auto& [flag, value] : at_least_one) {
    if (absl::Status checked = CheckAtLeast(flag, value, 1); !checked.ok()) {
      return checked;
    }
  }
  const std::pair<const char*, int64_t> at_least_zero[] = {
      {"raw_threads", absl::GetFlag(FLAGS_raw_threads)},
      {"listing_cache_names", absl::GetFlag(FLAGS_listing_cache_names)}};
  for (const auto& [flag, value] : at_least_zero) {
    if (absl::Status checked = CheckAtLeast(flag, value, 0); !checked.ok()) {
      return checked;
    }
  }
  if (absl::GetFlag(FLAGS_max_page_size) <
      absl::GetFlag(FLAGS_default_page_size)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_page_size (", absl::GetFlag(FLAGS_max_page_size),
                     ") must be at least --default_page_size (",
                     absl::GetFlag(FLAGS_default_page_size), ")"));
  }
  const std::pair<const char*, absl::Duration> durations[] = {
      {"listen_detect_timeout", absl::GetFlag(FLAGS_listen_detect_timeout)},
      {"raw_idle_timeout", absl::GetFlag(FLAGS_raw_idle_timeout)},
      {"raw_handshake_timeout", absl::GetFlag(FLAGS_raw_handshake_timeout)},
      {"raw_frame_timeout", absl::GetFlag(FLAGS_raw_frame_timeout)}};
  for (const auto& [flag, value] : durations) {
    if (absl::Status checked = CheckPositive(flag, value); !checked.ok()) {
      return checked;
    }
  }
  // Zero is meaningful: no heap release thread; no delay; in-flight calls
  // cancelled at once.
  const std::pair<absl::string_view, absl::Duration> may_be_zero[] = {
      {"heap_release_interval", absl::GetFlag(FLAGS_heap_release_interval)},
      {"shutdown_delay", absl::GetFlag(FLAGS_shutdown_delay)},
      {"shutdown_grace", absl::GetFlag(FLAGS_shutdown_grace)}};
  for (const auto& [flag, value] : may_be_zero) {
    if (absl::Status checked = CheckNotNegative(flag, value); !checked.ok()) {
      return checked;
    }
  }
  if (absl::Status checked = CheckGrpcLimitFlags(); !checked.ok()) {
    return checked;
  }
  const std::string listen = absl::GetFlag(FLAGS_listen);
  const std::string grpc_listen = absl::GetFlag(FLAGS_grpc_listen);
  const std::string raw_listen = absl::GetFlag(FLAGS_raw_listen);
  if (listen.empty() && grpc_listen.empty() && raw_listen.empty()) {
    return absl::InvalidArgumentError(
        "nothing to serve: --listen, --grpc_listen and --raw_listen are all "
        "empty");
  }
  const std::pair<const char*, const std::string*> addresses[] = {
      {"grpc_listen", &grpc_listen},
      {"raw_listen", &raw_listen},
      {"listen", &listen}};
  for (const auto& [flag, address] : addresses) {
    if (absl::Status checked = CheckListenAddress(flag, *address);
        !checked.ok()) {
      return checked;
    }
  }
  if (absl::Status tls = CheckTlsFlags(); !tls.ok()) return tls;
  if (const std::string metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
      !metrics_listen.empty()) {
    if (absl::Status valid =
            metrics::MetricsHttpServer::ValidateListenAddress(metrics_listen);
        !valid.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--metrics_listen: ", valid.message()));
    }
  }
  return absl::OkStatus();
}

// Descriptors the server needs beside one per raw connection: listeners,
// gRPC's connections and its own, open listings, logs, certificates.
constexpr std::int64_t kFdsBesideRawConnections = 256;

// The soft open-file limit up to the hard one (base/fd_limit.h), with a
// warning when even that cannot hold --raw_max_connections.
void RaiseOpenFileLimit() {
  absl::StatusOr<base::OpenFileLimit> files = base::RaiseOpenFileLimit();
  if (!files.ok()) {
    log::Warning("open-file limit left as it was: %s",
                 files.status().message());
    return;
  }
  if (files->now != files->before) {
    log::Info("open-file limit raised from %d to %d (the hard limit)",
              files->before, files->now);
  }
  const std::int64_t wanted =
      absl::GetFlag(FLAGS_raw_max_connections) + kFdsBesideRawConnections;
  if (files->now < wanted) {
    log::Warning(
        "open-file limit %d is below --raw_max_connections (%d) + %d: past "
        "it, accepts and listings fail with EMFILE for every client; raise "
        "the hard limit (ulimit -Hn, systemd LimitNOFILE=) or lower "
        "--raw_max_connections",
        files->now, absl::GetFlag(FLAGS_raw_max_connections),
        kFdsBesideRawConnections);
  }
}

int Run(const std::vector<std::string>& positional,
        const sigset_t& shutdown_signals) {
  if (absl::Status valid = ValidateFlags(positional); !valid.ok()) {
    log::Error("%s", valid.message());
    return base::kExitUsage;
  }
  log::Init(
      {"dualrpc-server", *log::ParseLevel(absl::GetFlag(FLAGS_log_level))});
  RaiseOpenFileLimit();
  // Freed heap back to the kernel after bursts, whichever thread freed it.
  std::optional<base::HeapReleaser> heap_releaser;
  if (const absl::Duration interval =
          absl::GetFlag(FLAGS_heap_release_interval);
      interval > absl::ZeroDuration()) {
    heap_releaser.emplace(base::HeapReleaser::Options{interval, 16 << 20});
  }

  absl::StatusOr<std::shared_ptr<net::TlsServerContext>> raw_tls =
      MakeTlsContext({"dualrpc/1"});
  if (!raw_tls.ok()) {
    log::Error("%s", raw_tls.status().message());
    return base::kExitUsage;
  }
  // The shared port's own context: it offers h2 as well, and is reloaded
  // with the others.
  absl::StatusOr<std::shared_ptr<net::TlsServerContext>> shared_tls =
      absl::GetFlag(FLAGS_listen).empty()
          ? absl::StatusOr<std::shared_ptr<net::TlsServerContext>>(nullptr)
          : MakeTlsContext({"h2", "dualrpc/1"});
  if (!shared_tls.ok()) {
    log::Error("%s", shared_tls.status().message());
    return base::kExitUsage;
  }
  // Outlives the servers (declared before them): the lines of calls that
  // end during the drain are written before exit.
  absl::StatusOr<std::unique_ptr<log::AccessLog>> access_log = MakeAccessLog();
  if (!access_log.ok()) {
    log::Error("%s", access_log.status().message());
    return base::kExitUsage;
  }

  absl::StatusOr<fileservice::ServedRoot> root =
      fileservice::ServedRoot::Open(absl::GetFlag(FLAGS_root));
  if (!root.ok()) {
    log::Error("cannot open root %s: %s", absl::GetFlag(FLAGS_root),
               root.status().ToString());
    return 1;
  }
  fileservice::FileServiceOptions service_options;
  service_options.default_page_size = absl::GetFlag(FLAGS_default_page_size);
  service_options.max_page_size = absl::GetFlag(FLAGS_max_page_size);
  // Pages fit the message limit both transports enforce on responses.
  service_options.max_response_bytes =
      static_cast<std::size_t>(absl::GetFlag(FLAGS_max_message_bytes));
  service_options.listing_cache_names =
      static_cast<std::size_t>(absl::GetFlag(FLAGS_listing_cache_names));
  const std::optional<grpc::GrpcServerTlsOptions> grpc_tls = GrpcTlsFromFlags();
  // Outlives the registry (its interceptor fills these metrics) and the
  // metrics port (which reads them).
  std::unique_ptr<metrics::ServerMetrics> server_metrics;
  std::unique_ptr<metrics::MetricsHttpServer> metrics_http;
  if (!absl::GetFlag(FLAGS_metrics_listen).empty()) {
    server_metrics = std::make_unique<metrics::ServerMetrics>();
    absl::StatusOr<std::unique_ptr<metrics::MetricsHttpServer>> started =
        StartMetricsHttp(server_metrics.get());
    if (!started.ok()) {
      log::Error("metrics: cannot listen: %s", started.status().message());
      return 1;
    }
    metrics_http = *std::move(started);
    log::Info("metrics listening on %s", metrics_http->address());
  }
  fileservice::FileServiceCore core(*std::move(root), service_options);
  base::BlockingExecutor executor(
      {absl::GetFlag(FLAGS_blocking_threads),
       static_cast<std::size_t>(absl::GetFlag(FLAGS_blocking_queue)),
       static_cast<std::size_t>(
           absl::GetFlag(FLAGS_blocking_queue_per_connection))});

  service::FileServiceImpl service(&core, &executor);
  rpc::ServiceRegistry registry;
  if (absl::Status registered = v1::RegisterFileService(&service, &registry);
      !registered.ok()) {
    log::Error("%s", registered.ToString());
    return 1;
  }
  // The application's services: what health reports on either port.
  const std::vector<std::string> application_services = registry.ServiceNames();

  // One registry for both ports: the application, HealthService and both
  // reflection versions (grpc++'s own health service and v1alpha plugin are
  // off, GrpcServerOptions::builtin_inspection), behind the interceptor
  // stage. Complete before either server starts.
  inspection::HealthService health(application_services);
  inspection::ReflectionService reflection(&registry);
  for (absl::Status registered :
       {reflection.Register(&registry), health.Register(&registry)}) {
    if (!registered.ok()) {
      log::Error("%s", registered.ToString());
      return 1;
    }
  }
  absl::StatusOr<std::shared_ptr<auth::AuthInterceptor>> auth = MakeAuth();
  if (!auth.ok()) {
    log::Error("%s", auth.status().ToString());
    return base::kExitUsage;
  }
  // The registry's interceptor stage, only with interceptors that have
  // work: without any, calls do not pay for it. Metrics and the access log
  // come before authentication: the stage ends a call only for the
  // interceptors that saw its start, so the calls authentication refuses are
  // counted and logged too; the principal is read at the call's end, once
  // authentication set it.
  std::vector<std::shared_ptr<rpc::ServerInterceptor>> interceptors;
  if (server_metrics != nullptr) {
    interceptors.push_back(
        std::make_shared<metrics::MetricsInterceptor>(server_metrics.get()));
  }
  if (*access_log != nullptr) {
    interceptors.push_back(
        std::make_shared<log::AccessLogInterceptor>(access_log->get()));
  }
  if (Authenticating()) interceptors.push_back(*auth);
  for (const auto& interceptor : interceptors) {
    if (absl::Status added = registry.AddInterceptor(interceptor);
        !added.ok()) {
      log::Error("%s", added.ToString());
      return 1;
    }
  }
  if (!absl::GetFlag(FLAGS_auth_tokens).empty()) {
    log::Info("%d bearer tokens from %s",
              static_cast<int>((*auth)->token_count()),
              absl::GetFlag(FLAGS_auth_tokens));
  }

  // Each transport is served on its own port, on the shared one, or both;
  // an empty address means no port of its own.
  const std::string listen = absl::GetFlag(FLAGS_listen);
  const std::string grpc_listen = absl::GetFlag(FLAGS_grpc_listen);
  const std::string raw_listen = absl::GetFlag(FLAGS_raw_listen);
  log::Info("dualrpc-server %s (%s build) serving %s", base::ProjectVersion(),
            base::BuildType(), absl::GetFlag(FLAGS_root));
  std::vector<std::pair<std::string, std::string>> addresses;

  std::optional<GrpcTransport> grpc;
  if (!grpc_listen.empty() || !listen.empty()) {
    absl::StatusOr<GrpcTransport> started =
        StartGrpc(grpc_listen, registry, grpc_tls);
    if (!started.ok()) {
      LogStartFailure("grpc", started.status());
      // A TLS file that cannot be used (GrpcServer::Start reads them before
      // it listens) is a usage error, like a bad flag.
      return grpc_tls.has_value() && absl::IsInvalidArgument(started.status())
                 ? base::kExitUsage
                 : 1;
    }
    grpc = *std::move(started);
    if (!grpc_listen.empty()) {
      log::Info("grpc listening on %s%s", grpc->server->address(),
                grpc_tls.has_value() ? " (TLS)" : "");
      addresses.emplace_back("grpc", grpc->server->address());
    }
  }

  std::unique_ptr<raw::RawServer> raw_server;
  if (!raw_listen.empty() || !listen.empty()) {
    absl::StatusOr<std::unique_ptr<raw::RawServer>> started =
        StartRaw(raw_listen, registry, *raw_tls);
    if (!started.ok()) {
      LogStartFailure("raw", started.status());
      return 1;
    }
    raw_server = *std::move(started);
    if (!raw_listen.empty()) {
      log::Info("raw listening on %s%s", raw_server->address(),
                *raw_tls != nullptr ? " (TLS)" : "");
      addresses.emplace_back("raw", raw_server->address());
    }
  }

  std::unique_ptr<SharedPort> shared_port;
  if (!listen.empty()) {
    absl::StatusOr<std::unique_ptr<SharedPort>> started = StartSharedPort(
        listen, *shared_tls, raw_server.get(), grpc->server.get());
    if (!started.ok()) {
      LogStartFailure("--listen", started.status());
      return 1;
    }
    shared_port = *std::move(started);
    log::Info("grpc and raw listening on %s%s", shared_port->address(),
              *shared_tls != nullptr ? " (TLS)" : "");
    addresses.emplace_back("listen", shared_port->address());
  }

  // The metrics port stops before anything its hooks read is destroyed.
  absl::Cleanup stop_metrics_first = [&metrics_http] { metrics_http.reset(); };
  if (server_metrics != nullptr) {
    AddMetricsHooks(server_metrics.get(), &executor, raw_server.get(),
                    grpc.has_value() ? grpc->server.get() : nullptr,
                    shared_port.get());
    addresses.emplace_back("metrics", metrics_http->address());
  }

  const std::string ready_file = absl::GetFlag(FLAGS_ready_file);
  if (!ready_file.empty()) {
    absl::Status written = WriteReadyFile(ready_file, addresses);
    if (!written.ok()) {
      log::Error("%s", written.ToString());
      return 1;
    }
  }
  if (server_metrics != nullptr) server_metrics->SetReady(true);

  int signal_number = WaitForShutdownSignal(shutdown_signals);
  Reloadables reloadables;
  reloadables.raw_tls = raw_tls->get();
  reloadables.shared_tls = shared_tls->get();
  if (grpc.has_value() && grpc_tls.has_value()) {
    reloadables.grpc_tls = grpc->server.get();
  }
  if (!absl::GetFlag(FLAGS_auth_tokens).empty()) reloadables.auth = auth->get();
  reloadables.access_log = access_log->get();
  while (signal_number == SIGHUP) {
    ReloadOnSighup(reloadables);
    signal_number = WaitForShutdownSignal(shutdown_signals);
  }
  const absl::Duration grace = absl::GetFlag(FLAGS_shutdown_grace);
  const absl::Time drain_start = absl::Now();
  log::Info("received %s, draining for up to %s",
            signal_number == SIGINT ? "SIGINT" : "SIGTERM",
            absl::FormatDuration(grace));
  // Health first, so that checks racing the drain already see NOT_SERVING,
  // on both ports (one HealthService serves both). Both
  // transports drain at once; the gRPC shutdown blocks until its calls are
  // done, so the raw drain is started first.
  health.SetNotServing();
  if (server_metrics != nullptr) server_metrics->SetReady(false);
  if (const absl::Duration delay = absl::GetFlag(FLAGS_shutdown_delay);
      delay > absl::ZeroDuration()) {
    log::Info("not serving for %s before the drain (--shutdown_delay)",
              absl::FormatDuration(delay));
    ServeWhileNotServing(shutdown_signals, delay);
  }
  // The shared port hands nothing over once this returns; its TLS relays
  // end as gRPC closes its side of them.
  if (shared_port != nullptr) shared_port->StopAccepting();
  if (raw_server != nullptr) raw_server->Drain(grace);
  if (grpc.has_value()) {
    grpc->server->Shutdown(grace);
    grpc->server->Wait();
  }
  if (raw_server != nullptr) raw_server->Wait();
  // Metrics stay up through the drain, and stop before what they read.
  metrics_http.reset();
  shared_port.reset();
  if (*access_log != nullptr) (*access_log)->Flush();
  log::Info("drained in %.3fs",
            absl::ToDoubleSeconds(absl::Now() - drain_start));
  log::Info("stopped");
  return 0;
}

}  // namespace
}  // namespace dualrpc::server

int main(int argc, char** argv) {
  // Debian's Abseil is built without NDEBUG, so every absl::Mutex operation
  // would maintain a deadlock graph (~330 instructions per per-call mutex
  // destroyed, measured with callgrind; docs/BENCHMARKS.md). Tests keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Before any thread exists, so that every thread inherits the mask: a
  // SIGHUP or SIGTERM during start-up waits for sigwait instead of killing.
  const sigset_t shutdown_signals = dualrpc::server::BlockShutdownSignals();
  dualrpc::base::KeepFreedHeap();
  dualrpc::log::Init({"dualrpc-server", dualrpc::log::Level::kInfo});
  gpr_set_log_function(dualrpc::server::LogGrpcLine);
  dualrpc::base::ConfigureFlagsUsage(
      "dualrpc-server",
      "Serves dualrpc.v1.FileService over gRPC and the raw protocol.\n"
      "Usage: dualrpc-server [flags]\n"
      "Exit status: 0 after a clean drain (and for --help, --version), 1 on a "
      "runtime failure (a port in use, a root that cannot be opened), 2 on a "
      "usage error (a bad flag value or combination, a stray argument).");
  const std::vector<std::string> positional =
      dualrpc::base::ParseCommandLineOrExit(argc, argv);
  return dualrpc::server::Run(positional, shutdown_signals);
}
