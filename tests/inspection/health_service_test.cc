#include "dualrpc/inspection/health_service.h"

#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "dualrpc/rpc/service_registry.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace dualrpc::inspection {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::ElementsAre;

class HealthServiceTest : public ::testing::Test {
 protected:
  HealthServiceTest() : health_({"dualrpc.v1.FileService"}) {
    EXPECT_THAT(health_.Register(&registry_), IsOk());
  }

  // Calls Check through the registry, as a transport does.
  absl::Status Check(const std::string& service,
                     HealthCheckResponse* response) {
    const rpc::Method* method =
        registry_.FindMethod(HealthService::kCheckPath);
    EXPECT_NE(method, nullptr);
    std::unique_ptr<google::protobuf::Message> request = method->new_request();
    static_cast<HealthCheckRequest*>(request.get())->set_service(service);
    std::unique_ptr<google::protobuf::Message> answer = method->new_response();
    absl::Status status = absl::UnknownError("done never ran");
    method->invoke(nullptr, request.get(), answer.get(),
                   [&status](absl::Status result) { status = result; });
    response->CopyFrom(*answer);
    return status;
  }

  rpc::ServiceRegistry registry_;
  HealthService health_;
};

TEST_F(HealthServiceTest, RegistersOnlyCheck) {
  EXPECT_THAT(registry_.ServiceNames(), ElementsAre("grpc.health.v1.Health"));
  EXPECT_EQ(registry_.FindMethod("/grpc.health.v1.Health/Watch"), nullptr);
}

TEST_F(HealthServiceTest, ServerAndKnownServicesAreServing) {
  for (const std::string name : {"", "dualrpc.v1.FileService"}) {
    HealthCheckResponse response;
    ASSERT_THAT(Check(name, &response), IsOk()) << name;
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVING) << name;
  }
}

TEST_F(HealthServiceTest, UnknownServiceIsNotFoundAsInGrpc) {
  HealthCheckResponse response;
  absl::Status status = Check("dualrpc.v1.Nope", &response);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(status.message(), "service name unknown");
}

TEST_F(HealthServiceTest, SetNotServingFlipsEveryKnownName) {
  health_.SetNotServing();
  health_.SetNotServing();  // Idempotent.
  for (const std::string name : {"", "dualrpc.v1.FileService"}) {
    HealthCheckResponse response;
    ASSERT_THAT(Check(name, &response), IsOk()) << name;
    EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING) << name;
  }
  HealthCheckResponse response;
  EXPECT_THAT(Check("dualrpc.v1.Nope", &response),
              StatusIs(absl::StatusCode::kNotFound));
}

// Checks on transport threads while shutdown begins on another: each sees
// SERVING or NOT_SERVING, and NOT_SERVING once SetNotServing has returned
// (run under TSan to check the claim of thread-safety).
TEST_F(HealthServiceTest, SetNotServingIsSafeAgainstConcurrentChecks) {
  std::vector<std::thread> checkers;
  for (int t = 0; t < 4; ++t) {
    checkers.emplace_back([this] {
      for (int i = 0; i < 1000; ++i) {
        HealthCheckRequest request;
        HealthCheckResponse response;
        health_.Check(nullptr, &request, &response, [](absl::Status) {});
        EXPECT_NE(response.status(), HealthCheckResponse::UNKNOWN);
      }
    });
  }
  health_.SetNotServing();
  HealthCheckResponse response;
  ASSERT_THAT(Check("", &response), IsOk());
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  for (std::thread& checker : checkers) checker.join();
}

}  // namespace
}  // namespace dualrpc::inspection
