// greeter_demo: serves greeter.v1.Greeter over both transports on free
// ports (one ServiceRegistry, two servers), calls it over grpc:// and raw://
// through the same generated client, and checks every answer. Prints one line
// per check; exits 0 only if all pass.

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/grpc/grpc_server.h"
#include "dualrpc/grpc/registry_grpc_service.h"
#include "dualrpc/raw/server/raw_server.h"
#include "dualrpc/rpc/service_registry.h"
#include "greeter/v1/greeter.dualrpc.h"
#include "greeter_service.h"

namespace {

// Bounds every call, so that a broken transport fails the demo, not hangs it.
constexpr absl::Duration kCallTimeout = absl::Seconds(10);

// Calls Greeter at `target`; false (after saying why) on any wrong answer.
bool CheckGreeter(const std::string& target) {
  absl::StatusOr<std::shared_ptr<dualrpc::rpc::Channel>> channel =
      dualrpc::client::CreateChannel(target);
  if (!channel.ok()) {
    std::fprintf(stderr, "%s: %s\n", target.c_str(),
                 channel.status().ToString().c_str());
    return false;
  }
  greeter::v1::GreeterClient client(*std::move(channel));
  dualrpc::rpc::CallOptions options;
  options.timeout = kCallTimeout;

  greeter::v1::SayHelloRequest request;
  request.set_name("consumer");
  absl::StatusOr<greeter::v1::SayHelloResponse> response =
      client.SayHello(request, options);
  if (!response.ok() || response->greeting() != "Hello, consumer!") {
    std::fprintf(stderr, "%s SayHello: %s\n", target.c_str(),
                 response.ok()
                     ? ("wrong greeting: " + response->greeting()).c_str()
                     : response.status().ToString().c_str());
    return false;
  }
  std::printf("%s SayHello: %s\n", target.c_str(),
              response->greeting().c_str());

  // The implementation's status reaches the caller unchanged on both
  // transports.
  absl::StatusOr<greeter::v1::SayHelloResponse> refused =
      client.SayHello(greeter::v1::SayHelloRequest(), options);
  if (refused.status().code() != absl::StatusCode::kInvalidArgument) {
    std::fprintf(stderr, "%s SayHello(\"\"): want INVALID_ARGUMENT, got %s\n",
                 target.c_str(), refused.status().ToString().c_str());
    return false;
  }
  std::printf("%s SayHello(\"\"): %s\n", target.c_str(),
              refused.status().ToString().c_str());
  return true;
}

int Run() {
  greeter::GreeterService service;
  dualrpc::rpc::ServiceRegistry registry;
  if (absl::Status registered =
          greeter::v1::RegisterGreeter(&service, &registry);
      !registered.ok()) {
    std::fprintf(stderr, "RegisterGreeter: %s\n",
                 registered.ToString().c_str());
    return 1;
  }

  // gRPC: the registry's services as grpc::Services; they outlive the server.
  absl::StatusOr<std::vector<std::unique_ptr<::grpc::Service>>> grpc_services =
      dualrpc::grpc::MakeGrpcServices(registry);
  if (!grpc_services.ok()) {
    std::fprintf(stderr, "MakeGrpcServices: %s\n",
                 grpc_services.status().ToString().c_str());
    return 1;
  }
  std::vector<::grpc::Service*> service_pointers;
  for (const auto& grpc_service : *grpc_services)
    service_pointers.push_back(grpc_service.get());
  dualrpc::grpc::GrpcServerOptions grpc_options;
  grpc_options.listen_address = "127.0.0.1:0";
  grpc_options.health_service_names = registry.ServiceNames();
  absl::StatusOr<std::unique_ptr<dualrpc::grpc::GrpcServer>> grpc_server =
      dualrpc::grpc::GrpcServer::Start(grpc_options, service_pointers);
  if (!grpc_server.ok()) {
    std::fprintf(stderr, "GrpcServer::Start: %s\n",
                 grpc_server.status().ToString().c_str());
    return 1;
  }

  // Raw: the same registry, read directly.
  dualrpc::raw::RawServer::Options raw_options;
  raw_options.listen_address = "127.0.0.1:0";
  raw_options.event_loop_threads = 1;
  absl::StatusOr<std::unique_ptr<dualrpc::raw::RawServer>> raw_server =
      dualrpc::raw::RawServer::Start(raw_options, &registry);
  if (!raw_server.ok()) {
    std::fprintf(stderr, "RawServer::Start: %s\n",
                 raw_server.status().ToString().c_str());
    return 1;
  }

  const bool grpc_ok = CheckGreeter("grpc://" + (*grpc_server)->address());
  const bool raw_ok = CheckGreeter("raw://" + (*raw_server)->address());

  (*raw_server)->Drain(absl::Seconds(1));
  (*raw_server)->Wait();
  (*grpc_server)->Shutdown(absl::Seconds(1));
  (*grpc_server)->Wait();
  if (!grpc_ok || !raw_ok) return 1;
  std::printf("greeter_demo: both transports OK\n");
  return 0;
}

}  // namespace

int main() { return Run(); }
