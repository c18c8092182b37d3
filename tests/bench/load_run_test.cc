// Unit tests of dualrpc-bench load's parts: the ramps, the linear histogram,
// the opaque messages and RunLoad over a fake channel.

#include "load_run.h"

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "load_report.h"
#include "opaque_message.h"
#include "testing/status_matchers.h"

namespace dualrpc::bench {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Pair;

TEST(LoadScheduleTest, ConstKeepsItsRate) {
  LoadSchedule schedule;
  schedule.start = 200;
  EXPECT_DOUBLE_EQ(schedule.RateAt(0), 200);
  EXPECT_DOUBLE_EQ(schedule.RateAt(100), 200);
}

TEST(LoadScheduleTest, StepRisesEachStepUpToTheEnd) {
  LoadSchedule schedule;
  schedule.kind = LoadSchedule::Kind::kStep;
  schedule.start = 100;
  schedule.step = 50;
  schedule.step_duration = absl::Seconds(2);
  schedule.end = 220;
  EXPECT_DOUBLE_EQ(schedule.RateAt(0), 100);
  EXPECT_DOUBLE_EQ(schedule.RateAt(1.99), 100);
  EXPECT_DOUBLE_EQ(schedule.RateAt(2), 150);
  EXPECT_DOUBLE_EQ(schedule.RateAt(4.5), 200);
  EXPECT_DOUBLE_EQ(schedule.RateAt(6), 220);
  EXPECT_DOUBLE_EQ(schedule.RateAt(600), 220);
}

TEST(LoadScheduleTest, FallingLineStopsAtTheEndAndNeverBelowTheFloor) {
  LoadSchedule schedule;
  schedule.kind = LoadSchedule::Kind::kLine;
  schedule.start = 100;
  schedule.step = -10;
  schedule.end = 40;
  EXPECT_DOUBLE_EQ(schedule.RateAt(1.5), 85);
  EXPECT_DOUBLE_EQ(schedule.RateAt(10), 40);
  schedule.end = 0;
  EXPECT_DOUBLE_EQ(schedule.RateAt(100), LoadSchedule::kMinRate);
}

TEST(LinearHistogramTest, TenBucketsFromFastestToSlowestHoldEveryCall) {
  LatencyHistogram latency;
  for (int64_t v = 1000; v <= 100000; v += 1000) latency.Record(v);
  const std::vector<LinearBucket> buckets = LinearHistogram(latency);
  ASSERT_EQ(buckets.size(), kLoadHistogramBuckets);
  int64_t total = 0;
  for (const LinearBucket& b : buckets) total += b.count;
  EXPECT_EQ(total, 100);
  EXPECT_EQ(buckets.back().mark_nanos, latency.max());
  EXPECT_GT(buckets.front().count, 0);
  EXPECT_GT(buckets.back().count, 0);
}

TEST(OpaqueMessageTest, PreserializedWritesItsBytesAndSkimmedChecksWireFormat) {
  v1::EchoRequest request;
  request.set_payload(std::string(300, 'x'));
  const PreserializedMessage wire("dualrpc.v1.EchoRequest",
                                  request.SerializeAsString());
  EXPECT_EQ(wire.SerializeAsString(), request.SerializeAsString());
  EXPECT_EQ(wire.ByteSizeLong(), request.ByteSizeLong());

  v1::EchoResponse response;
  response.set_payload("echoed");
  const std::string type = "dualrpc.v1.EchoResponse";
  SkimmedResponse skimmed(type);
  EXPECT_TRUE(skimmed.ParseFromString(response.SerializeAsString()));
  EXPECT_EQ(skimmed.fields(), 1);
  // A length that runs past the end, and a truncated varint.
  EXPECT_FALSE(skimmed.ParseFromString(std::string("\x0a\x10xx", 4)));
  EXPECT_FALSE(skimmed.ParseFromString(std::string("\x08\xff", 2)));
}

// Completes every call inside StartUnaryCall with `status`.
class InlineChannel final : public rpc::Channel {
 public:
  explicit InlineChannel(absl::Status status) : status_(std::move(status)) {}
  rpc::ClientStream* NewStream(absl::string_view, rpc::MethodKind,
                               const rpc::CallOptions&,
                               rpc::ClientStreamReactor* reactor) override {
    return rpc::NewFailedStream(
        reactor, absl::UnimplementedError("this fake has no streaming calls"));
  }
  void StartUnaryCall(absl::string_view, const google::protobuf::MessageLite&,
                      google::protobuf::MessageLite*, const rpc::CallOptions&,
                      rpc::UnaryDone done) override {
    calls_.fetch_add(1, std::memory_order_relaxed);
    std::move(done)(status_);
  }
  int64_t calls() const { return calls_.load(); }

 private:
  const absl::Status status_;
  std::atomic<int64_t> calls_{0};
};

LoadSpec SpecFor(rpc::Channel* channel,
                 const google::protobuf::MessageLite* request) {
  LoadSpec spec;
  spec.channel = channel;
  spec.method = "/dualrpc.v1.FileService/Echo";
  spec.request = request;
  spec.new_response = [] {
    static const std::string* const type =
        new std::string("dualrpc.v1.EchoResponse");
    return std::make_unique<SkimmedResponse>(*type);
  };
  return spec;
}

// A caller whose calls complete inline loops rather than recursing: 300000
// nested completions would need far more than the 8 MiB main stack.
TEST(RunLoadTest, InlineCompletionsDoNotGrowTheStack) {
  InlineChannel channel(absl::UnavailableError("down"));
  const PreserializedMessage request("dualrpc.v1.EchoRequest", "");
  LoadSpec spec = SpecFor(&channel, &request);
  spec.concurrency = 1;
  spec.total_calls = 300000;
  absl::StatusOr<LoadResult> result = RunLoad(spec);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(channel.calls(), 300000);
  EXPECT_EQ(result->count(), 300000);
  EXPECT_THAT(result->status_codes, ElementsAre(Pair("UNAVAILABLE", 300000)));
  EXPECT_THAT(result->errors, ElementsAre(Pair("UNAVAILABLE: down", 300000)));
}

TEST(RunLoadTest, ExactlyTheCountIsCalledAndKeptPerCall) {
  InlineChannel channel(absl::OkStatus());
  const PreserializedMessage request("dualrpc.v1.EchoRequest", "");
  LoadSpec spec = SpecFor(&channel, &request);
  spec.concurrency = 7;
  spec.total_calls = 1000;
  spec.keep_calls = true;
  absl::StatusOr<LoadResult> result = RunLoad(spec);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(channel.calls(), 1000);
  EXPECT_EQ(result->calls.size(), 1000u);
  EXPECT_THAT(result->status_codes, ElementsAre(Pair("OK", 1000)));
  EXPECT_TRUE(result->errors.empty());
}

TEST(RunLoadTest, OpenLoopStopsAtTheCount) {
  InlineChannel channel(absl::OkStatus());
  const PreserializedMessage request("dualrpc.v1.EchoRequest", "");
  LoadSpec spec = SpecFor(&channel, &request);
  spec.open_loop = true;
  spec.schedule.start = 2000;
  spec.total_calls = 100;
  absl::StatusOr<LoadResult> result = RunLoad(spec);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(channel.calls(), 100);
  EXPECT_EQ(result->count(), 100);
}

TEST(RunLoadTest, RefusesASpecWithoutAnEnd) {
  InlineChannel channel(absl::OkStatus());
  const PreserializedMessage request("dualrpc.v1.EchoRequest", "");
  LoadSpec spec = SpecFor(&channel, &request);
  spec.total_calls = 0;
  EXPECT_THAT(RunLoad(spec), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace dualrpc::bench
