#include "dualrpc/cli/command_channel.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/cli/exit_status.h"
#include "dualrpc/cli/stream_call.h"
#include "dualrpc/rpc/client_call.h"
#include "gmock/gmock.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "scripted_stream_channel.h"
#include "testing/status_matchers.h"
#include "testing/wait.h"

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

// ---- Streams -------------------------------------------------------------

// A bidi peer that answers each StringValue with itself, then ends with
// `status` at the half-close.
std::shared_ptr<ScriptedStreamChannel> EchoPeer(absl::Status status = {}) {
  return std::make_shared<ScriptedStreamChannel>([status](absl::string_view) {
    StreamScript script;
    script.on_request = [](const std::string& request) {
      return std::vector<std::string>{request};
    };
    script.status = status;
    return script;
  });
}

StringValue Text(const std::string& value) {
  StringValue message;
  message.set_value(value);
  return message;
}

rpc::CallOptions StreamOptions(absl::Duration timeout,
                               rpc::Metadata metadata = {}) {
  rpc::CallOptions options;
  options.timeout = timeout;
  options.metadata = std::move(metadata);
  return options;
}

TEST(CommandChannelStreamTest, PassesMessagesThroughWithMetadataAndDeadline) {
  auto inner = EchoPeer();
  CommandChannelOptions options;
  options.metadata = {{"x-a", "1"}};
  options.deadline = absl::Now() + absl::Seconds(30);
  CommandChannel channel(inner, options);
  {
    StreamCall call(channel, "/t.S/Bidi", rpc::MethodKind::kBidiStreaming,
                    StreamOptions(absl::InfiniteDuration(), {{"own", "0"}}));
    StringValue response;
    ASSERT_TRUE(call.Write(Text("one")));
    ASSERT_TRUE(call.Read(&response));
    EXPECT_EQ(response.value(), "one");
    ASSERT_TRUE(call.Write(Text("two")));
    ASSERT_TRUE(call.Read(&response));
    EXPECT_EQ(response.value(), "two");
    ASSERT_TRUE(call.WritesDone());
    EXPECT_FALSE(call.Read(&response));
    EXPECT_THAT(call.Finish(), IsOk());
  }
  const std::vector<RecordedStream> streams = inner->recorded();
  ASSERT_EQ(streams.size(), 1u);
  EXPECT_EQ(streams[0].method, "/t.S/Bidi");
  EXPECT_EQ(streams[0].kind, rpc::MethodKind::kBidiStreaming);
  EXPECT_THAT(streams[0].options.metadata,
              ElementsAre(Pair("own", "0"), Pair("x-a", "1")));
  EXPECT_LE(streams[0].options.timeout, absl::Seconds(30));
  EXPECT_GT(streams[0].options.timeout, absl::Seconds(20));
  EXPECT_EQ(streams[0].requests.size(), 2u);
  EXPECT_TRUE(streams[0].half_closed);
}

// -max-time covers a stream that would otherwise run on: the wrapped
// stream's deadline is the command's.
TEST(CommandChannelStreamTest, CommandDeadlineEndsAStreamInProgress) {
  auto inner = std::make_shared<ScriptedStreamChannel>([](absl::string_view) {
    StreamScript script;
    script.hang = true;
    return script;
  });
  CommandChannelOptions options;
  options.deadline = absl::Now() + absl::Milliseconds(200);
  options.rpc_errors = true;
  CommandChannel channel(inner, options);
  const absl::Time start = absl::Now();
  StreamCall call(channel, "/t.S/Watch", rpc::MethodKind::kServerStreaming,
                  StreamOptions(absl::InfiniteDuration()));
  ASSERT_TRUE(call.Write(Text("go")));
  StringValue response;
  EXPECT_FALSE(call.Read(&response));
  const absl::Status status = call.Finish();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(ExitStatusFor(status), 68);
  EXPECT_LT(absl::Now() - start, dualrpc_testing::kWaitTimeout);
}

TEST(CommandChannelStreamTest,
     StreamAfterTheDeadlineFailsWithoutReachingTheServer) {
  auto inner = EchoPeer();
  CommandChannelOptions options;
  options.deadline = absl::Now() - absl::Milliseconds(1);
  options.rpc_errors = true;
  CommandChannel channel(inner, options);
  StreamCall call(channel, "/t.S/Bidi", rpc::MethodKind::kBidiStreaming,
                  StreamOptions(absl::Seconds(5)));
  EXPECT_FALSE(call.Write(Text("x")));
  const absl::Status status = call.Finish();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(ExitStatusFor(status), 68);
  EXPECT_THAT(inner->recorded(), IsEmpty());
}

TEST(CommandChannelStreamTest, MarksTheFinalStatusAsAnRpcErrorOnlyWhenAsked) {
  auto inner = EchoPeer(absl::NotFoundError("gone"));
  CommandChannelOptions options;
  CommandChannel preparing(inner, options);
  options.rpc_errors = true;
  CommandChannel rpc(inner, options);
  for (CommandChannel* channel : {&preparing, &rpc}) {
    StreamCall call(*channel, "/t.S/Bidi", rpc::MethodKind::kBidiStreaming,
                    StreamOptions(absl::Seconds(5)));
    ASSERT_TRUE(call.WritesDone());
    const absl::Status status = call.Finish();
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kNotFound, "gone"));
    EXPECT_EQ(ExitStatusFor(status), channel == &rpc ? 69 : kExitLocalError);
  }
}

TEST(CommandChannelStreamTest, CancelReachesTheWrappedStream) {
  auto inner = std::make_shared<ScriptedStreamChannel>([](absl::string_view) {
    StreamScript script;
    script.hang = true;
    return script;
  });
  CommandChannel channel(inner, CommandChannelOptions());
  {
    StreamCall call(channel, "/t.S/Bidi", rpc::MethodKind::kBidiStreaming,
                    StreamOptions(dualrpc_testing::kWaitTimeout));
    call.Cancel();
    EXPECT_THAT(call.Finish(), StatusIs(absl::StatusCode::kCancelled));
  }
  ASSERT_EQ(inner->recorded().size(), 1u);
  EXPECT_TRUE(inner->recorded()[0].cancelled);
}

}  // namespace
}  // namespace dualrpc::cli
