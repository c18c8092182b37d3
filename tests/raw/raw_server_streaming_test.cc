// Streaming calls on RawServer (docs/PROTOCOL.md §7), frame by frame: a
// server started in-process on 127.0.0.1:0 serves the hand-written methods
// of streaming_methods.h, and the blocking TestClient writes exact frames
// and reads what comes back over a real socket.

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dualrpc/raw/server/raw_server.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "raw/echo_methods.h"
#include "raw/streaming_methods.h"
#include "raw/test_client.h"
#include "testing/status_matchers.h"
#include "testing/unary_method.h"
#include "testing/wait.h"

namespace dualrpc::raw {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Pair;

constexpr char kUnaryEcho[] = "/dualrpc.v1.FileService/Echo";
constexpr char kPeer[] = "/dualrpc.v1.FileService/Peer";
// Unary; completes when the test runs the parked done.
constexpr char kParkUnary[] = "/dualrpc.test.Unary/Park";
// Long enough to see that nothing more comes (observation, not
// synchronisation: the assertion is that nothing arrives).
constexpr absl::Duration kSilence = absl::Milliseconds(300);

v1::EchoRequest Req(absl::string_view payload) {
  v1::EchoRequest request;
  request.set_payload(std::string(payload));
  return request;
}

class RawServerStreamingTest : public ::testing::Test {
 protected:
  RawServerStreamingTest() {
    AddEchoAndPeerMethods(kUnaryEcho, kPeer, &registry_);
    AddStreamingMethods(&probe_, &registry_);
    EXPECT_THAT(
        registry_.AddMethod(
            dualrpc_testing::UnaryMethodFrom<v1::EchoRequest, v1::EchoResponse>(
                kParkUnary,
                [this](rpc::ServerCallContext*, const v1::EchoRequest&,
                       v1::EchoResponse*, rpc::UnaryDone done) {
                  absl::MutexLock lock(&mu_);
                  parked_unary_ = std::move(done);
                })),
        IsOk());
  }

  // Runs the parked unary call's done once it is there.
  bool CompleteParkedUnary() {
    rpc::UnaryDone done;
    const bool parked = dualrpc_testing::Eventually([&] {
      absl::MutexLock lock(&mu_);
      if (parked_unary_ == nullptr) return false;
      done = std::move(parked_unary_);
      parked_unary_ = nullptr;
      return true;
    });
    if (parked) std::move(done)(absl::OkStatus());
    return parked;
  }

  void StartServer(RawServer::Options options = {}) {
    options.listen_address = "127.0.0.1:0";
    options.event_loop_threads = 1;
    absl::StatusOr<std::unique_ptr<RawServer>> server =
        RawServer::Start(options, &registry_);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
  }

  std::unique_ptr<TestClient> Connect(
      std::uint8_t minor = kStreamingMinorVersion) {
    auto client = std::make_unique<TestClient>(server_->address());
    client->Send(PrefaceBytes(kMajorVersion, minor));
    EXPECT_THAT(client->ReadPreface(), IsOk());
    return client;
  }

  // The next frame, which must be a MESSAGE for `call_id`: its payload as
  // an EchoResponse's.
  static std::string ReadMessage(TestClient& client, std::uint32_t call_id) {
    absl::StatusOr<ReceivedFrame> frame = client.ReadFrame();
    if (!frame.ok()) return absl::StrCat("<", frame.status().ToString(), ">");
    EXPECT_EQ(frame->header.type, FrameType::kMessage);
    EXPECT_EQ(frame->header.call_id, call_id);
    EXPECT_EQ(frame->header.flags, 0);
    v1::EchoResponse response;
    EXPECT_TRUE(response.ParseFromString(frame->payload));
    return response.payload();
  }

  // The connection still serves: a unary echo on it is answered.
  static void ExpectUnaryServed(TestClient& client, std::uint32_t call_id) {
    client.Send(RequestBytes(call_id, kUnaryEcho, Req("still")));
    absl::StatusOr<Response> response = client.ReadResponse(call_id);
    ASSERT_THAT(response, IsOk());
    EXPECT_THAT(response->status, IsOk());
  }

  static void ExpectSilence(TestClient& client) {
    absl::StatusOr<ReceivedFrame> frame = client.ReadFrame(kSilence);
    EXPECT_THAT(frame, StatusIs(absl::StatusCode::kDeadlineExceeded))
        << "got a " << FrameTypeName(frame->header.type) << " for call "
        << frame->header.call_id;
  }

  static void ExpectGoaway(TestClient& client, absl::StatusCode code) {
    absl::StatusOr<ReceivedFrame> frame = client.ReadFrame();
    ASSERT_THAT(frame, IsOk());
    ASSERT_EQ(frame->header.type, FrameType::kGoaway);
    absl::StatusOr<Goaway> goaway = ParseGoaway(frame->payload);
    ASSERT_THAT(goaway, IsOk());
    EXPECT_EQ(goaway->code, code) << goaway->message;
  }

  // §5.3: the notice (GOAWAY 0xFFFFFFFF, DRAINING PING), our ACK, then the
  // second GOAWAY naming `last_call_id`.
  static void ExpectDrainGoaways(TestClient& client,
                                 std::uint32_t last_call_id) {
    absl::StatusOr<ReceivedFrame> notice = client.ReadFrame();
    ASSERT_THAT(notice, IsOk());
    ASSERT_EQ(notice->header.type, FrameType::kGoaway);
    absl::StatusOr<Goaway> first = ParseGoaway(notice->payload);
    ASSERT_THAT(first, IsOk());
    EXPECT_EQ(first->code, absl::StatusCode::kUnavailable);
    EXPECT_EQ(first->last_call_id, 0xFFFFFFFFu);
    absl::StatusOr<ReceivedFrame> ping = client.ReadFrame();
    ASSERT_THAT(ping, IsOk());
    ASSERT_EQ(ping->header.type, FrameType::kPing);
    EXPECT_EQ(ping->payload, kDrainPingPayload);
    client.Send(FrameBytes(FrameType::kPing, kFlagAck, 0, ping->payload));
    absl::StatusOr<ReceivedFrame> frame = client.ReadFrame();
    ASSERT_THAT(frame, IsOk());
    ASSERT_EQ(frame->header.type, FrameType::kGoaway);
    absl::StatusOr<Goaway> second = ParseGoaway(frame->payload);
    ASSERT_THAT(second, IsOk());
    EXPECT_EQ(second->code, absl::StatusCode::kUnavailable);
    EXPECT_EQ(second->last_call_id, last_call_id);
  }

  absl::Mutex mu_;
  rpc::UnaryDone parked_unary_ ABSL_GUARDED_BY(mu_);
  rpc::ServiceRegistry registry_;
  StreamProbe probe_;
  std::unique_ptr<RawServer> server_;
};

// ---- The four kinds (§7.2) -------------------------------------------------

TEST_F(RawServerStreamingTest, ServerStreamingSendsMessagesThenAnEmptyResponse) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(RequestBytes(1, kCount, Req("3")));
  EXPECT_EQ(ReadMessage(*client, 1), "0");
  EXPECT_EQ(ReadMessage(*client, 1), "1");
  EXPECT_EQ(ReadMessage(*client, 1), "2");
  absl::StatusOr<Response> response = client->ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->status, IsOk());
  EXPECT_EQ(response->message, "");  // The responses went as MESSAGEs.
  EXPECT_TRUE(probe_.WaitFor("done count"));
  EXPECT_EQ(probe_.Count("cancel count"), 0);
}

TEST_F(RawServerStreamingTest, ClientStreamingAnswersInTheResponse) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(OpenStreamBytes(1, kSum));
  client->Send(MessageBytes(1, Req("ab")));
  client->Send(MessageBytes(1, Req("")));  // An all-default message.
  client->Send(MessageBytes(1, Req("cde")));
  client->Send(HalfCloseBytes(1));
  absl::StatusOr<Response> response = client->ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->status, IsOk());
  v1::EchoResponse sum;
  ASSERT_TRUE(sum.ParseFromString(response->message));
  EXPECT_EQ(sum.payload(), "3:5");
  EXPECT_TRUE(probe_.WaitFor("done sum"));
}

TEST_F(RawServerStreamingTest, ClientStreamingOpenedWithEndStreamHasOneRequest) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(RequestBytes(1, kSum, Req("four")));
  absl::StatusOr<Response> response = client->ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  ASSERT_THAT(response->status, IsOk());
  v1::EchoResponse sum;
  ASSERT_TRUE(sum.ParseFromString(response->message));
  EXPECT_EQ(sum.payload(), "1:4");
}

TEST_F(RawServerStreamingTest, BidiEchoesInOrderAndEndsWithTrailers) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(OpenStreamBytes(1, kBidiEcho));
  client->Send(MessageBytes(1, Req("one")));
  EXPECT_EQ(ReadMessage(*client, 1), "one");
  // A unary call interleaves with the stream.
  ExpectUnaryServed(*client, 2);
  client->Send(MessageBytes(1, Req("two")) + MessageBytes(1, Req("three")));
  EXPECT_EQ(ReadMessage(*client, 1), "two");
  EXPECT_EQ(ReadMessage(*client, 1), "three");
  client->Send(HalfCloseBytes(1));
  absl::StatusOr<Response> response = client->ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->status, IsOk());
  EXPECT_EQ(response->message, "");
  EXPECT_THAT(response->metadata, ElementsAre(Pair("echoed", "3")));
  EXPECT_TRUE(probe_.WaitFor("done echo"));
}

TEST_F(RawServerStreamingTest, ErrorAfterMessagesEndsTheCallAndIgnoresLaterFrames) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(OpenStreamBytes(1, kFailAfterTwo));
  client->Send(MessageBytes(1, Req("a")) + MessageBytes(1, Req("b")));
  EXPECT_EQ(ReadMessage(*client, 1), "a");
  EXPECT_EQ(ReadMessage(*client, 1), "b");
  absl::StatusOr<Response> response = client->ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status,
            absl::FailedPreconditionError("failed after 2"));
  // §7.5: frames that crossed the RESPONSE are ignored.
  client->Send(MessageBytes(1, Req("c")) + WindowUpdateBytes(1, 100) +
               HalfCloseBytes(1));
  ExpectUnaryServed(*client, 2);
  EXPECT_TRUE(probe_.WaitFor("done fail"));
  EXPECT_EQ(probe_.Count("cancel fail"), 0);
}

// ---- Errors (§7.5) ---------------------------------------------------------

TEST_F(RawServerStreamingTest, FramesForCallsNeverOpenedAreConnectionErrors) {
  StartServer();
  for (const std::string& frame :
       {MessageBytes(7, Req("x")), WindowUpdateBytes(7, 10)}) {
    std::unique_ptr<TestClient> client = Connect();
    ExpectUnaryServed(*client, 5);
    client->Send(frame);
    ExpectGoaway(*client, absl::StatusCode::kInternal);
  }
}

TEST_F(RawServerStreamingTest, BadWindowUpdatesAreConnectionErrors) {
  StartServer();
  std::string zero(4, '\0');
  std::string high_bit("\x80\0\0\x01", 4);
  for (const std::string& frame :
       {FrameBytes(FrameType::kWindowUpdate, 0, 1, zero),
        FrameBytes(FrameType::kWindowUpdate, 0, 1, high_bit),
        FrameBytes(FrameType::kWindowUpdate, 0, 1, "12345"),
        // 65,536 + 2,147,418,112 = 2^31: one above the largest window.
        WindowUpdateBytes(1, 0x7fff0000)}) {
    std::unique_ptr<TestClient> client = Connect();
    client->Send(OpenStreamBytes(1, kForever));
    client->Send(frame);
    ExpectGoaway(*client, absl::StatusCode::kInternal);
    EXPECT_TRUE(probe_.FinishParked(absl::OkStatus()));
  }
  // Every call was cancelled with its connection and then finished.
  EXPECT_TRUE(probe_.WaitFor("cancel forever", 4));
  EXPECT_TRUE(probe_.WaitFor("done forever", 4));
}

TEST_F(RawServerStreamingTest, CallErrorsOfStreamingFrames) {
  RawServer::Options options;
  options.max_message_bytes = 1024;
  StartServer(options);
  struct Case {
    std::string name;
    std::string frames;  // After the preface; call 1 is the one that fails.
    absl::Status expected;
  };
  const std::string open_forever = OpenStreamBytes(1, kForever);
  const std::string big(2000, 'x');
  const std::vector<Case> cases = {
      {"message on a server-streaming call",
       RequestBytes(1, kCount, Req("1000,500")) +
           MessageBytes(1, Req("x")),
       absl::InternalError("MESSAGE after the end of the request stream")},
      {"message after the half-close",
       open_forever + HalfCloseBytes(1) + MessageBytes(1, Req("x")),
       absl::InternalError("MESSAGE after the end of the request stream")},
      {"half-close with a payload",
       open_forever + FrameBytes(FrameType::kMessage, kFlagEndStream, 1, "x"),
       absl::InternalError("a half-close MESSAGE must be empty, not 1 bytes")},
      {"message that does not parse",
       OpenStreamBytes(1, kBidiEcho) +
           FrameBytes(FrameType::kMessage, 0, 1, "\xff"),
       absl::InvalidArgumentError(
           "request message does not parse as dualrpc.v1.EchoRequest")},
      {"message over the limit",
       open_forever + FrameBytes(FrameType::kMessage, 0, 1, big),
       absl::ResourceExhaustedError(
           "MESSAGE payload of 2000 bytes exceeds the message limit")},
      {"compressed message",
       open_forever + FrameBytes(FrameType::kMessage, kFlagCompressed, 1, "x"),
       absl::UnimplementedError("compression is not supported")},
      {"server-streaming REQUEST without END_STREAM",
       OpenStreamBytes(1, kCount),
       absl::InvalidArgumentError(
           "method /dualrpc.test.Stream/Count takes one request: send it in "
           "the REQUEST, with END_STREAM")},
      {"REQUEST without END_STREAM with a message",
       RequestBytes(1, kSum, Req("x"), 0, {}, /*flags=*/0),
       absl::InvalidArgumentError(
           "a REQUEST without END_STREAM must not carry a message: send the "
           "requests as MESSAGE frames")},
  };
  int forevers = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::unique_ptr<TestClient> client = Connect();
    client->Send(c.frames);
    absl::StatusOr<ReceivedFrame> frame = client->ReadFrame();
    // The server-streaming case sends its one big MESSAGE first.
    while (frame.ok() && frame->header.type == FrameType::kMessage) {
      frame = client->ReadFrame();
    }
    ASSERT_THAT(frame, IsOk());
    ASSERT_EQ(frame->header.type, FrameType::kResponse);
    EXPECT_EQ(frame->header.call_id, 1u);
    absl::StatusOr<Response> response = ParseResponse(frame->payload);
    ASSERT_THAT(response, IsOk());
    EXPECT_EQ(response->status, c.expected);
    // A call error, not a connection error.
    ExpectUnaryServed(*client, 2);
    if (absl::StrContains(c.frames, "Forever")) {
      ++forevers;
      EXPECT_TRUE(probe_.WaitFor("cancel forever", forevers));
      EXPECT_TRUE(probe_.FinishParked(absl::OkStatus()));
      EXPECT_TRUE(probe_.WaitFor("done forever", forevers));
    }
  }
}

TEST_F(RawServerStreamingTest, MessageOnAUnaryCallInFlightIsACallError) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(RequestBytes(1, kParkUnary, Req("x")));
  ExpectUnaryServed(*client, 2);  // Call 1 is parked by now.
  client->Send(MessageBytes(1, Req("y")));
  absl::StatusOr<Response> response = client->ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status,
            absl::InternalError("MESSAGE after the end of the request stream"));
  // Its implementation completes later: nobody wants that result.
  EXPECT_TRUE(CompleteParkedUnary());
  ExpectUnaryServed(*client, 3);  // ...and no second RESPONSE for call 1.
}

TEST_F(RawServerStreamingTest, OperationsFromOtherThreadsArePostedToTheLoop) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(OpenStreamBytes(1, kOffLoopEcho));
  for (const char* payload : {"a", "b", "c"}) {
    client->Send(MessageBytes(1, Req(payload)));
  }
  EXPECT_EQ(ReadMessage(*client, 1), "a");
  EXPECT_EQ(ReadMessage(*client, 1), "b");
  EXPECT_EQ(ReadMessage(*client, 1), "c");
  client->Send(HalfCloseBytes(1));
  absl::StatusOr<Response> response = client->ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->status, IsOk());
  EXPECT_TRUE(probe_.WaitFor("done offloop"));
}

TEST_F(RawServerStreamingTest, StreamsCountAgainstCallsInFlight) {
  RawServer::Options options;
  options.max_calls_in_flight = 1;
  StartServer(options);
  std::unique_ptr<TestClient> client = Connect();
  client->Send(OpenStreamBytes(1, kForever));
  client->Send(RequestBytes(2, kUnaryEcho, Req("x")));
  absl::StatusOr<Response> refused = client->ReadResponse(2);
  ASSERT_THAT(refused, IsOk());
  EXPECT_THAT(refused->status,
              StatusIs(absl::StatusCode::kResourceExhausted));
  client->Send(CancelBytes(1));
  EXPECT_TRUE(probe_.WaitFor("cancel forever"));
  ExpectUnaryServed(*client, 3);
  EXPECT_TRUE(probe_.FinishParked(absl::OkStatus()));
  EXPECT_TRUE(probe_.WaitFor("done forever"));
}

// ---- Flow control (§7.4) ---------------------------------------------------

TEST_F(RawServerStreamingTest, ServerStopsAtTheWindowAndResumesOnWindowUpdate) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  constexpr int kMessages = 40;
  constexpr std::size_t kSize = 4000;
  client->Send(RequestBytes(1, kCount, Req(absl::StrCat(kMessages, ",", kSize))));
  std::int64_t received_cost = 0;
  int received = 0;
  for (;;) {
    absl::StatusOr<ReceivedFrame> frame = client->ReadFrame(kSilence);
    if (!frame.ok()) {
      ASSERT_THAT(frame, StatusIs(absl::StatusCode::kDeadlineExceeded));
      break;  // Silence: the server is waiting for credit.
    }
    ASSERT_EQ(frame->header.type, FrameType::kMessage);
    received_cost += StreamMessageCost(frame->header.payload_length);
    ++received;
  }
  const std::int64_t message_cost = StreamMessageCost(kSize + 3);
  // It sent while the window was above zero, so at most one window plus one
  // message, and stopped only once the window was used up.
  EXPECT_LE(received_cost, kInitialStreamWindow + message_cost);
  EXPECT_GE(received_cost, kInitialStreamWindow);
  ASSERT_LT(received, kMessages);
  client->Send(WindowUpdateBytes(1, 1 << 20));
  while (received < kMessages) {
    std::string payload = ReadMessage(*client, 1);
    ASSERT_EQ(payload, std::string(kSize, static_cast<char>('a' + received % 26)));
    ++received;
  }
  absl::StatusOr<Response> response = client->ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->status, IsOk());
}

TEST_F(RawServerStreamingTest, ServerReturnsCreditAsTheImplementationReads) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(OpenStreamBytes(1, kSum));
  const v1::EchoRequest request = Req(std::string(4000, 'r'));
  const std::int64_t cost = StreamMessageCost(
      static_cast<std::uint32_t>(request.ByteSizeLong()));
  // Send while the window is above zero, as a client must.
  std::int64_t window = kInitialStreamWindow;
  int sent = 0;
  while (window > 0) {
    client->Send(MessageBytes(1, request));
    window -= cost;
    ++sent;
  }
  // Sum reads everything at once, so credit comes back, in WINDOW_UPDATEs of
  // at least half the initial window.
  std::int64_t credit = 0;
  while (credit + window <= 0) {
    absl::StatusOr<ReceivedFrame> frame = client->ReadFrame();
    ASSERT_THAT(frame, IsOk());
    ASSERT_EQ(frame->header.type, FrameType::kWindowUpdate);
    EXPECT_EQ(frame->header.call_id, 1u);
    absl::StatusOr<std::uint32_t> increment = ParseWindowUpdate(frame->payload);
    ASSERT_THAT(increment, IsOk());
    EXPECT_GE(*increment, kInitialStreamWindow / 2);
    credit += *increment;
  }
  client->Send(MessageBytes(1, request));
  ++sent;
  client->Send(HalfCloseBytes(1));
  absl::StatusOr<ReceivedFrame> frame = client->ReadFrame();
  while (frame.ok() && frame->header.type == FrameType::kWindowUpdate) {
    frame = client->ReadFrame();
  }
  ASSERT_THAT(frame, IsOk());
  absl::StatusOr<Response> response = ParseResponse(frame->payload);
  ASSERT_THAT(response, IsOk());
  v1::EchoResponse sum;
  ASSERT_TRUE(sum.ParseFromString(response->message));
  EXPECT_EQ(sum.payload(), absl::StrCat(sent, ":", sent * 4000));
}

TEST_F(RawServerStreamingTest, MessagesBeyondTheWindowAreResourceExhausted) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  // kForever reads nothing, so no credit ever comes back.
  client->Send(OpenStreamBytes(1, kForever));
  const std::string message = MessageBytes(1, Req(std::string(4000, 'f')));
  std::int64_t window = kInitialStreamWindow;
  while (window > 0) {
    client->Send(message);
    window -= static_cast<std::int64_t>(message.size());
  }
  ExpectSilence(*client);  // Within the window: buffered, not an error.
  client->Send(message);   // Sent with the window at or below zero.
  absl::StatusOr<Response> response = client->ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status,
            absl::ResourceExhaustedError("flow control window exceeded"));
  EXPECT_TRUE(probe_.WaitFor("cancel forever"));
  EXPECT_TRUE(probe_.FinishParked(absl::OkStatus()));
  EXPECT_TRUE(probe_.WaitFor("done forever"));
  ExpectUnaryServed(*client, 2);
}

// ---- Cancellation, deadlines, connection loss (§7.3) ---------------------

TEST_F(RawServerStreamingTest, CancelMidStreamRunsOnCancelAndLaterFinishIsHarmless) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(OpenStreamBytes(1, kForever));
  client->Send(MessageBytes(1, Req("x")));
  client->Send(CancelBytes(1));
  EXPECT_TRUE(probe_.WaitFor("cancel forever"));
  EXPECT_EQ(probe_.Count("done forever"), 0);  // Not before Finish.
  // Long after the cancel, from this thread; its status goes nowhere.
  EXPECT_TRUE(probe_.FinishParked(absl::InternalError("ignored")));
  EXPECT_TRUE(probe_.WaitFor("done forever"));
  client->Send(MessageBytes(1, Req("late")));  // Ignored (§7.3).
  ExpectUnaryServed(*client, 2);  // ...and no RESPONSE for call 1 before it.
  EXPECT_EQ(probe_.Count("cancel forever"), 1);
  EXPECT_EQ(probe_.Count("done forever"), 1);
}

TEST_F(RawServerStreamingTest, DeadlineMidStreamAnswersDeadlineExceeded) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(OpenStreamBytes(1, kBidiEcho, /*timeout_micros=*/200000));
  client->Send(MessageBytes(1, Req("in time")));
  EXPECT_EQ(ReadMessage(*client, 1), "in time");
  absl::StatusOr<Response> response = client->ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, absl::DeadlineExceededError("deadline exceeded"));
  EXPECT_TRUE(probe_.WaitFor("cancel echo"));
  EXPECT_TRUE(probe_.WaitFor("done echo"));  // Echo finishes on its failed read.
  ExpectUnaryServed(*client, 2);
}

TEST_F(RawServerStreamingTest, ConnectionLossCancelsAndOnDoneStillRunsOnce) {
  StartServer();
  {
    std::unique_ptr<TestClient> client = Connect();
    client->Send(OpenStreamBytes(1, kForever));
    client->Send(OpenStreamBytes(2, kBidiEcho));
    client->Send(MessageBytes(2, Req("x")));
    EXPECT_EQ(ReadMessage(*client, 2), "x");
  }  // Closed mid-stream.
  EXPECT_TRUE(probe_.WaitFor("cancel forever"));
  EXPECT_TRUE(probe_.WaitFor("cancel echo"));
  EXPECT_TRUE(probe_.WaitFor("done echo"));
  // The connection is long gone; Finish from this thread still ends it.
  EXPECT_TRUE(probe_.FinishParked(absl::OkStatus()));
  EXPECT_TRUE(probe_.WaitFor("done forever"));
  server_.reset();
  EXPECT_EQ(probe_.Count("done forever"), 1);
  EXPECT_EQ(probe_.Count("done echo"), 1);
}

// ---- Versions (§7.1) -------------------------------------------------------

TEST_F(RawServerStreamingTest, OneZeroClientGetsTheUnaryForm) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect(/*minor=*/0);
  // Exactly one response: it comes in the RESPONSE, no MESSAGE.
  client->Send(RequestBytes(1, kCount, Req("1")));
  absl::StatusOr<ReceivedFrame> frame = client->ReadFrame();
  ASSERT_THAT(frame, IsOk());
  ASSERT_EQ(frame->header.type, FrameType::kResponse);
  absl::StatusOr<Response> one = ParseResponse(frame->payload);
  ASSERT_THAT(one, IsOk());
  ASSERT_THAT(one->status, IsOk());
  v1::EchoResponse message;
  ASSERT_TRUE(message.ParseFromString(one->message));
  EXPECT_EQ(message.payload(), "0");
  // None: OK with an empty message part.
  client->Send(RequestBytes(2, kCount, Req("0")));
  absl::StatusOr<Response> none = client->ReadResponse(2);
  ASSERT_THAT(none, IsOk());
  EXPECT_THAT(none->status, IsOk());
  EXPECT_EQ(none->message, "");
  // Two: UNIMPLEMENTED.
  client->Send(RequestBytes(3, kCount, Req("2")));
  absl::StatusOr<Response> two = client->ReadResponse(3);
  ASSERT_THAT(two, IsOk());
  EXPECT_EQ(two->status,
            absl::UnimplementedError(
                "more than one response: streaming needs raw protocol 1.1"));
  // Bidi: the request stream is the one request.
  client->Send(RequestBytes(4, kBidiEcho, Req("solo")));
  absl::StatusOr<Response> echo = client->ReadResponse(4);
  ASSERT_THAT(echo, IsOk());
  ASSERT_THAT(echo->status, IsOk());
  ASSERT_TRUE(message.ParseFromString(echo->message));
  EXPECT_EQ(message.payload(), "solo");
  ExpectUnaryServed(*client, 5);
  ExpectSilence(*client);  // No MESSAGE or WINDOW_UPDATE ever.
}

// ---- Drain (§5.3, §7.3) ---------------------------------------------------

TEST_F(RawServerStreamingTest, DrainLetsStreamsInFlightRunOn) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(OpenStreamBytes(1, kBidiEcho));
  client->Send(MessageBytes(1, Req("before")));
  EXPECT_EQ(ReadMessage(*client, 1), "before");
  server_->Drain(absl::Seconds(30));
  ExpectDrainGoaways(*client, 1);
  client->Send(MessageBytes(1, Req("during")));
  EXPECT_EQ(ReadMessage(*client, 1), "during");
  client->Send(HalfCloseBytes(1));
  absl::StatusOr<Response> response = client->ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->status, IsOk());
  EXPECT_TRUE(client->ReadEof());
  server_->Wait();
}

TEST_F(RawServerStreamingTest, DrainDeadlineAnswersUnavailableAndWaitsForFinish) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(OpenStreamBytes(1, kForever));
  ExpectUnaryServed(*client, 2);  // The stream is open by now.
  server_->Drain(absl::Milliseconds(100));
  ExpectDrainGoaways(*client, 2);
  absl::StatusOr<Response> response = client->ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(probe_.WaitFor("cancel forever"));
  // The server waits for the implementation's Finish before it stops.
  std::thread waiter([this] { server_->Wait(); });
  EXPECT_TRUE(probe_.FinishParked(absl::OkStatus()));
  waiter.join();
  EXPECT_EQ(probe_.Count("done forever"), 1);
}

}  // namespace
}  // namespace dualrpc::raw
