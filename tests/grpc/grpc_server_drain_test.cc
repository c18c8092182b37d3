// Graceful shutdown of the gRPC transport, made deterministic in-process: the
// only blocking-executor thread is held by a latch, so a ListDirectory call is
// provably in flight (accepted and queued) when Shutdown begins.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "dualrpc/base/blocking_executor.h"
#include "dualrpc/fileservice/file_service.h"
#include "dualrpc/fileservice/served_root.h"
#include "dualrpc/grpc/grpc_server.h"
#include "dualrpc/grpc/registry_grpc_service.h"
#include "dualrpc/service/file_service_impl.h"
#include "dualrpc/v1/file_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace dualrpc::grpc {
namespace {

using ::dualrpc_testing::Eventually;
using ::dualrpc_testing::IsOk;

using ::dualrpc_testing::TempDir;
using HealthStatus = ::grpc::health::v1::HealthCheckResponse::ServingStatus;

HealthStatus CheckHealth(::grpc::health::v1::Health::Stub* health) {
  ::grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  ::grpc::health::v1::HealthCheckRequest request;
  ::grpc::health::v1::HealthCheckResponse response;
  ::grpc::Status status = health->Check(&context, request, &response);
  return status.ok() ? response.status()
                     : ::grpc::health::v1::HealthCheckResponse::UNKNOWN;
}

TEST(GrpcServerDrainTest, InFlightCallFinishesAfterShutdownBegins) {
  dualrpc_testing::TempDir root;
  root.WriteFile("only.txt", "x");
  absl::StatusOr<fileservice::ServedRoot> served =
      fileservice::ServedRoot::Open(root.path());
  ASSERT_THAT(served, IsOk());
  fileservice::FileServiceCore core(*std::move(served),
                                    fileservice::FileServiceOptions());
  base::BlockingExecutor executor({/*threads=*/1, /*max_queued=*/16});
  service::FileServiceImpl service(&core, &executor);
  rpc::ServiceRegistry registry;
  ASSERT_THAT(v1::RegisterFileService(&service, &registry), IsOk());
  absl::StatusOr<std::vector<std::unique_ptr<::grpc::Service>>> grpc_services =
      MakeGrpcServices(registry);
  ASSERT_THAT(grpc_services, IsOk());
  GrpcServerOptions options;
  options.listen_address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Start(options, {(*grpc_services)[0].get()});
  ASSERT_THAT(server, IsOk());

  auto channel = ::grpc::CreateChannel((*server)->address(),
                                       ::grpc::InsecureChannelCredentials());
  auto stub = v1::FileService::NewStub(channel);
  auto health = ::grpc::health::v1::Health::NewStub(channel);
  ASSERT_EQ(CheckHealth(health.get()),
            ::grpc::health::v1::HealthCheckResponse::SERVING);

  // Occupy the executor's only thread.
  absl::Notification blocker_running, release_blocker;
  ASSERT_TRUE(executor
                  .Submit([&]() {
                    blocker_running.Notify();
                    release_blocker.WaitForNotificationWithTimeout(
                        dualrpc_testing::kWaitTimeout);
                  })
                  .ok());
  ASSERT_TRUE(blocker_running.WaitForNotificationWithTimeout(
      dualrpc_testing::kWaitTimeout));

  ::grpc::ClientContext call_context;
  v1::ListDirectoryRequest request;
  v1::ListDirectoryResponse response;
  ::grpc::Status call_status;
  absl::Notification call_done;
  stub->async()->ListDirectory(&call_context, &request, &response,
                               [&](::grpc::Status status) {
                                 call_status = std::move(status);
                                 call_done.Notify();
                               });
  ASSERT_TRUE(Eventually([&] { return executor.queued() == 1; }));

  std::thread shutdown([&] { (*server)->Shutdown(absl::Seconds(30)); });
  ASSERT_TRUE(Eventually([&] {
    return CheckHealth(health.get()) !=
           ::grpc::health::v1::HealthCheckResponse::SERVING;
  }));
  EXPECT_FALSE(call_done.HasBeenNotified());

  release_blocker.Notify();
  const bool call_finished =
      call_done.WaitForNotificationWithTimeout(dualrpc_testing::kWaitTimeout);
  shutdown.join();
  ASSERT_TRUE(call_finished)
      << "the queued call did not finish during the drain";
  ASSERT_TRUE(call_status.ok()) << call_status.error_message();
  ASSERT_EQ(response.entries_size(), 1);
  EXPECT_EQ(response.entries(0).name(), "only.txt");

  // Once shut down, new calls are refused as UNAVAILABLE.
  ::grpc::ClientContext late_context;
  late_context.set_deadline(std::chrono::system_clock::now() +
                            std::chrono::seconds(5));
  v1::EchoRequest echo;
  v1::EchoResponse echo_response;
  EXPECT_EQ(stub->Echo(&late_context, echo, &echo_response).error_code(),
            ::grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace dualrpc::grpc
