// RawChannel's streaming calls (docs/PROTOCOL.md §7) against a scripted
// server over a real loopback socket: the frames of each call kind, flow
// control both ways, the 1.0-server fallback, deadlines, cancellation,
// errors, connection loss, the client's rows of §7.5, and destroying the
// channel with streams in flight. Reactors are hand-written
// (rpc::ClientStreamReactor); the server side is ScriptedRawServer.

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "dualrpc/raw/client/raw_channel.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/rpc/stream.h"
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
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

constexpr char kMethod[] = "/test.Streams/Call";
// Long enough that a frame the client was going to send would have arrived.
constexpr absl::Duration kQuiet = absl::Milliseconds(200);

v1::EchoRequest Request(std::string payload) {
  v1::EchoRequest request;
  request.set_payload(std::move(payload));
  return request;
}
v1::EchoResponse Response(std::string payload) {
  v1::EchoResponse response;
  response.set_payload(std::move(payload));
  return response;
}

// Records every callback in order ("read:<payload>", "read:false",
// "write:true", "writes_done:true", "done:<code>"), and runs the test's
// hooks inside them, on the I/O thread.
class Recorder : public rpc::ClientStreamReactor {
 public:
  rpc::ClientStream* stream = nullptr;
  // Start the next read inside OnReadDone(true).
  bool keep_reading = false;
  std::function<void(bool)> on_read;
  std::function<void(bool)> on_write;
  v1::EchoResponse response;
  rpc::Metadata trailers;

  void OnReadDone(bool ok) override {
    Record(ok ? ReadEvent(response.payload()) : "read:false");
    if (on_read) on_read(ok);
    if (ok && keep_reading) stream->StartRead(&response);
  }
  void OnWriteDone(bool ok) override {
    Record(absl::StrCat("write:", ok ? "true" : "false"));
    if (on_write) on_write(ok);
  }
  void OnWritesDoneDone(bool ok) override {
    Record(absl::StrCat("writes_done:", ok ? "true" : "false"));
  }
  void OnDone(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(
        absl::StrCat("done:", absl::StatusCodeToString(status.code())));
    status_ = status;
    ++dones_;
  }

  static std::string ReadEvent(const std::string& payload) {
    return payload.size() <= 32 ? absl::StrCat("read:", payload)
                                : absl::StrCat("read:#", payload.size());
  }

  // True once `event` was recorded, within kWaitTimeout.
  bool WaitFor(const std::string& event) {
    absl::MutexLock lock(&mu_);
    auto seen = [this, &event]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return std::find(events_.begin(), events_.end(), event) != events_.end();
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), kWaitTimeout);
  }
  bool WaitForDone() {
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return dones_ > 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), kWaitTimeout);
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  absl::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  int dones() {
    absl::MutexLock lock(&mu_);
    return dones_;
  }
  // Adds a test's own marker to the events.
  void Note(std::string event) { Record(std::move(event)); }

 private:
  void Record(std::string event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }

  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  int dones_ ABSL_GUARDED_BY(mu_) = 0;
};

class RawChannelStreamingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::shared_ptr<RawChannel>> channel =
        RawChannel::Create(server_.address());
    ASSERT_THAT(channel, IsOk());
    channel_ = *std::move(channel);
  }

  // A reactor that outlives the channel (the fixture destroys the channel
  // first), bound to a new stream of `kind`.
  Recorder* NewStream(rpc::MethodKind kind, rpc::CallOptions options = {}) {
    recorders_.push_back(std::make_unique<Recorder>());
    Recorder* recorder = recorders_.back().get();
    options.response_metadata = &recorder->trailers;
    recorder->stream = channel_->NewStream(kMethod, kind, options, recorder);
    return recorder;
  }

  // The channel's connection, its preface answered with `minor`.
  std::unique_ptr<ScriptedConnection> Accept(
      std::uint8_t minor = kMinorVersion) {
    absl::StatusOr<std::unique_ptr<ScriptedConnection>> connection =
        server_.Accept();
    EXPECT_THAT(connection, IsOk());
    if (!connection.ok()) return nullptr;
    EXPECT_THAT((*connection)->Handshake(minor), IsOk());
    return *std::move(connection);
  }

  // Reads the REQUEST that opens a call; its id.
  std::uint32_t ReadRequest(ScriptedConnection* connection,
                            std::uint8_t expected_flags,
                            const std::string& expected_message = "") {
    absl::StatusOr<ReceivedFrame> frame =
        connection->ReadFrameOf(FrameType::kRequest);
    EXPECT_THAT(frame, IsOk());
    if (!frame.ok()) return 0;
    EXPECT_EQ(frame->header.flags, expected_flags);
    absl::StatusOr<DecodedRequest> request = ParseRequest(frame->payload);
    EXPECT_THAT(request, IsOk());
    if (request.ok()) {
      EXPECT_EQ(request->header.method(), kMethod);
      EXPECT_EQ(request->message, expected_message);
    }
    return frame->header.call_id;
  }

  // A unary Echo on the same channel, answered by `connection`.
  void ExpectUnaryWorks(ScriptedConnection* connection) {
    v1::EchoResponse response;
    absl::Notification done;
    absl::Status status;
    channel_->StartUnaryCall("/test.Streams/Echo", Request("unary"), &response,
                             {}, [&](absl::Status s) {
                               status = std::move(s);
                               done.Notify();
                             });
    absl::StatusOr<ReceivedFrame> frame =
        connection->ReadFrameOf(FrameType::kRequest);
    ASSERT_THAT(frame, IsOk());
    EXPECT_EQ(frame->header.flags, kFlagEndStream);
    const v1::EchoResponse answer = Response("unary");
    connection->SendResponse(frame->header.call_id, absl::OkStatus(), {},
                             &answer);
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWaitTimeout));
    EXPECT_THAT(status, IsOk());
    EXPECT_EQ(response.payload(), "unary");
  }

  // Declared first: destroyed after the channel, which ends every stream.
  std::vector<std::unique_ptr<Recorder>> recorders_;
  ScriptedRawServer server_;
  std::shared_ptr<RawChannel> channel_;
};

// ---- The frames of each kind (§7.2) ---------------------------------------

TEST_F(RawChannelStreamingTest, ServerStreamingSendsOneRequestAndReadsInOrder) {
  Recorder* call = NewStream(rpc::MethodKind::kServerStreaming);
  call->keep_reading = true;
  // Operations may start before Start; nothing runs before it.
  call->stream->StartRead(&call->response);
  call->stream->StartWrite(Request("ask"));
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), kFlagEndStream,
                                       Request("ask").SerializeAsString());
  ASSERT_TRUE(call->WaitFor("write:true"));
  call->stream->StartWritesDone();
  ASSERT_TRUE(call->WaitFor("writes_done:true"));
  // The REQUEST had END_STREAM: the half-close sends nothing.
  EXPECT_TRUE(server->QuietFor(kQuiet));

  for (const char* payload : {"one", "two", "three"}) {
    server->SendMessage(id, Response(payload));
  }
  server->SendResponse(id, absl::OkStatus(), {{"trailer", "t1"}});
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->events(),
              ElementsAre("write:true", "writes_done:true", "read:one",
                          "read:two", "read:three", "read:false", "done:OK"));
  EXPECT_THAT(call->trailers, ElementsAre(Pair("trailer", "t1")));
}

TEST_F(RawChannelStreamingTest,
       ClientStreamingSendsMessagesAndReadsTheResponse) {
  Recorder* call = NewStream(rpc::MethodKind::kClientStreaming);
  call->stream->StartRead(&call->response);
  int written = 0;
  call->on_write = [&](bool ok) {
    if (!ok) return;
    if (++written < 2) {
      call->stream->StartWrite(Request("b"));
    } else {
      call->stream->StartWritesDone();
    }
  };
  call->stream->Start();
  call->stream->StartWrite(Request("a"));
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  // Header only, no END_STREAM (§7.2).
  const std::uint32_t id = ReadRequest(server.get(), /*expected_flags=*/0);
  for (const char* payload : {"a", "b"}) {
    absl::StatusOr<ReceivedFrame> message =
        server->ReadFrameOf(FrameType::kMessage);
    ASSERT_THAT(message, IsOk());
    EXPECT_EQ(message->header.call_id, id);
    EXPECT_EQ(message->header.flags, 0);
    EXPECT_EQ(message->payload, Request(payload).SerializeAsString());
  }
  absl::StatusOr<ReceivedFrame> half_close =
      server->ReadFrameOf(FrameType::kMessage);
  ASSERT_THAT(half_close, IsOk());
  EXPECT_EQ(half_close->header.flags, kFlagEndStream);
  EXPECT_THAT(half_close->payload, IsEmpty());

  const v1::EchoResponse answer = Response("sum");
  server->SendResponse(id, absl::OkStatus(), {{"k", "v"}}, &answer);
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->events(),
              ElementsAre("write:true", "write:true", "writes_done:true",
                          "read:sum", "done:OK"));
  EXPECT_THAT(call->trailers, ElementsAre(Pair("k", "v")));
}

TEST_F(RawChannelStreamingTest, BidiInterleavesWritesAndReads) {
  Recorder* call = NewStream(rpc::MethodKind::kBidiStreaming);
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), 0);
  for (const char* payload : {"x", "y"}) {
    call->stream->StartWrite(Request(payload));
    absl::StatusOr<ReceivedFrame> message =
        server->ReadFrameOf(FrameType::kMessage);
    ASSERT_THAT(message, IsOk());
    EXPECT_EQ(message->payload, Request(payload).SerializeAsString());
    ASSERT_TRUE(call->WaitFor("write:true"));
    call->stream->StartRead(&call->response);
    server->SendMessage(id, Response(absl::StrCat(payload, "!")));
    ASSERT_TRUE(call->WaitFor(absl::StrCat("read:", payload, "!")));
  }
  call->stream->StartWritesDone();
  ASSERT_THAT(server->ReadFrameOf(FrameType::kMessage), IsOk());
  call->stream->StartRead(&call->response);
  server->SendResponse(id, absl::OkStatus());
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->events(),
              ElementsAre("write:true", "read:x!", "write:true", "read:y!",
                          "writes_done:true", "read:false", "done:OK"));
}

TEST_F(RawChannelStreamingTest, ServerErrorAfterMessagesEndsTheCall) {
  Recorder* call = NewStream(rpc::MethodKind::kServerStreaming);
  call->keep_reading = true;
  call->stream->Start();
  call->stream->StartWrite(Request("q"));
  call->stream->StartRead(&call->response);
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), kFlagEndStream,
                                       Request("q").SerializeAsString());
  server->SendMessage(id, Response("m1"));
  server->SendMessage(id, Response("m2"));
  server->SendResponse(id, absl::NotFoundError("gone"), {{"why", "test"}});
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->status(), StatusIs(absl::StatusCode::kNotFound, "gone"));
  EXPECT_THAT(call->events(), ElementsAre("write:true", "read:m1", "read:m2",
                                          "read:false", "done:NOT_FOUND"));
  EXPECT_THAT(call->trailers, ElementsAre(Pair("why", "test")));
}

// ---- Versions (§7.1) ------------------------------------------------------

TEST_F(RawChannelStreamingTest, RequestWaitsForTheServerPreface) {
  Recorder* call = NewStream(rpc::MethodKind::kBidiStreaming);
  call->stream->Start();
  absl::StatusOr<std::unique_ptr<ScriptedConnection>> server = server_.Accept();
  ASSERT_THAT(server, IsOk());
  ASSERT_THAT((*server)->ReadClientPreface(), IsOk());
  // No server preface yet: the streaming REQUEST must not leave.
  EXPECT_TRUE((*server)->QuietFor(kQuiet));
  (*server)->SendPreface();
  ReadRequest(server->get(), 0);
  call->stream->Cancel();
  ASSERT_TRUE(call->WaitForDone());
}

TEST_F(RawChannelStreamingTest, OneZeroServerFailsStreamsLocallyKeepsUnary) {
  Recorder* call = NewStream(rpc::MethodKind::kBidiStreaming);
  call->stream->StartRead(&call->response);
  call->stream->Start();
  auto server = Accept(/*minor=*/0);
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->status(), StatusIs(absl::StatusCode::kUnimplemented,
                                       testing::HasSubstr("raw protocol 1.0")));
  EXPECT_THAT(call->events(), ElementsAre("read:false", "done:UNIMPLEMENTED"));
  // Nothing of the stream went out; the next frame is the unary call's,
  // on the same connection.
  ExpectUnaryWorks(server.get());
  // A later stream on the known 1.0 connection fails at once too.
  Recorder* later = NewStream(rpc::MethodKind::kServerStreaming);
  later->stream->Start();
  ASSERT_TRUE(later->WaitForDone());
  EXPECT_THAT(later->status(), StatusIs(absl::StatusCode::kUnimplemented));
}

// ---- Flow control (§7.4) --------------------------------------------------

// 16,384 payload bytes: 16,388 serialized, 16,400 on the window. Four
// messages take a 65,536-byte window to -64.
constexpr std::size_t kChunk = 16384;
constexpr std::int64_t kChunkCost = 16400;

TEST_F(RawChannelStreamingTest, ClientStopsSendingAtItsWindowUntilUpdate) {
  Recorder* call = NewStream(rpc::MethodKind::kBidiStreaming);
  int written = 0;
  call->on_write = [&](bool ok) {
    if (ok && ++written < 6) {
      call->stream->StartWrite(Request(std::string(kChunk, 'w')));
    }
  };
  call->stream->Start();
  call->stream->StartWrite(Request(std::string(kChunk, 'w')));
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), 0);
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<ReceivedFrame> message =
        server->ReadFrameOf(FrameType::kMessage);
    ASSERT_THAT(message, IsOk());
    EXPECT_EQ(StreamMessageCost(message->payload.size()), kChunkCost);
  }
  // The window is -64: the fifth waits.
  EXPECT_TRUE(server->QuietFor(kQuiet));
  EXPECT_THAT(call->events(), ElementsAre("write:true", "write:true",
                                          "write:true", "write:true"));
  // 65 bytes make it 1 (> 0): exactly one more message.
  server->SendWindowUpdate(id, 65);
  ASSERT_THAT(server->ReadFrameOf(FrameType::kMessage), IsOk());
  EXPECT_TRUE(server->QuietFor(kQuiet));
  server->SendWindowUpdate(id, 65536);
  ASSERT_THAT(server->ReadFrameOf(FrameType::kMessage), IsOk());
  ASSERT_TRUE(call->WaitFor("write:true"));
  call->stream->Cancel();
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_EQ(written, 6);
}

TEST_F(RawChannelStreamingTest, ClientReturnsCreditOnlyAsTheApplicationReads) {
  Recorder* call = NewStream(rpc::MethodKind::kServerStreaming);
  call->stream->StartWrite(Request("q"));
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), kFlagEndStream,
                                       Request("q").SerializeAsString());
  for (int i = 0; i < 3; ++i) {
    server->SendMessage(id, Response(std::string(kChunk, 'a' + i)));
  }
  // Bytes arrived but the application reads nothing: no WINDOW_UPDATE.
  EXPECT_TRUE(server->QuietFor(kQuiet));
  // One read returns 16,400 bytes: under half the window, still nothing.
  call->stream->StartRead(&call->response);
  ASSERT_TRUE(call->WaitFor(Recorder::ReadEvent(std::string(kChunk, 'a'))));
  EXPECT_TRUE(server->QuietFor(kQuiet));
  // The second read makes 32,800 owed: one WINDOW_UPDATE for all of it.
  call->stream->StartRead(&call->response);
  absl::StatusOr<ReceivedFrame> update =
      server->ReadFrameOf(FrameType::kWindowUpdate);
  ASSERT_THAT(update, IsOk());
  EXPECT_EQ(update->header.call_id, id);
  EXPECT_THAT(ParseWindowUpdate(update->payload), IsOkAndHolds(2 * kChunkCost));
  server->SendResponse(id, absl::OkStatus());
  // OnDone waits for the third response to be read.
  ASSERT_TRUE(call->WaitFor(Recorder::ReadEvent(std::string(kChunk, 'b'))));
  call->stream->StartRead(&call->response);
  ASSERT_TRUE(call->WaitFor(Recorder::ReadEvent(std::string(kChunk, 'c'))));
  // No read after that one: with the status in and no operation started,
  // the call is over (OnDone), and the stream is gone (rpc/stream.h: valid
  // until OnDone returns; ASan caught a read started here on a freed one).
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->status(), IsOk());
}

// ---- The client's rows of §7.5 --------------------------------------------

TEST_F(RawChannelStreamingTest, MessageBeyondTheWindowFailsTheCallAndCancels) {
  Recorder* call = NewStream(rpc::MethodKind::kServerStreaming);
  call->stream->StartWrite(Request("q"));
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), kFlagEndStream,
                                       Request("q").SerializeAsString());
  // Four take the window to -64; the fifth is beyond it.
  for (int i = 0; i < 5; ++i) {
    server->SendMessage(id, Response(std::string(kChunk, 'x')));
  }
  absl::StatusOr<ReceivedFrame> cancel =
      server->ReadFrameOf(FrameType::kCancel);
  ASSERT_THAT(cancel, IsOk());
  EXPECT_EQ(cancel->header.call_id, id);
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->status(), StatusIs(absl::StatusCode::kResourceExhausted,
                                       "flow control window exceeded"));
  ExpectUnaryWorks(server.get());
}

TEST_F(RawChannelStreamingTest, UnparsableMessageFailsTheCallAndCancels) {
  Recorder* call = NewStream(rpc::MethodKind::kBidiStreaming);
  call->stream->StartRead(&call->response);
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), 0);
  // Field 1, length 5, two bytes: does not parse.
  server->Send(FrameBytes(FrameType::kMessage, 0, id,
                          "\x0a\x05"
                          "ab"));
  absl::StatusOr<ReceivedFrame> cancel =
      server->ReadFrameOf(FrameType::kCancel);
  ASSERT_THAT(cancel, IsOk());
  EXPECT_EQ(cancel->header.call_id, id);
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->status(), StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(call->events(), ElementsAre("read:false", "done:INTERNAL"));
}

TEST_F(RawChannelStreamingTest, MessageOnAClientStreamingCallFailsIt) {
  Recorder* call = NewStream(rpc::MethodKind::kClientStreaming);
  call->stream->StartRead(&call->response);
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), 0);
  server->SendMessage(id, Response("no"));
  absl::StatusOr<ReceivedFrame> cancel =
      server->ReadFrameOf(FrameType::kCancel);
  ASSERT_THAT(cancel, IsOk());
  EXPECT_EQ(cancel->header.call_id, id);
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->status(), StatusIs(absl::StatusCode::kInternal));
}

// §7.5: the responses of a bidi call go before its RESPONSE as MESSAGE
// frames; an OK RESPONSE that carries a message part is the server's error.
TEST_F(RawChannelStreamingTest, ResponseWithAMessageOnABidiCallFailsIt) {
  Recorder* call = NewStream(rpc::MethodKind::kBidiStreaming);
  call->stream->StartRead(&call->response);
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), 0);
  const auto answer = Response("not here");
  server->SendResponse(id, absl::OkStatus(), {}, &answer);
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->status(),
              StatusIs(absl::StatusCode::kInternal,
                       testing::HasSubstr("carries a message")));
}

TEST_F(RawChannelStreamingTest, BadWindowUpdateClosesTheConnection) {
  Recorder* call = NewStream(rpc::MethodKind::kBidiStreaming);
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), 0);
  // Increment 0 (§7.5: a connection error).
  server->Send(FrameBytes(FrameType::kWindowUpdate, 0, id,
                          absl::string_view("\0\0\0\0", 4)));
  EXPECT_TRUE(server->WaitForEof());
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->status(), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(RawChannelStreamingTest, OversizedMessageFailsTheCallAndCancels) {
  RawChannelOptions options;
  options.limits.max_message_bytes = 1024;
  absl::StatusOr<std::shared_ptr<RawChannel>> small =
      RawChannel::Create(server_.address(), options);
  ASSERT_THAT(small, IsOk());
  channel_ = *std::move(small);
  Recorder* call = NewStream(rpc::MethodKind::kBidiStreaming);
  call->stream->StartRead(&call->response);
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), 0);
  server->SendMessage(id, Response(std::string(2048, 'o')));
  absl::StatusOr<ReceivedFrame> cancel =
      server->ReadFrameOf(FrameType::kCancel);
  ASSERT_THAT(cancel, IsOk());
  EXPECT_EQ(cancel->header.call_id, id);
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->status(), StatusIs(absl::StatusCode::kResourceExhausted));
  // The payload was skipped: the connection is still in sync.
  ExpectUnaryWorks(server.get());
}

TEST_F(RawChannelStreamingTest, MessageOnAUnaryCallFailsItAndCancels) {
  v1::EchoResponse response;
  absl::Notification done;
  absl::Status status;
  channel_->StartUnaryCall("/test.Streams/Echo", Request("u"), &response, {},
                           [&](absl::Status s) {
                             status = std::move(s);
                             done.Notify();
                           });
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<ReceivedFrame> request =
      server->ReadFrameOf(FrameType::kRequest);
  ASSERT_THAT(request, IsOk());
  server->SendMessage(request->header.call_id, Response("no"));
  absl::StatusOr<ReceivedFrame> cancel =
      server->ReadFrameOf(FrameType::kCancel);
  ASSERT_THAT(cancel, IsOk());
  EXPECT_EQ(cancel->header.call_id, request->header.call_id);
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWaitTimeout));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInternal));
}

// ---- Deadlines, cancellation, connection loss (§7.3) ----------------------

TEST_F(RawChannelStreamingTest, DeadlineMidStreamEndsLocallyAndCancels) {
  rpc::CallOptions options;
  options.timeout = absl::Milliseconds(300);
  Recorder* call = NewStream(rpc::MethodKind::kBidiStreaming, options);
  call->stream->StartRead(&call->response);
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<ReceivedFrame> request =
      server->ReadFrameOf(FrameType::kRequest);
  ASSERT_THAT(request, IsOk());
  absl::StatusOr<DecodedRequest> decoded = ParseRequest(request->payload);
  ASSERT_THAT(decoded, IsOk());
  EXPECT_GT(decoded->header.timeout_micros(), 0u);
  EXPECT_LE(decoded->header.timeout_micros(), 300000u);
  server->SendMessage(request->header.call_id, Response("before"));
  ASSERT_TRUE(call->WaitFor("read:before"));
  call->stream->StartRead(&call->response);
  absl::StatusOr<ReceivedFrame> cancel =
      server->ReadFrameOf(FrameType::kCancel);
  ASSERT_THAT(cancel, IsOk());
  EXPECT_EQ(cancel->header.call_id, request->header.call_id);
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->events(), ElementsAre("read:before", "read:false",
                                          "done:DEADLINE_EXCEEDED"));
}

TEST_F(RawChannelStreamingTest, CancelMidStreamThenLateFramesAreIgnored) {
  Recorder* call = NewStream(rpc::MethodKind::kServerStreaming);
  call->stream->StartWrite(Request("q"));
  call->stream->StartRead(&call->response);
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), kFlagEndStream,
                                       Request("q").SerializeAsString());
  server->SendMessage(id, Response("first"));
  ASSERT_TRUE(call->WaitFor("read:first"));
  call->stream->StartRead(&call->response);
  call->stream->Cancel();
  absl::StatusOr<ReceivedFrame> cancel =
      server->ReadFrameOf(FrameType::kCancel);
  ASSERT_THAT(cancel, IsOk());
  EXPECT_EQ(cancel->header.call_id, id);
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->events(), ElementsAre("write:true", "read:first",
                                          "read:false", "done:CANCELLED"));
  // Frames that crossed the CANCEL are ignored; the connection stays.
  server->SendMessage(id, Response("late"));
  server->SendWindowUpdate(id, 100);
  server->SendResponse(id, absl::OkStatus());
  ExpectUnaryWorks(server.get());
  EXPECT_EQ(call->dones(), 1);
}

TEST_F(RawChannelStreamingTest, CancelOnTheIoThreadCompletesNothingInline) {
  Recorder* call = NewStream(rpc::MethodKind::kBidiStreaming);
  call->on_read = [&](bool ok) {
    if (!ok) return;
    // On the I/O thread, inside a callback: acts at once, but the
    // completions it causes (the write, OnDone) run after it returns.
    call->stream->StartWrite(Request("w"));
    call->stream->Cancel();
    call->Note("cancel returned");
  };
  call->stream->StartRead(&call->response);
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), 0);
  server->SendMessage(id, Response("go"));
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->events(), ElementsAre("read:go", "cancel returned",
                                          "write:true", "done:CANCELLED"));
  // The write left before the CANCEL, in order.
  ASSERT_THAT(server->ReadFrameOf(FrameType::kMessage), IsOk());
  ASSERT_THAT(server->ReadFrameOf(FrameType::kCancel), IsOk());
}

TEST_F(RawChannelStreamingTest, ConnectionLostMidStreamIsUnavailable) {
  Recorder* call = NewStream(rpc::MethodKind::kBidiStreaming);
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), 0);
  server->SendMessage(id, Response("m"));
  call->stream->StartRead(&call->response);
  ASSERT_TRUE(call->WaitFor("read:m"));
  call->stream->StartRead(&call->response);
  server->Close();
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(call->events(),
              ElementsAre("read:m", "read:false", "done:UNAVAILABLE"));
}

TEST_F(RawChannelStreamingTest, GoawayLetsStreamsUpToLastCallIdRunOn) {
  Recorder* first = NewStream(rpc::MethodKind::kBidiStreaming);
  first->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t first_id = ReadRequest(server.get(), 0);
  Recorder* second = NewStream(rpc::MethodKind::kBidiStreaming);
  second->stream->Start();
  ReadRequest(server.get(), 0);
  net::Buffer goaway;
  AppendGoaway(&goaway, {first_id, absl::StatusCode::kUnavailable, "drain"});
  server->Send(goaway.View());
  ASSERT_TRUE(second->WaitForDone());
  EXPECT_THAT(second->status(), StatusIs(absl::StatusCode::kUnavailable));
  // The first runs on.
  first->stream->StartRead(&first->response);
  server->SendMessage(first_id, Response("still"));
  ASSERT_TRUE(first->WaitFor("read:still"));
  server->SendResponse(first_id, absl::OkStatus());
  ASSERT_TRUE(first->WaitForDone());
  EXPECT_THAT(first->status(), IsOk());
}

// ---- The end of a call with responses unread (issue 10) -----------------

// Responses that arrived before the call's RESPONSE stay readable: OnDone
// waits for the reader. (The bug: OnDone ran as soon as the RESPONSE came,
// dropping them: 2 of 40 echoes in conformance's echo_stream_all_sent_first.)
TEST_F(RawChannelStreamingTest, ResponsesBeforeTheResponseStayReadable) {
  Recorder* call = NewStream(rpc::MethodKind::kServerStreaming);
  call->keep_reading = true;
  call->stream->StartWrite(Request("q"));
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), kFlagEndStream,
                                       Request("q").SerializeAsString());
  for (const char* payload : {"one", "two", "three"}) {
    server->SendMessage(id, Response(payload));
  }
  server->SendResponse(id, absl::OkStatus(), {{"trailer", "t"}});
  // Two unary round trips on the same socket: the second response is read
  // in a later loop iteration than the stream's frames, so whatever those
  // frames made the stream do (its deferred OnDone included) has run.
  ExpectUnaryWorks(server.get());
  ExpectUnaryWorks(server.get());
  ASSERT_EQ(call->dones(), 0) << "OnDone ran with responses unread";
  call->stream->StartRead(&call->response);
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->events(),
              ElementsAre("write:true", "read:one", "read:two", "read:three",
                          "read:false", "done:OK"));
  EXPECT_THAT(call->trailers, ElementsAre(Pair("trailer", "t")));
}

// Cancel after the end drops what was not read: OnDone runs with the
// status the call ended with.
TEST_F(RawChannelStreamingTest, CancelAfterTheEndDropsUnreadResponses) {
  Recorder* call = NewStream(rpc::MethodKind::kServerStreaming);
  call->stream->StartWrite(Request("q"));
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), kFlagEndStream,
                                       Request("q").SerializeAsString());
  server->SendMessage(id, Response("unread"));
  server->SendResponse(id, absl::NotFoundError("gone"));
  ExpectUnaryWorks(server.get());
  ExpectUnaryWorks(server.get());
  ASSERT_EQ(call->dones(), 0);
  call->stream->Cancel();
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->status(), StatusIs(absl::StatusCode::kNotFound, "gone"));
  EXPECT_THAT(call->events(), ElementsAre("write:true", "done:NOT_FOUND"));
}

// Destroying the channel ends a stream that waits for its reader too.
TEST_F(RawChannelStreamingTest,
       DestroyingTheChannelEndsAStreamWithUnreadResponses) {
  Recorder* call = NewStream(rpc::MethodKind::kServerStreaming);
  call->stream->StartWrite(Request("q"));
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), kFlagEndStream,
                                       Request("q").SerializeAsString());
  server->SendMessage(id, Response("unread"));
  server->SendResponse(id, absl::OkStatus());
  ExpectUnaryWorks(server.get());
  ExpectUnaryWorks(server.get());
  ASSERT_EQ(call->dones(), 0);
  channel_.reset();
  EXPECT_EQ(call->dones(), 1);
  EXPECT_THAT(call->events(), ElementsAre("write:true", "done:OK"));
}

// A read another thread started before OnDone completes before it: OnDone
// waits for the posted operation. Here the read is posted (from a thread
// the reactor joins) while the loop has the call's RESPONSE in hand; the
// loop runs its deferred tasks, where OnDone would run, before the posted
// one. (The bug: OnDone ran first and OnReadDone(false) reached a reactor
// that was done, a use after free for the blocking helpers' reactor: the
// aborts in conformance's echo_stream cases.)
TEST_F(RawChannelStreamingTest, ReadPostedBeforeTheEndCompletesBeforeOnDone) {
  Recorder* call = NewStream(rpc::MethodKind::kBidiStreaming);
  call->on_read = [&](bool ok) {
    if (!ok) return;
    std::thread reader([&] { call->stream->StartRead(&call->response); });
    reader.join();
  };
  call->stream->StartRead(&call->response);
  call->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), 0);
  // One send: the client reads both frames in one loop iteration.
  net::Buffer frames;
  ASSERT_THAT(AppendMessageFrame(&frames, id, Response("last"), FrameLimits{}),
              IsOk());
  // A null header is OK without trailers (§4.2).
  ASSERT_THAT(
      AppendCallFrame(&frames, FrameType::kResponse, kFlagEndStream, id,
                      /*header=*/nullptr, /*message=*/nullptr, FrameLimits{}),
      IsOk());
  server->Send(frames.View());
  ASSERT_TRUE(call->WaitForDone());
  EXPECT_THAT(call->events(),
              ElementsAre("read:last", "read:false", "done:OK"));
  EXPECT_EQ(call->dones(), 1);
}

// ---- Destroying the channel (rpc/channel.h) -------------------------------

TEST_F(RawChannelStreamingTest, DestroyingTheChannelEndsStreamsInFlight) {
  Recorder* reading = NewStream(rpc::MethodKind::kServerStreaming);
  reading->stream->StartWrite(Request("q"));
  reading->stream->StartRead(&reading->response);
  reading->stream->Start();
  Recorder* writing = NewStream(rpc::MethodKind::kClientStreaming);
  writing->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  ReadRequest(server.get(), kFlagEndStream, Request("q").SerializeAsString());
  ReadRequest(server.get(), 0);
  channel_.reset();
  // Every OnDone ran before the destructor returned.
  EXPECT_EQ(reading->dones(), 1);
  EXPECT_EQ(writing->dones(), 1);
  EXPECT_THAT(reading->status(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(reading->events(),
              ElementsAre("write:true", "read:false", "done:CANCELLED"));
  EXPECT_THAT(writing->status(), StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(RawChannelStreamingTest, DestroyingTheChannelInsideACallback) {
  Recorder* killer = NewStream(rpc::MethodKind::kServerStreaming);
  Recorder* bystander = NewStream(rpc::MethodKind::kBidiStreaming);
  bystander->stream->StartRead(&bystander->response);
  killer->on_read = [&](bool) { channel_.reset(); };
  killer->stream->StartWrite(Request("q"));
  killer->stream->StartRead(&killer->response);
  killer->stream->Start();
  bystander->stream->Start();
  auto server = Accept();
  ASSERT_NE(server, nullptr);
  const std::uint32_t id = ReadRequest(server.get(), kFlagEndStream,
                                       Request("q").SerializeAsString());
  ReadRequest(server.get(), 0);
  server->SendMessage(id, Response("bye"));
  ASSERT_TRUE(killer->WaitForDone());
  ASSERT_TRUE(bystander->WaitForDone());
  EXPECT_THAT(killer->events(),
              ElementsAre("write:true", "read:bye", "done:CANCELLED"));
  EXPECT_THAT(bystander->events(), ElementsAre("read:false", "done:CANCELLED"));
  EXPECT_EQ(killer->dones(), 1);
  EXPECT_EQ(bystander->dones(), 1);
}

}  // namespace
}  // namespace dualrpc::raw
