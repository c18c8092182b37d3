#include "dualrpc/grpc/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/security/server_credentials.h>
#include <fcntl.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_posix.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
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
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.SetMaxSendMessageSize(options.max_send_message_bytes);
  for (::grpc::Service* service : services) builder.RegisterService(service);
  if (!options.builtin_inspection) {
    builder.SetOption(std::make_unique<WithoutReflectionPlugin>());
  }

  std::int64_t channelz_id = 0;
  std::unique_ptr<::grpc::Server> server =
      BuildAndStartWithChannelzId(builder, &channelz_id);
  if (server == nullptr || (own_port && selected_port == 0)) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address));
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
