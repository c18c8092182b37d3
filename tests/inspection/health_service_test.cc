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
#include "testing/fake_server_stream.h"
#include "testing/status_matchers.h"

namespace dualrpc::inspection {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::dualrpc_testing::FakeServerStream;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

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

  // Starts a Watch of `service` on `stream`, as a transport does.
  void StartWatch(const std::string& service, FakeServerStream* stream) {
    const rpc::Method* method = registry_.FindMethod(HealthService::kWatchPath);
    ASSERT_NE(method, nullptr);
    watch_request_.set_service(service);
    stream->Start(*method, &watch_request_);
  }

  static std::vector<HealthCheckResponse::ServingStatus> Statuses(
      const FakeServerStream& stream) {
    std::vector<HealthCheckResponse::ServingStatus> out;
    for (const HealthCheckResponse& response :
         stream.Writes<HealthCheckResponse>()) {
      out.push_back(response.status());
    }
    return out;
  }

  rpc::ServiceRegistry registry_;
  HealthService health_;
  HealthCheckRequest watch_request_;
};

TEST_F(HealthServiceTest, RegistersCheckAndWatch) {
  EXPECT_THAT(registry_.ServiceNames(), ElementsAre("grpc.health.v1.Health"));
  const rpc::Method* check = registry_.FindMethod(HealthService::kCheckPath);
  ASSERT_NE(check, nullptr);
  EXPECT_EQ(check->kind, rpc::MethodKind::kUnary);
  const rpc::Method* watch = registry_.FindMethod(HealthService::kWatchPath);
  ASSERT_NE(watch, nullptr);
  EXPECT_EQ(watch->kind, rpc::MethodKind::kServerStreaming);
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

// gRPC's semantics: the current status first, then one message per change;
// the stream stays open after NOT_SERVING until the client ends it.
TEST_F(HealthServiceTest, WatchSendsTheStatusThenEachChange) {
  for (const std::string name : {"", "dualrpc.v1.FileService"}) {
    HealthService health({"dualrpc.v1.FileService"});
    rpc::ServiceRegistry registry;
    ASSERT_THAT(health.Register(&registry), IsOk());
    FakeServerStream stream;
    HealthCheckRequest request;
    request.set_service(name);
    stream.Start(*registry.FindMethod(HealthService::kWatchPath), &request);
    ASSERT_TRUE(stream.WaitForWrites(1)) << name;
    EXPECT_THAT(Statuses(stream), ElementsAre(HealthCheckResponse::SERVING));
    health.SetNotServing();
    ASSERT_TRUE(stream.WaitForWrites(2)) << name;
    health.SetNotServing();  // no change, no message
    EXPECT_THAT(Statuses(stream), ElementsAre(HealthCheckResponse::SERVING,
                                              HealthCheckResponse::NOT_SERVING))
        << name;
    EXPECT_FALSE(stream.finished()) << name;
    EXPECT_EQ(health.watchers(), 1u);
    stream.Cancel();
    ASSERT_TRUE(stream.WaitForDone()) << name;
    EXPECT_EQ(health.watchers(), 0u);
    EXPECT_THAT(stream.misuses(), IsEmpty());
  }
}

// Unlike Check, an unknown name is a message, not a failed call, and the
// stream stays (grpc++ would report the service if it appeared later).
TEST_F(HealthServiceTest, WatchOfAnUnknownServiceIsServiceUnknown) {
  FakeServerStream stream;
  ASSERT_NO_FATAL_FAILURE(StartWatch("dualrpc.v1.Nope", &stream));
  ASSERT_TRUE(stream.WaitForWrites(1));
  health_.SetNotServing();
  EXPECT_THAT(Statuses(stream),
              ElementsAre(HealthCheckResponse::SERVICE_UNKNOWN));
  EXPECT_FALSE(stream.finished());
  stream.Cancel();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.misuses(), IsEmpty());
}

TEST_F(HealthServiceTest, WatchAfterShutdownBeganStartsNotServing) {
  health_.SetNotServing();
  FakeServerStream stream;
  ASSERT_NO_FATAL_FAILURE(StartWatch("", &stream));
  ASSERT_TRUE(stream.WaitForWrites(1));
  EXPECT_THAT(Statuses(stream), ElementsAre(HealthCheckResponse::NOT_SERVING));
  stream.Cancel();
  ASSERT_TRUE(stream.WaitForDone());
}

// A client that does not read holds the first message; the change waits
// for it (one write outstanding) and then goes out.
TEST_F(HealthServiceTest, WatchWaitsForTheClientBeforeTheNextMessage) {
  FakeServerStream stream;
  stream.HoldWrites();
  ASSERT_NO_FATAL_FAILURE(StartWatch("", &stream));
  ASSERT_TRUE(stream.WaitForWrites(1));
  health_.SetNotServing();
  EXPECT_EQ(stream.write_count(), 1u);
  stream.ReleaseWrites();
  ASSERT_TRUE(stream.WaitForWrites(2));
  EXPECT_THAT(Statuses(stream), ElementsAre(HealthCheckResponse::SERVING,
                                            HealthCheckResponse::NOT_SERVING));
  stream.Cancel();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.misuses(), IsEmpty());
}

// Cancelled with a write held: the write fails, the call finishes once.
TEST_F(HealthServiceTest, WatchCancelledWithAWriteOutstandingEndsOnce) {
  FakeServerStream stream;
  stream.HoldWrites();
  ASSERT_NO_FATAL_FAILURE(StartWatch("", &stream));
  ASSERT_TRUE(stream.WaitForWrites(1));
  stream.Cancel();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_EQ(health_.watchers(), 0u);
  EXPECT_THAT(stream.misuses(), IsEmpty());
}

// Many watchers ending while shutdown notifies them (run under TSan for the
// claim of thread-safety): every one is done, none is told twice.
TEST_F(HealthServiceTest, SetNotServingRacesWatchersEnding) {
  std::vector<std::unique_ptr<FakeServerStream>> streams;
  std::vector<HealthCheckRequest> requests(20);
  const rpc::Method* method = registry_.FindMethod(HealthService::kWatchPath);
  ASSERT_NE(method, nullptr);
  for (HealthCheckRequest& request : requests) {
    streams.push_back(std::make_unique<FakeServerStream>());
    streams.back()->Start(*method, &request);
    ASSERT_TRUE(streams.back()->WaitForWrites(1));
  }
  std::thread canceller([&streams] {
    for (auto& stream : streams) stream->Cancel();
  });
  health_.SetNotServing();
  canceller.join();
  for (auto& stream : streams) {
    ASSERT_TRUE(stream->WaitForDone());
    EXPECT_LE(stream->write_count(), 2u);
    EXPECT_THAT(stream->misuses(), IsEmpty());
  }
  EXPECT_EQ(health_.watchers(), 0u);
}

}  // namespace
}  // namespace dualrpc::inspection
