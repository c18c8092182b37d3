#include "dualrpc/grpc/grpc_server.h"

#include <fcntl.h>
#include <malloc.h>
#include <grpc/grpc.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_posix.h>
#include <grpcpp/support/server_interceptor.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "dualrpc/base/posix_error.h"
#include "dualrpc/base/scoped_fd.h"

#include "dualrpc/grpc/grpc_server_stats.h"
#include "grpc/health/v1/health.pb.h"

namespace dualrpc::grpc {
namespace {

// "HOST:PORT" with PORT replaced by `port` (IPv6 hosts keep their brackets).
// A unix address ("unix:...") has no port and is returned as it is.
std::string WithPort(const std::string& listen_address, int port) {
  if (absl::StartsWith(listen_address, "unix:")) return listen_address;
  std::string::size_type colon = listen_address.rfind(':');
  std::string host = colon == std::string::npos
                         ? listen_address
                         : listen_address.substr(0, colon);
  return absl::StrCat(host, ":", port);
}

// Why `listen_address` (HOST:PORT or [V6]:PORT) cannot be bound, found by
// binding it as gRPC does (SO_REUSEADDR, no SO_REUSEPORT) once gRPC has
// failed: grpc++ 1.51 reports a failed bind only as a null server or a
// selected port of 0, and the errno only in its own log. "bind ADDR:
// Address already in use", as net::Listen words it for the raw port; a
// generic text when the probe binds (the address freed since, or another
// cause).
std::string BindFailureReason(const std::string& listen_address) {
  const std::string generic =
      absl::StrCat("gRPC could not listen on ", listen_address);
  if (absl::StartsWith(listen_address, "unix:")) return generic;
  std::string host;
  std::string port;
  const std::string::size_type colon = listen_address.rfind(':');
  if (colon == std::string::npos) return generic;
  host = listen_address.substr(0, colon);
  port = listen_address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* results = nullptr;
  if (::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints,
                    &results) != 0) {
    return generic;
  }
  std::string reason = generic;
  for (const addrinfo* ai = results; ai != nullptr; ai = ai->ai_next) {
    base::ScopedFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                               ai->ai_protocol));
    if (!fd.valid()) continue;
    const int on = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      reason = std::string(
          base::PosixError(absl::StrCat("bind ", listen_address), errno)
              .message());
      break;
    }
  }
  ::freeaddrinfo(results);
  return reason;
}

// Removes grpc++'s reflection plugin from one ServerBuilder. Loading
// libgrpc++_reflection registers that plugin with every builder at static
// initialization; a ServerBuilderOption's UpdatePlugins (public API) is the
// one place a builder's plugins can be changed.
class WithoutReflectionPlugin final : public ::grpc::ServerBuilderOption {
 public:
  void UpdateArguments(::grpc::ChannelArguments*) override {}
  void UpdatePlugins(
      std::vector<std::unique_ptr<::grpc::ServerBuilderPlugin>>* plugins)
      override {
    plugins->erase(
        std::remove_if(plugins->begin(), plugins->end(),
                       [](const std::unique_ptr<::grpc::ServerBuilderPlugin>&
                              plugin) {
                         return plugin->name() == "proto_server_reflection";
                       }),
        plugins->end());
  }
};

// builder.BuildAndStart(), and the new server's channelz id in
// `channelz_id`: the one server that channelz lists after the build and not
// before; 0 if there is not exactly one (another grpc server of the process
// started at the same moment, not through here). Calls are serialized, so
// GrpcServer::Starts on several threads never confuse each other.
std::unique_ptr<::grpc::Server> BuildAndStartWithChannelzId(
    ::grpc::ServerBuilder& builder, std::int64_t* channelz_id) {
  ABSL_CONST_INIT static absl::Mutex build_mu(absl::kConstInit);
  // On by default in grpc 1.51; GetStats relies on it.
  builder.AddChannelArgument(GRPC_ARG_ENABLE_CHANNELZ, 1);
  absl::MutexLock lock(&build_mu);
  const absl::flat_hash_set<std::int64_t> before = ChannelzServerIds();
  std::unique_ptr<::grpc::Server> server = builder.BuildAndStart();
  *channelz_id = 0;
  if (server == nullptr) return server;
  int added = 0;
  for (std::int64_t id : ChannelzServerIds()) {
    if (before.contains(id)) continue;
    *channelz_id = id;
    ++added;
  }
  if (added != 1) *channelz_id = 0;
  return server;
}

// GrpcLimits::max_buffered_bytes: the serialized responses held by calls
// of one server, and the calls alive. Thread-safe; shared by the factory
// (which the grpc::Server owns) and the interceptors of calls still alive;
// destroyed by whichever lets go last (any thread but its own trimmer).
class ResponseBudget {
 public:
  explicit ResponseBudget(int64_t limit)
      : limit_(limit), trimmer_([this] { TrimLoop(); }) {}

  ~ResponseBudget() {
    {
      absl::MutexLock lock(&trim_mu_);
      stopping_ = true;
    }
    trimmer_.join();
  }

  void CallStarted() {
    if (calls_.fetch_add(1, std::memory_order_relaxed) + 1 >= kManyCalls) {
      high_.store(true, std::memory_order_relaxed);
    }
  }

  // Takes `bytes` for a call's response unless that would exceed the limit
  // with something already held.
  bool TryTake(int64_t bytes) {
    int64_t held = held_.load(std::memory_order_relaxed);
    do {
      if (held > 0 && held + bytes > limit_) return false;
    } while (!held_.compare_exchange_weak(held, held + bytes,
                                          std::memory_order_relaxed));
    if (held + bytes >= limit_ / 2) high_.store(true, std::memory_order_relaxed);
    return true;
  }

  // A call has ended; `taken` is what TryTake took for it. Once no call is
  // left after a burst (kManyCalls calls alive at once, or half the limit
  // held), the trimmer gives the heap back (TrimLoop).
  void CallEnded(int64_t taken) {
    held_.fetch_sub(taken, std::memory_order_relaxed);
    if (calls_.fetch_sub(1, std::memory_order_relaxed) != 1) return;
    if (!high_.exchange(false, std::memory_order_relaxed)) return;
    absl::MutexLock lock(&trim_mu_);
    trim_requested_ = true;
  }

  int64_t limit() const { return limit_; }

 private:
  static constexpr int64_t kManyCalls = 100;
  static constexpr absl::Duration kTrimDelay = absl::Milliseconds(400);
  static constexpr int kTrims = 4;

  // On each request, malloc_trim kTrims times, kTrimDelay apart. The server
  // keeps freed memory for reuse (base::KeepFreedHeap: up to 64 MiB per
  // malloc arena), and what a peer that stopped reading, or a flood of
  // calls, made it hold is not worth keeping. Several times, because
  // grpc-core frees a call's messages after its interceptors are gone, over
  // a few hundred milliseconds when a peer leaves and all its calls end.
  void TrimLoop() {
    absl::MutexLock lock(&trim_mu_);
    while (true) {
      trim_mu_.Await(absl::Condition(
          +[](ResponseBudget* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
               self->trim_mu_) {
            return self->stopping_ || self->trim_requested_;
          },
          this));
      if (stopping_) return;
      trim_requested_ = false;
      for (int i = 0; i < kTrims; ++i) {
        if (trim_mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                                      kTrimDelay)) {
          return;
        }
        trim_mu_.Unlock();
        ::malloc_trim(0);
        trim_mu_.Lock();
      }
    }
  }

  const int64_t limit_;
  std::atomic<int64_t> held_{0};
  std::atomic<int64_t> calls_{0};
  // A burst since the last trim was requested.
  std::atomic<bool> high_{false};
  absl::Mutex trim_mu_;
  bool trim_requested_ ABSL_GUARDED_BY(trim_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(trim_mu_) = false;
  // Last: started once everything it reads is initialized.
  std::thread trimmer_;
};

// One call's share of the ResponseBudget: what its responses took, given
// back when grpc++ destroys the interceptor with the call (after its last
// write has completed or failed, so the bytes are no longer held).
class ResponseBudgetInterceptor final
    : public ::grpc::experimental::Interceptor {
 public:
  ResponseBudgetInterceptor(std::shared_ptr<ResponseBudget> budget,
                            ::grpc::experimental::ServerRpcInfo* info)
      : budget_(std::move(budget)), info_(info) {
    budget_->CallStarted();
  }
  ~ResponseBudgetInterceptor() override { budget_->CallEnded(taken_); }

  void Intercept(::grpc::experimental::InterceptorBatchMethods* methods)
      override {
    if (methods->QueryInterceptionHookPoint(
            ::grpc::experimental::InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      ::grpc::ByteBuffer* message = methods->GetSerializedSendMessage();
      const int64_t bytes = message == nullptr ? 0 : message->Length();
      if (budget_->TryTake(bytes)) {
        taken_ += bytes;
      } else {
        // Cancelled, not answered RESOURCE_EXHAUSTED: grpc++ keeps a copy
        // of the response until the call ends, and an answer would wait
        // for the same flow-control window as the response (the peer that
        // filled the budget is the one that does not read).
        ::grpc::Slice empty;
        *message = ::grpc::ByteBuffer(&empty, 1);
        info_->server_context()->TryCancel();
      }
    }
    methods->Proceed();
  }

 private:
  const std::shared_ptr<ResponseBudget> budget_;
  ::grpc::experimental::ServerRpcInfo* const info_;
  int64_t taken_ = 0;
};

class ResponseBudgetInterceptorFactory final
    : public ::grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit ResponseBudgetInterceptorFactory(int64_t limit)
      : budget_(std::make_shared<ResponseBudget>(limit)) {}
  ::grpc::experimental::Interceptor* CreateServerInterceptor(
      ::grpc::experimental::ServerRpcInfo* info) override {
    return new ResponseBudgetInterceptor(budget_, info);
  }

 private:
  const std::shared_ptr<ResponseBudget> budget_;
};

// `duration` as the int of milliseconds grpc-core takes, saturated (the
// flags are checked to fit).
int ToMillis(absl::Duration duration) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(duration),
                                            std::numeric_limits<int>::max()));
}

// `limits` as `builder`'s channel arguments and resource quota.
void ApplyLimits(const GrpcLimits& limits, ::grpc::ServerBuilder& builder) {
  std::vector<
      std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(std::make_unique<ResponseBudgetInterceptorFactory>(
      limits.max_buffered_bytes));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             limits.max_concurrent_streams);
  ::grpc::ResourceQuota quota("dualrpc-grpc-server");
  quota.Resize(static_cast<size_t>(limits.max_memory_bytes));
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             ToMillis(limits.handshake_timeout));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             ToMillis(limits.max_connection_idle));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             ToMillis(limits.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             ToMillis(limits.keepalive_timeout));
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const GrpcServerOptions& options,
    const std::vector<::grpc::Service*>& services) {
  // Process-wide switches that apply to servers built afterwards. grpc++'s
  // reflection plugin serves v1alpha (loading libgrpc++_reflection already
  // registers it; the call says so here); v1 comes from the registry
  // (inspection::ReflectionService::RegisterV1, server/main.cc).
  ::grpc::EnableDefaultHealthCheckService(options.builtin_inspection);
  ::grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // The default health service has no descriptors of its own; touching the
  // compiled-in health.proto links it into the generated pool, so that
  // reflection can describe grpc.health.v1.Health, not only name it.
  ::grpc::health::v1::HealthCheckRequest::descriptor();

  std::shared_ptr<ReloadableServerCredentials> tls;
  if (options.tls.has_value()) {
    absl::StatusOr<std::shared_ptr<ReloadableServerCredentials>> created =
        ReloadableServerCredentials::Create(*options.tls);
    if (!created.ok()) return created.status();
    tls = *std::move(created);
  }
  ::grpc::ServerBuilder builder;
  int selected_port = 0;
  const bool own_port = !options.listen_address.empty();
  if (own_port) {
    builder.AddListeningPort(
        options.listen_address,
        tls != nullptr ? std::shared_ptr<::grpc::ServerCredentials>(tls)
                       : ::grpc::InsecureServerCredentials(),
        &selected_port);
  }
  // A port in use is an error, as on the raw port: with SO_REUSEPORT (grpc's
  // default on Linux) a second server would bind it too and silently take
  // part of the connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.SetMaxSendMessageSize(options.max_send_message_bytes);
  ApplyLimits(options.limits, builder);
  for (::grpc::Service* service : services) builder.RegisterService(service);
  if (!options.builtin_inspection) {
    builder.SetOption(std::make_unique<WithoutReflectionPlugin>());
  }

  std::int64_t channelz_id = 0;
  std::unique_ptr<::grpc::Server> server =
      BuildAndStartWithChannelzId(builder, &channelz_id);
  if (server == nullptr || (own_port && selected_port == 0)) {
    // A server that started but bound nothing is shut down by its
    // destructor.
    return absl::UnavailableError(
        own_port ? BindFailureReason(options.listen_address)
                 : "gRPC server did not start");
  }
  if (::grpc::HealthCheckServiceInterface* health =
          server->GetHealthCheckService()) {
    health->SetServingStatus("", true);
    for (const std::string& name : options.health_service_names) {
      health->SetServingStatus(name, true);
    }
  }
  return std::unique_ptr<GrpcServer>(new GrpcServer(
      std::move(tls), std::move(server),
      own_port ? WithPort(options.listen_address, selected_port) : "",
      options.adopted_subjects,
      std::make_unique<GrpcServerStats>(channelz_id)));
}

GrpcServer::GrpcServer(std::shared_ptr<ReloadableServerCredentials> tls,
                       std::unique_ptr<::grpc::Server> server,
                       std::string address,
                       std::shared_ptr<AdoptedPeerSubjects> adopted_subjects,
                       std::unique_ptr<GrpcServerStats> stats)
    : tls_(std::move(tls)),
      adopted_subjects_(std::move(adopted_subjects)),
      server_(std::move(server)),
      address_(std::move(address)),
      stats_(std::move(stats)) {}

GrpcServer::~GrpcServer() {
  Shutdown(absl::ZeroDuration());
  Wait();
}

absl::Status GrpcServer::AdoptConnection(
    base::ScopedFd socket, std::string peer_certificate_subject) {
  const int flags = ::fcntl(socket.get(), F_GETFL);
  if (flags < 0 || ::fcntl(socket.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return absl::InternalError(
        absl::StrCat("fcntl(O_NONBLOCK): ", std::strerror(errno)));
  }
  absl::MutexLock lock(&adopt_mu_);
  if (shutting_down_) {
    stats_->OnAdoptRefused();
    return absl::UnavailableError("gRPC server is shutting down");
  }
  // Before grpc++ has the socket: its calls must find this entry, not that
  // of an older socket with the same number.
  if (adopted_subjects_ != nullptr) {
    adopted_subjects_->Set(socket.get(), std::move(peer_certificate_subject));
  }
  stats_->OnAdopted(socket.get());
  ::grpc::AddInsecureChannelFromFd(server_.get(), socket.Release());
  return absl::OkStatus();
}

void GrpcServer::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&adopt_mu_);
    shutting_down_ = true;
  }
  // Health first, so that a Watch or a Check racing the shutdown sees
  // NOT_SERVING; HealthCheckServiceInterface::Shutdown is idempotent.
  if (::grpc::HealthCheckServiceInterface* health =
          server_->GetHealthCheckService()) {
    health->Shutdown();
  }
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
}

void GrpcServer::Wait() { server_->Wait(); }

rpc::TransportStats GrpcServer::GetStats() const { return stats_->Get(); }

absl::Status GrpcServer::ReloadTls() {
  if (tls_ == nullptr) {
    return absl::FailedPreconditionError("the gRPC server is not serving TLS");
  }
  return tls_->Reload();
}

}  // namespace dualrpc::grpc
