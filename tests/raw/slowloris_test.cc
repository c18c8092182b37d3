// The raw server's time bounds (docs/PROTOCOL.md §4.3; issue 12, finding 3):
// the handshake timeout, the frame deadline with its minimum rate, the cap
// on connections before their preface, and admission at max_connections.
// Real sockets on loopback; the slow peers trickle on a timer, with small
// timeouts where that changes nothing that is proved. The run with the
// defaults and the real process is tests/integration/slowloris_server_test.

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/raw/server/raw_server.h"
#include "dualrpc/raw/wire/frame_decoder.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/rpc/transport_stats.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "raw/slowloris_attack.h"
#include "raw/test_client.h"
#include "testing/status_matchers.h"
#include "testing/transport_stats.h"
#include "testing/unary_method.h"
#include "testing/wait.h"

namespace dualrpc::raw {
namespace {

using ::dualrpc_testing::Eventually;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::RefusedCount;
using ::dualrpc_testing::StatusIs;
using ::dualrpc_testing::UnaryMethodFrom;
using ::testing::HasSubstr;
using ::testing::Lt;

constexpr char kEcho[] = "/dualrpc.test.Test/Echo";
// Never completes while the test runs: keeps its connection busy.
constexpr char kHold[] = "/dualrpc.test.Test/Hold";

v1::EchoRequest EchoRequestOf(std::string payload) {
  v1::EchoRequest request;
  request.set_payload(std::move(payload));
  return request;
}

// Waits `duration` (the pace of a trickle, not a synchronisation).
void Pause(absl::Duration duration) {
  absl::Notification never;
  never.WaitForNotificationWithTimeout(duration);
}

class SlowlorisTest : public ::testing::Test {
 protected:
  SlowlorisTest() {
    EXPECT_THAT(
        registry_.AddMethod(UnaryMethodFrom<v1::EchoRequest, v1::EchoResponse>(
            kEcho,
            [](rpc::ServerCallContext*, const v1::EchoRequest& in,
               v1::EchoResponse* out, rpc::UnaryDone done) {
              out->set_payload(in.payload());
              std::move(done)(absl::OkStatus());
            })),
        IsOk());
    EXPECT_THAT(
        registry_.AddMethod(UnaryMethodFrom<v1::EchoRequest, v1::EchoResponse>(
            kHold,
            [this](rpc::ServerCallContext*, const v1::EchoRequest&,
                   v1::EchoResponse*, rpc::UnaryDone done) {
              absl::MutexLock lock(&mu_);
              held_.push_back(std::move(done));
            })),
        IsOk());
  }

  void StartServer(RawServer::Options options) {
    options.listen_address = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<RawServer>> server =
        RawServer::Start(options, &registry_);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
  }

  // One loop, so that which connection is evicted does not depend on
  // dealing.
  static RawServer::Options OneLoop() {
    RawServer::Options options;
    options.event_loop_threads = 1;
    return options;
  }

  std::unique_ptr<TestClient> Connect() {
    auto client = std::make_unique<TestClient>(server_->address());
    client->Send(PrefaceBytes());
    EXPECT_THAT(client->ReadPreface(), IsOk());
    return client;
  }

  // An Echo on `client` answered.
  static void ExpectEcho(TestClient& client, std::uint32_t call_id) {
    client.Send(RequestBytes(call_id, kEcho, EchoRequestOf("hi")));
    absl::StatusOr<Response> response = client.ReadResponse(call_id);
    ASSERT_THAT(response, IsOk());
    EXPECT_THAT(response->status, IsOk());
  }

  // A call on `client` that stays in flight.
  void Hold(TestClient& client, std::uint32_t call_id, std::size_t held) {
    client.Send(RequestBytes(call_id, kHold, EchoRequestOf("held")));
    EXPECT_TRUE(Eventually([&] {
      absl::MutexLock lock(&mu_);
      return held_.size() >= held;
    }));
  }

  static void ExpectGoaway(TestClient& client, absl::StatusCode code,
                           absl::string_view message_part,
                           absl::Duration timeout = absl::Seconds(10)) {
    absl::StatusOr<ReceivedFrame> frame = client.ReadFrame(timeout);
    ASSERT_THAT(frame, IsOk());
    ASSERT_EQ(frame->header.type, FrameType::kGoaway);
    absl::StatusOr<Goaway> goaway = ParseGoaway(frame->payload);
    ASSERT_THAT(goaway, IsOk());
    EXPECT_EQ(goaway->code, code) << goaway->message;
    EXPECT_THAT(goaway->message, HasSubstr(std::string(message_part)));
  }

  // Declared before server_ so that they outlive it.
  absl::Mutex mu_;
  std::vector<rpc::UnaryDone> held_ ABSL_GUARDED_BY(mu_);
  rpc::ServiceRegistry registry_;
  std::unique_ptr<RawServer> server_;
};

// ---- FrameDecoder::InProgress ------------------------------------------------

// What the frame deadline is built on: which frame the input ends inside
// (the same index until it completes), and its length once the header is in.
TEST(FrameInProgressTest, NamesThePartialFrameAndItsLength) {
  FrameLimits limits;
  limits.max_message_bytes = 1024;
  FrameDecoder decoder(limits);
  net::Buffer input;
  input.Append(PrefaceBytes().substr(0, 5));
  ASSERT_EQ(decoder.Next(&input).kind, FrameDecoder::Event::kNeedMoreInput);
  EXPECT_FALSE(decoder.InProgress(input).has_value());  // The preface's.
  const std::string first = FrameBytes(FrameType::kCancel, 0, 1, "");
  const std::string second = RequestBytes(2, kEcho, EchoRequestOf("abc"));
  input.Append(PrefaceBytes().substr(5) + first.substr(0, 3));
  ASSERT_EQ(decoder.Next(&input).kind, FrameDecoder::Event::kPreface);
  ASSERT_EQ(decoder.Next(&input).kind, FrameDecoder::Event::kNeedMoreInput);
  std::optional<FrameDecoder::PartialFrame> partial = decoder.InProgress(input);
  ASSERT_TRUE(partial.has_value());
  EXPECT_EQ(partial->index, 0u);
  EXPECT_FALSE(partial->payload_length.has_value());
  input.Append(first.substr(3) + second.substr(0, kFrameHeaderSize + 1));
  ASSERT_EQ(decoder.Next(&input).kind, FrameDecoder::Event::kFrame);
  ASSERT_EQ(decoder.Next(&input).kind, FrameDecoder::Event::kNeedMoreInput);
  partial = decoder.InProgress(input);
  ASSERT_TRUE(partial.has_value());
  EXPECT_EQ(partial->index, 1u);
  EXPECT_EQ(partial->payload_length, second.size() - kFrameHeaderSize);
  input.Append(second.substr(kFrameHeaderSize + 1));
  ASSERT_EQ(decoder.Next(&input).kind, FrameDecoder::Event::kFrame);
  ASSERT_EQ(decoder.Next(&input).kind, FrameDecoder::Event::kNeedMoreInput);
  EXPECT_FALSE(decoder.InProgress(input).has_value());
  // An oversized REQUEST being discarded is still in progress, with its
  // declared length.
  input.Append(FrameBytes(FrameType::kRequest, kFlagEndStream, 3,
                          std::string(40000, 'x'))
                   .substr(0, kFrameHeaderSize + 10));
  ASSERT_EQ(decoder.Next(&input).kind,
            FrameDecoder::Event::kOversizedCallFrame);
  ASSERT_EQ(decoder.Next(&input).kind, FrameDecoder::Event::kNeedMoreInput);
  partial = decoder.InProgress(input);
  ASSERT_TRUE(partial.has_value());
  EXPECT_EQ(partial->index, 2u);
  EXPECT_EQ(partial->payload_length, 40000u);
}

// ---- The handshake timeout ------------------------------------------------

// A preface trickled one byte per 100 ms never completes inside a 300 ms
// handshake timeout: the connection is closed without a word although bytes
// keep coming (before: only the 300 s idle timeout, reset by every byte).
TEST_F(SlowlorisTest, HandshakeTimeoutClosesATrickledPrefaceSilently) {
  RawServer::Options options = OneLoop();
  options.handshake_timeout = absl::Milliseconds(300);
  StartServer(options);
  const absl::Time start = absl::Now();
  TestClient slow(server_->address());
  const std::string preface = PrefaceBytes();
  bool closed = false;
  for (std::size_t i = 0; i + 1 < preface.size() && !closed; ++i) {
    slow.Send(preface.substr(i, 1));
    // Nothing is ever written to it: EOF with no bytes before it.
    closed = slow.ReadEof(absl::Milliseconds(100));
  }
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(closed) << "still open after " << took;
  RecordProperty("closed_after_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(took)));
  EXPECT_GE(took, absl::Milliseconds(290));
  EXPECT_LT(took, absl::Milliseconds(700));
  EXPECT_EQ(RefusedCount(server_->GetStats(), rpc::kRefusedHandshakeTimeout),
            1);
  // A connection past its preface is not subject to it.
  std::unique_ptr<TestClient> established = Connect();
  Pause(absl::Milliseconds(500));
  ExpectEcho(*established, 1);
}

// ---- The frame deadline ---------------------------------------------------

// A frame header trickled one byte per 100 ms: GOAWAY RESOURCE_EXHAUSTED at
// the 300 ms frame timeout, although every byte is activity for the idle
// timer (before: never closed).
TEST_F(SlowlorisTest, FrameDeadlineIsNotResetByTrickledBytes) {
  RawServer::Options options = OneLoop();
  options.frame_timeout = absl::Milliseconds(300);
  StartServer(options);
  std::unique_ptr<TestClient> slow = Connect();
  ExpectEcho(*slow, 1);  // Whole frames are not affected.
  const std::string header =
      RequestBytes(2, kEcho, EchoRequestOf("x")).substr(0, kFrameHeaderSize);
  const absl::Time start = absl::Now();
  absl::StatusOr<ReceivedFrame> frame =
      absl::DeadlineExceededError("nothing sent");
  for (std::size_t i = 0; i < header.size(); ++i) {
    slow->Send(header.substr(i, 1));
    frame = slow->ReadFrame(absl::Milliseconds(100));
    if (frame.ok()) break;
  }
  const absl::Duration took = absl::Now() - start;
  RecordProperty("goaway_after_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(took)));
  ASSERT_THAT(frame, IsOk());
  ASSERT_EQ(frame->header.type, FrameType::kGoaway);
  absl::StatusOr<Goaway> goaway = ParseGoaway(frame->payload);
  ASSERT_THAT(goaway, IsOk());
  EXPECT_EQ(goaway->code, absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(goaway->message, "frame not completed in time");
  EXPECT_EQ(goaway->last_call_id, 1u);
  EXPECT_GE(took, absl::Milliseconds(290));
  // Before the header was complete (1.2 s at this pace).
  EXPECT_LT(took, absl::Milliseconds(1100));
  EXPECT_TRUE(slow->ReadEof());
}

// The deadline grows with the declared payload at min_frame_rate: a 256 KiB
// REQUEST sent at 160 KiB/s takes 1.6 s, far past the 300 ms frame timeout
// but within its 300 ms + 2 s, and is answered; the same sent at 40 KiB/s
// gets GOAWAY at about 2.3 s.
TEST_F(SlowlorisTest, MinFrameRateExtendsTheDeadlineOfLargeFrames) {
  RawServer::Options options = OneLoop();
  options.frame_timeout = absl::Milliseconds(300);
  options.min_frame_rate_bytes_per_second = 128 * 1024;
  StartServer(options);
  std::unique_ptr<TestClient> fast = Connect();
  std::unique_ptr<TestClient> slow = Connect();
  const std::string request =
      RequestBytes(1, kEcho, EchoRequestOf(std::string(256 * 1024 - 64, 'x')));
  constexpr std::size_t kFastChunk = 16 * 1024;
  constexpr std::size_t kSlowChunk = 4 * 1024;
  const absl::Time start = absl::Now();
  std::size_t fast_sent = 0;
  std::size_t slow_sent = 0;
  absl::StatusOr<ReceivedFrame> slow_frame =
      absl::DeadlineExceededError("nothing sent");
  absl::Duration slow_took;
  while (slow_sent < request.size()) {
    if (fast_sent < request.size()) {
      fast->Send(request.substr(fast_sent, kFastChunk));
      fast_sent += kFastChunk;
    }
    slow->Send(request.substr(slow_sent, kSlowChunk));
    slow_sent += kSlowChunk;
    slow_frame = slow->ReadFrame(absl::Milliseconds(100));
    if (slow_frame.ok()) {
      slow_took = absl::Now() - start;
      break;
    }
  }
  absl::StatusOr<Response> response = fast->ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->status, IsOk());
  ASSERT_THAT(slow_frame, IsOk());
  ASSERT_EQ(slow_frame->header.type, FrameType::kGoaway);
  absl::StatusOr<Goaway> goaway = ParseGoaway(slow_frame->payload);
  ASSERT_THAT(goaway, IsOk());
  EXPECT_EQ(goaway->code, absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(goaway->message, "frame not completed in time");
  RecordProperty("slow_goaway_after_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(slow_took)));
  EXPECT_GE(slow_took, absl::Milliseconds(2250));
}

// ---- Pending connections --------------------------------------------------

// Connections that have not sent their preface do not count against
// max_connections (before: ten silent sockets kept every client out).
TEST_F(SlowlorisTest, PendingConnectionsDoNotCountAgainstMaxConnections) {
  RawServer::Options options = OneLoop();
  options.max_connections = 2;
  StartServer(options);
  std::vector<std::unique_ptr<TestClient>> silent;
  for (int i = 0; i < 10; ++i) {
    silent.push_back(std::make_unique<TestClient>(server_->address()));
  }
  ASSERT_TRUE(Eventually(
      [&] { return server_->GetStats().connections_open == 10; }));
  std::unique_ptr<TestClient> first = Connect();
  std::unique_ptr<TestClient> second = Connect();
  ExpectEcho(*first, 1);
  ExpectEcho(*second, 1);
  EXPECT_EQ(RefusedCount(server_->GetStats(), rpc::kRefusedMaxConnections), 0);
}

// At the cap on pending connections the oldest one is closed, silently, to
// admit the newcomer.
TEST_F(SlowlorisTest, AtThePendingCapTheOldestPendingIsClosed) {
  RawServer::Options options = OneLoop();
  options.max_pending_connections = 3;
  StartServer(options);
  std::vector<std::unique_ptr<TestClient>> pending;
  for (int i = 0; i < 3; ++i) {
    pending.push_back(std::make_unique<TestClient>(server_->address()));
    // In order: the loop sees each before the next.
    ASSERT_TRUE(Eventually([&] {
      return server_->GetStats().connections_open == i + 1;
    }));
  }
  TestClient newest(server_->address());
  EXPECT_TRUE(pending[0]->ReadEof());
  EXPECT_EQ(RefusedCount(server_->GetStats(), rpc::kRefusedMaxPending), 1);
  // The others are still there and still served.
  for (int i = 1; i < 3; ++i) {
    pending[i]->Send(PrefaceBytes());
    ASSERT_THAT(pending[i]->ReadPreface(), IsOk());
    ExpectEcho(*pending[i], 1);
  }
  newest.Send(PrefaceBytes());
  ASSERT_THAT(newest.ReadPreface(), IsOk());
  ExpectEcho(newest, 1);
}

// ---- Admission at max_connections ------------------------------------------

// At the limit a newcomer takes the place of the connection that has made
// least progress: first one stalled inside a frame (GOAWAY
// RESOURCE_EXHAUSTED), then the one idle the longest (GOAWAY UNAVAILABLE);
// one with a call in flight never. With all busy, the newcomer is refused.
TEST_F(SlowlorisTest, AtTheLimitANewcomerEvictsTheLeastProgress) {
  RawServer::Options options = OneLoop();
  options.max_connections = 3;
  StartServer(options);
  std::unique_ptr<TestClient> busy = Connect();
  Hold(*busy, 1, 1);
  std::unique_ptr<TestClient> idle = Connect();
  ExpectEcho(*idle, 1);
  std::unique_ptr<TestClient> stalled = Connect();
  stalled->Send(
      RequestBytes(1, kEcho, EchoRequestOf("x")).substr(0, kFrameHeaderSize));

  std::unique_ptr<TestClient> first = Connect();
  ExpectEcho(*first, 1);
  ExpectGoaway(*stalled, absl::StatusCode::kResourceExhausted,
               "too many connections (limit 3)");
  EXPECT_TRUE(stalled->ReadEof());

  std::unique_ptr<TestClient> second = Connect();
  ExpectEcho(*second, 1);
  ExpectGoaway(*idle, absl::StatusCode::kUnavailable,
               "too many connections (limit 3)");
  EXPECT_TRUE(idle->ReadEof());

  // busy, first and second are left; make the newer two busy too.
  Hold(*first, 2, 2);
  Hold(*second, 2, 3);
  TestClient refused(server_->address());
  refused.Send(PrefaceBytes());
  ASSERT_THAT(refused.ReadPreface(), IsOk());
  ExpectGoaway(refused, absl::StatusCode::kResourceExhausted,
               "too many connections (limit 3)");
  EXPECT_TRUE(refused.ReadEof());

  const rpc::TransportStats stats = server_->GetStats();
  EXPECT_EQ(RefusedCount(stats, rpc::kRefusedEvicted), 2);
  EXPECT_EQ(RefusedCount(stats, rpc::kRefusedMaxConnections), 1);
  // The busy ones were never touched.
  ExpectEcho(*busy, 2);
}

// The slowloris at the connection limit, paced 20 times faster
// (a byte every 50 ms) so that it passes both phases in a second: while
// the 200 trickle their prefaces (pending) and while they trickle a frame
// header (at the limit), a fresh client is served within 1 s. Before, it
// was refused with GOAWAY RESOURCE_EXHAUSTED for as long as they trickled.
TEST_F(SlowlorisTest, ANewcomerIsServedDuringTheSlowlorisAtTheLimit) {
  RawServer::Options options;
  options.event_loop_threads = 2;
  options.max_connections = 200;
  StartServer(options);
  constexpr absl::Duration kTick = absl::Milliseconds(50);
  SlowlorisAttack attack(server_->address(), 200, kTick, kEcho);
  // Inside the prefaces (8 bytes: 0 to 350 ms), then inside the headers
  // (400 ms to 950 ms), once all 200 are admitted.
  for (absl::Duration at : {absl::Milliseconds(150), absl::Milliseconds(600),
                            absl::Milliseconds(800)}) {
    Pause(attack.start() + at - absl::Now());
    if (at >= absl::Milliseconds(600)) {
      ASSERT_TRUE(Eventually([&] {
        return server_->GetStats().connections_open >= 200;
      }));
    }
    absl::StatusOr<absl::Duration> took =
        TimeFreshEcho(server_->address(), kEcho);
    ASSERT_THAT(took, IsOk()) << "at " << at;
    std::fprintf(stderr, "fresh Echo at %s into the attack: %s\n",
                 absl::FormatDuration(at).c_str(),
                 absl::FormatDuration(*took).c_str());
    EXPECT_THAT(*took, Lt(absl::Seconds(1))) << "at " << at;
  }
  attack.Stop();
  // The later probes each took the place of an attacker stalled in its
  // header.
  EXPECT_GE(RefusedCount(server_->GetStats(), rpc::kRefusedEvicted), 1);
  EXPECT_GE(attack.CountGoaways(absl::StatusCode::kResourceExhausted), 1);
}

TEST_F(SlowlorisTest, RejectsNonPositiveTimeBounds) {
  RawServer::Options options;
  options.frame_timeout = absl::ZeroDuration();
  EXPECT_THAT(RawServer::Start(options, &registry_),
              StatusIs(absl::StatusCode::kInvalidArgument));
  options = {};
  options.min_frame_rate_bytes_per_second = 0;
  EXPECT_THAT(RawServer::Start(options, &registry_),
              StatusIs(absl::StatusCode::kInvalidArgument));
  options = {};
  options.handshake_timeout = absl::ZeroDuration();
  EXPECT_THAT(RawServer::Start(options, &registry_),
              StatusIs(absl::StatusCode::kInvalidArgument));
  options = {};
  options.max_pending_connections = 0;
  EXPECT_THAT(RawServer::Start(options, &registry_),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace dualrpc::raw
