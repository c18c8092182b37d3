#include "dualrpc/cli/command_channel.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/cli/exit_status.h"
#include "dualrpc/rpc/client_call.h"
#include "gmock/gmock.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace dualrpc::cli {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;
using ::google::protobuf::StringValue;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

// Records what each call was started with and completes it inline with
// `result`.
class RecordingChannel final : public rpc::Channel {
 public:
  rpc::ClientStream* NewStream(absl::string_view, rpc::MethodKind,
                               const rpc::CallOptions&,
                               rpc::ClientStreamReactor* reactor) override {
    return rpc::NewFailedStream(
        reactor, absl::UnimplementedError("this fake has no streaming calls"));
  }
  void StartUnaryCall(absl::string_view method,
                      const google::protobuf::MessageLite& /*request*/,
                      google::protobuf::MessageLite* /*response*/,
                      const rpc::CallOptions& options,
                      rpc::UnaryDone done) override {
    methods.emplace_back(method);
    calls.push_back(options);
    std::move(done)(result);
  }

  absl::Status result;
  std::vector<std::string> methods;
  std::vector<rpc::CallOptions> calls;
};

absl::Status Call(rpc::Channel& channel, absl::Duration timeout,
                  rpc::Metadata metadata = {}) {
  rpc::CallOptions options;
  options.timeout = timeout;
  options.metadata = std::move(metadata);
  return rpc::CallUnaryAndWait<StringValue>(channel, "/t.S/M", StringValue(),
                                            options)
      .status();
}

TEST(CommandChannelTest, AppendsItsMetadataAfterTheCallsOwn) {
  auto inner = std::make_shared<RecordingChannel>();
  CommandChannelOptions options;
  options.metadata = {{"x-a", "1"}, {"x-b", "2"}};
  CommandChannel channel(inner, options);
  ASSERT_THAT(Call(channel, absl::Seconds(3), {{"own", "0"}}), IsOk());
  ASSERT_EQ(inner->calls.size(), 1u);
  EXPECT_THAT(inner->methods, ElementsAre("/t.S/M"));
  EXPECT_THAT(
      inner->calls[0].metadata,
      ElementsAre(Pair("own", "0"), Pair("x-a", "1"), Pair("x-b", "2")));
  EXPECT_EQ(inner->calls[0].timeout, absl::Seconds(3));
}

TEST(CommandChannelTest, CutsEachTimeoutToTheCommandDeadline) {
  auto inner = std::make_shared<RecordingChannel>();
  CommandChannelOptions options;
  options.deadline = absl::Now() + absl::Seconds(30);
  CommandChannel channel(inner, options);
  ASSERT_THAT(Call(channel, absl::InfiniteDuration()), IsOk());
  ASSERT_THAT(Call(channel, absl::Seconds(1)), IsOk());
  ASSERT_EQ(inner->calls.size(), 2u);
  EXPECT_LE(inner->calls[0].timeout, absl::Seconds(30));
  EXPECT_GT(inner->calls[0].timeout, absl::Seconds(20));
  EXPECT_EQ(inner->calls[1].timeout, absl::Seconds(1));
}

TEST(CommandChannelTest, CallAfterTheDeadlineFailsWithoutReachingTheServer) {
  auto inner = std::make_shared<RecordingChannel>();
  CommandChannelOptions options;
  options.deadline = absl::Now() - absl::Milliseconds(1);
  CommandChannel channel(inner, options);
  EXPECT_THAT(Call(channel, absl::Seconds(5)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(inner->calls, IsEmpty());
}

TEST(CommandChannelTest, MarksFailuresAsRpcErrorsOnlyWhenAsked) {
  auto inner = std::make_shared<RecordingChannel>();
  inner->result = absl::NotFoundError("gone");
  CommandChannelOptions options;
  CommandChannel preparing(inner, options);
  options.rpc_errors = true;
  CommandChannel rpc(inner, options);

  const absl::Status unmarked = Call(preparing, absl::Seconds(1));
  EXPECT_THAT(unmarked, StatusIs(absl::StatusCode::kNotFound, "gone"));
  EXPECT_EQ(ExitStatusFor(unmarked), kExitLocalError);
  const absl::Status marked = Call(rpc, absl::Seconds(1));
  EXPECT_THAT(marked, StatusIs(absl::StatusCode::kNotFound, "gone"));
  EXPECT_EQ(ExitStatusFor(marked), 69);

  inner->result = absl::OkStatus();
  EXPECT_THAT(Call(rpc, absl::Seconds(1)), IsOk());
}

}  // namespace
}  // namespace dualrpc::cli
