// raw::BalancedChannel against scripted raw servers (scripted_raw_server.h),
// for the cases where the claim is about exact frames: which failures count
// as "never sent" (retried on another backend) and which do not, and which
// GOAWAYs eject a backend.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/raw/client/balanced_channel.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "raw/scripted_raw_server.h"
#include "testing/status_matchers.h"
#include "testing/wait.h"

namespace dualrpc::raw {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::kWaitTimeout;
using ::dualrpc_testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kEcho[] = "/dualrpc.v1.FileService/Echo";

// One Echo started on `channel`; Wait() gives the payload or the status.
class PendingEcho {
 public:
  PendingEcho(rpc::Channel& channel, absl::string_view payload) {
    request_.set_payload(std::string(payload));
    rpc::CallOptions options;
    options.timeout = absl::Seconds(10);
    channel.StartUnaryCall(kEcho, request_, &response_, options,
                           [this](absl::Status status) {
                             status_ = std::move(status);
                             done_.Notify();
                           });
  }

  absl::StatusOr<std::string> Wait() {
    if (!done_.WaitForNotificationWithTimeout(kWaitTimeout)) {
      return absl::InternalError("the call never completed");
    }
    if (!status_.ok()) return status_;
    return response_.payload();
  }

 private:
  v1::EchoRequest request_;
  v1::EchoResponse response_;
  absl::Status status_;
  absl::Notification done_;
};

// Long backoff: an ejected backend stays out for the whole test.
BalancedChannelOptions StickyEjection() {
  BalancedChannelOptions options;
  options.backoff_initial = absl::Seconds(60);
  options.backoff_max = absl::Seconds(60);
  options.health_check_interval = absl::Seconds(60);
  return options;
}

std::shared_ptr<BalancedChannel> MakeChannel(
    std::vector<std::string> addresses) {
  absl::StatusOr<std::shared_ptr<BalancedChannel>> channel =
      BalancedChannel::Create(std::move(addresses), StickyEjection());
  EXPECT_THAT(channel, IsOk());
  return channel.ok() ? *channel : nullptr;
}

// The next REQUEST on `connection`: its call id, and its payload's message.
absl::StatusOr<std::pair<std::uint32_t, std::string>> ReadEcho(
    ScriptedConnection& connection) {
  absl::StatusOr<ReceivedFrame> frame =
      connection.ReadFrameOf(FrameType::kRequest);
  if (!frame.ok()) return frame.status();
  absl::StatusOr<DecodedRequest> request = ParseRequest(frame->payload);
  if (!request.ok()) return request.status();
  v1::EchoRequest echo;
  if (!echo.ParseFromString(request->message)) {
    return absl::InternalError("not an EchoRequest");
  }
  return std::make_pair(frame->header.call_id, echo.payload());
}

void Answer(ScriptedConnection& connection, std::uint32_t call_id,
            const std::string& payload) {
  v1::EchoResponse response;
  response.set_payload(payload);
  connection.SendResponse(call_id, absl::OkStatus(), {}, &response);
}

void SendGoaway(ScriptedConnection& connection, std::uint32_t last_call_id,
                absl::StatusCode code) {
  net::Buffer frame;
  AppendGoaway(&frame, Goaway{last_call_id, code, "test"});
  connection.Send(frame.View());
}

// A GOAWAY's last_call_id says which calls the server did not take: those
// go to the next backend (and succeed there); the one it took finishes on
// the draining server. The drain ejects it for new calls.
TEST(BalancedChannelScriptedTest, CallsAfterGoawaysLastCallIdGoElsewhere) {
  ScriptedRawServer first;
  ScriptedRawServer second;
  std::shared_ptr<BalancedChannel> channel =
      MakeChannel({first.address(), second.address()});
  ASSERT_NE(channel, nullptr);

  PendingEcho a(*channel, "a");  // first
  absl::StatusOr<std::unique_ptr<ScriptedConnection>> one = first.Accept();
  ASSERT_THAT(one, IsOk());
  ASSERT_THAT((*one)->Handshake(), IsOk());
  absl::StatusOr<std::pair<std::uint32_t, std::string>> call_a =
      ReadEcho(**one);
  ASSERT_THAT(call_a, IsOk());

  PendingEcho b(*channel, "b");  // second, answered at once
  absl::StatusOr<std::unique_ptr<ScriptedConnection>> two = second.Accept();
  ASSERT_THAT(two, IsOk());
  ASSERT_THAT((*two)->Handshake(), IsOk());
  absl::StatusOr<std::pair<std::uint32_t, std::string>> call_b =
      ReadEcho(**two);
  ASSERT_THAT(call_b, IsOk());
  Answer(**two, call_b->first, "b from second");
  EXPECT_THAT(b.Wait(), IsOkAndHolds("b from second"));

  PendingEcho c(*channel, "c");  // first again: round-robin
  absl::StatusOr<std::pair<std::uint32_t, std::string>> call_c =
      ReadEcho(**one);
  ASSERT_THAT(call_c, IsOk());
  EXPECT_EQ(call_c->second, "c");

  // The drain took a, not c.
  SendGoaway(**one, call_a->first, absl::StatusCode::kUnavailable);
  absl::StatusOr<std::pair<std::uint32_t, std::string>> retried =
      ReadEcho(**two);
  ASSERT_THAT(retried, IsOk());
  EXPECT_EQ(retried->second, "c");
  Answer(**two, retried->first, "c from second");
  EXPECT_THAT(c.Wait(), IsOkAndHolds("c from second"));
  Answer(**one, call_a->first, "a from first");
  EXPECT_THAT(a.Wait(), IsOkAndHolds("a from first"));

  EXPECT_EQ(channel->EjectedCount(), 1);
  PendingEcho d(*channel, "d");  // not the draining server
  absl::StatusOr<std::pair<std::uint32_t, std::string>> call_d =
      ReadEcho(**two);
  ASSERT_THAT(call_d, IsOk());
  Answer(**two, call_d->first, "d from second");
  EXPECT_THAT(d.Wait(), IsOkAndHolds("d from second"));
}

// The two-phase drain (PROTOCOL.md §5.3) as the client sees it: the notice
// (GOAWAY 0xFFFFFFFF, PING "DRAINING") fails nothing, stops new calls on
// that connection and is answered with the PING's ACK; the second GOAWAY's
// lower last_call_id then sends the calls above it elsewhere, not-sent.
TEST(BalancedChannelScriptedTest,
     TwoPhaseDrainRetriesOnlyCallsAboveSecondGoaway) {
  ScriptedRawServer first;
  ScriptedRawServer second;
  std::shared_ptr<BalancedChannel> channel =
      MakeChannel({first.address(), second.address()});
  ASSERT_NE(channel, nullptr);

  PendingEcho a(*channel, "a");  // first
  absl::StatusOr<std::unique_ptr<ScriptedConnection>> one = first.Accept();
  ASSERT_THAT(one, IsOk());
  ASSERT_THAT((*one)->Handshake(), IsOk());
  absl::StatusOr<std::pair<std::uint32_t, std::string>> call_a =
      ReadEcho(**one);
  ASSERT_THAT(call_a, IsOk());
  PendingEcho b(*channel, "b");  // second
  absl::StatusOr<std::unique_ptr<ScriptedConnection>> two = second.Accept();
  ASSERT_THAT(two, IsOk());
  ASSERT_THAT((*two)->Handshake(), IsOk());
  absl::StatusOr<std::pair<std::uint32_t, std::string>> call_b =
      ReadEcho(**two);
  ASSERT_THAT(call_b, IsOk());
  Answer(**two, call_b->first, "b from second");
  EXPECT_THAT(b.Wait(), IsOkAndHolds("b from second"));
  PendingEcho c(*channel, "c");  // first again
  absl::StatusOr<std::pair<std::uint32_t, std::string>> call_c =
      ReadEcho(**one);
  ASSERT_THAT(call_c, IsOk());

  SendGoaway(**one, 0xFFFFFFFF, absl::StatusCode::kUnavailable);
  net::Buffer ping;
  AppendFrame(&ping, FrameType::kPing, 0, 0, {kDrainPingPayload});
  (*one)->Send(ping.View());
  absl::StatusOr<ReceivedFrame> ack = (*one)->ReadFrameOf(FrameType::kPing);
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->header.flags, kFlagAck);
  EXPECT_EQ(ack->payload, kDrainPingPayload);
  // Nothing was retried: the notice names no call as not taken.
  EXPECT_TRUE((*two)->QuietFor(absl::Milliseconds(200)));

  // The second GOAWAY: a was read, c was not.
  SendGoaway(**one, call_a->first, absl::StatusCode::kUnavailable);
  absl::StatusOr<std::pair<std::uint32_t, std::string>> retried =
      ReadEcho(**two);
  ASSERT_THAT(retried, IsOk());
  EXPECT_EQ(retried->second, "c");
  Answer(**two, retried->first, "c from second");
  EXPECT_THAT(c.Wait(), IsOkAndHolds("c from second"));
  Answer(**one, call_a->first, "a from first");
  EXPECT_THAT(a.Wait(), IsOkAndHolds("a from first"));
  EXPECT_TRUE((*one)->WaitForEof());  // Idle after a: the client closes.
}

// GOAWAY OK only closes an idle connection (PROTOCOL.md §5.5): the server
// still serves, so it is not ejected and the next call reconnects to it.
TEST(BalancedChannelScriptedTest, IdleGoawayDoesNotEject) {
  ScriptedRawServer server;
  ScriptedRawServer other;
  std::shared_ptr<BalancedChannel> channel =
      MakeChannel({server.address(), other.address()});
  ASSERT_NE(channel, nullptr);

  PendingEcho first(*channel, "1");
  absl::StatusOr<std::unique_ptr<ScriptedConnection>> one = server.Accept();
  ASSERT_THAT(one, IsOk());
  ASSERT_THAT((*one)->Handshake(), IsOk());
  absl::StatusOr<std::pair<std::uint32_t, std::string>> call = ReadEcho(**one);
  ASSERT_THAT(call, IsOk());
  Answer(**one, call->first, "1");
  ASSERT_THAT(first.Wait(), IsOk());

  SendGoaway(**one, call->first, absl::StatusCode::kOk);
  // The client closes its idle connection once it has read the GOAWAY.
  ASSERT_TRUE((*one)->WaitForEof());
  EXPECT_EQ(channel->EjectedCount(), 0);
}

// A connection that closes before the server's preface ran none of its
// calls (a backlog reset by a server that stopped accepting): the call is
// sent again on the next backend.
TEST(BalancedChannelScriptedTest, ClosedBeforeThePrefaceIsRetriedElsewhere) {
  ScriptedRawServer first;
  ScriptedRawServer second;
  std::shared_ptr<BalancedChannel> channel =
      MakeChannel({first.address(), second.address()});
  ASSERT_NE(channel, nullptr);

  PendingEcho call(*channel, "x");
  absl::StatusOr<std::unique_ptr<ScriptedConnection>> one = first.Accept();
  ASSERT_THAT(one, IsOk());
  ASSERT_THAT((*one)->ReadClientPreface(), IsOk());
  ASSERT_THAT((*one)->ReadFrameOf(FrameType::kRequest), IsOk());
  (*one)->Close();  // no preface sent

  absl::StatusOr<std::unique_ptr<ScriptedConnection>> two = second.Accept();
  ASSERT_THAT(two, IsOk());
  ASSERT_THAT((*two)->Handshake(), IsOk());
  absl::StatusOr<std::pair<std::uint32_t, std::string>> retried =
      ReadEcho(**two);
  ASSERT_THAT(retried, IsOk());
  Answer(**two, retried->first, "x from second");
  EXPECT_THAT(call.Wait(), IsOkAndHolds("x from second"));
  EXPECT_EQ(channel->EjectedCount(), 1);
}

// After the preface, a REQUEST that was written may have run: a lost
// connection fails the call, which is not sent anywhere else.
TEST(BalancedChannelScriptedTest, SentCallOnALostConnectionFailsUnretried) {
  ScriptedRawServer first;
  ScriptedRawServer second;
  std::shared_ptr<BalancedChannel> channel =
      MakeChannel({first.address(), second.address()});
  ASSERT_NE(channel, nullptr);

  PendingEcho call(*channel, "x");
  absl::StatusOr<std::unique_ptr<ScriptedConnection>> one = first.Accept();
  ASSERT_THAT(one, IsOk());
  ASSERT_THAT((*one)->Handshake(), IsOk());
  ASSERT_THAT(ReadEcho(**one), IsOk());
  (*one)->Close();

  EXPECT_THAT(call.Wait(), StatusIs(absl::StatusCode::kUnavailable,
                                    Not(HasSubstr("no raw backend"))));
  // Nothing reached the second server.
  EXPECT_THAT(second.Accept(absl::Milliseconds(300)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(channel->EjectedCount(), 1);
}

}  // namespace
}  // namespace dualrpc::raw
