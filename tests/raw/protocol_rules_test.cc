// The rules of docs/PROTOCOL.md that issue 12 (item 6) wrote down, one TEST
// per rule, named after its section: exact bytes written on a real socket to
// a RawServer on 127.0.0.1:0 that serves the real FileService (Echo,
// ListDirectory on a blocking executor, EchoStream) and one parking method;
// and, for the client side of §5.5, a RawChannel against a scripted server.

#include <sys/socket.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "dualrpc/base/blocking_executor.h"
#include "dualrpc/fileservice/file_service.h"
#include "dualrpc/fileservice/served_root.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/raw/client/raw_channel.h"
#include "dualrpc/raw/server/raw_server.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/service/file_service_impl.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "raw/scripted_raw_server.h"
#include "raw/test_client.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"
#include "testing/unary_method.h"
#include "testing/wait.h"

namespace dualrpc::raw {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::kWaitTimeout;
using ::dualrpc_testing::StatusIs;
using ::dualrpc_testing::UnaryMethodFrom;
using ::testing::HasSubstr;

constexpr char kEcho[] = "/dualrpc.v1.FileService/Echo";
constexpr char kList[] = "/dualrpc.v1.FileService/ListDirectory";
constexpr char kEchoStream[] = "/dualrpc.v1.FileService/EchoStream";
// Completes when the test calls ReleaseParked().
constexpr char kPark[] = "/dualrpc.test.Rules/Park";

// How long a rule's answer may take: it is immediate, so this only bounds a
// broken server (whose old behaviour was to say nothing at all).
constexpr absl::Duration kAnswerTimeout = absl::Seconds(5);

v1::EchoRequest EchoOf(absl::string_view payload) {
  v1::EchoRequest request;
  request.set_payload(std::string(payload));
  return request;
}

v1::ListDirectoryRequest ListOf(absl::string_view path) {
  v1::ListDirectoryRequest request;
  request.set_path(std::string(path));
  return request;
}

std::string EchoPayloadOf(absl::string_view message) {
  v1::EchoResponse response;
  EXPECT_TRUE(response.ParseFromArray(message.data(),
                                      static_cast<int>(message.size())));
  return response.payload();
}

std::string GoawayBytes(absl::StatusCode code, absl::string_view message) {
  net::Buffer out;
  AppendGoaway(&out, Goaway{0, code, std::string(message)});
  return std::string(out.View());
}

// A frame header alone, declaring `payload_length` bytes.
std::string HeaderBytes(FrameType type, std::uint8_t flags,
                        std::uint32_t call_id, std::uint32_t payload_length) {
  net::Buffer out;
  AppendFrameHeader(&out, type, flags, call_id, payload_length);
  return std::string(out.View());
}

class ProtocolRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 20; ++i) {
      root_.WriteFile(absl::StrCat("file", i, ".txt"), "x");
    }
    absl::StatusOr<fileservice::ServedRoot> served =
        fileservice::ServedRoot::Open(root_.path());
    ASSERT_THAT(served, IsOk());
    core_ = std::make_unique<fileservice::FileServiceCore>(
        *std::move(served), fileservice::FileServiceOptions());
    service_ =
        std::make_unique<service::FileServiceImpl>(core_.get(), &executor_);
    ASSERT_THAT(v1::RegisterFileService(service_.get(), &registry_), IsOk());
    ASSERT_THAT(
        registry_.AddMethod(UnaryMethodFrom<v1::EchoRequest, v1::EchoResponse>(
            kPark, [this](rpc::ServerCallContext*, const v1::EchoRequest& in,
                          v1::EchoResponse* out, rpc::UnaryDone done) {
              out->set_payload(in.payload());
              absl::MutexLock lock(&mu_);
              parked_.push_back(std::move(done));
            })),
        IsOk());
  }

  void TearDown() override { ReleaseParked(); }

  void StartServer(RawServer::Options options = {}) {
    options.listen_address = "127.0.0.1:0";
    options.event_loop_threads = 1;
    absl::StatusOr<std::unique_ptr<RawServer>> server =
        RawServer::Start(options, &registry_);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
  }

  std::unique_ptr<TestClient> Connect() {
    auto client = std::make_unique<TestClient>(server_->address());
    client->Send(PrefaceBytes());
    EXPECT_THAT(client->ReadPreface(), IsOk());
    return client;
  }

  bool WaitForParked(std::size_t count) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return parked_.size() >= count;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWaitTimeout);
  }

  void ReleaseParked() {
    std::vector<rpc::UnaryDone> parked;
    {
      absl::MutexLock lock(&mu_);
      parked.swap(parked_);
    }
    for (rpc::UnaryDone& done : parked) std::move(done)(absl::OkStatus());
  }

  // The server answers a plain Echo on `client` as call `call_id`.
  static void ExpectEchoServed(TestClient& client, std::uint32_t call_id) {
    client.Send(RequestBytes(call_id, kEcho, EchoOf("still here")));
    absl::StatusOr<Response> response =
        client.ReadResponse(call_id, kAnswerTimeout);
    ASSERT_THAT(response, IsOk());
    ASSERT_THAT(response->status, IsOk());
    EXPECT_EQ(EchoPayloadOf(response->message), "still here");
  }

  // The next frame is a GOAWAY with `code` naming `last_call_id`, whose
  // message has `message_part`; then the server closes.
  static void ExpectGoawayAndClose(TestClient& client, absl::StatusCode code,
                                   std::uint32_t last_call_id,
                                   absl::string_view message_part) {
    absl::StatusOr<ReceivedFrame> frame = client.ReadFrame(kAnswerTimeout);
    ASSERT_THAT(frame, IsOk());
    ASSERT_EQ(frame->header.type, FrameType::kGoaway);
    absl::StatusOr<Goaway> goaway = ParseGoaway(frame->payload);
    ASSERT_THAT(goaway, IsOk());
    EXPECT_EQ(goaway->code, code) << goaway->message;
    EXPECT_EQ(goaway->last_call_id, last_call_id);
    EXPECT_THAT(goaway->message, HasSubstr(std::string(message_part)));
    EXPECT_TRUE(client.ReadEof(kAnswerTimeout));
  }

  // Sends `request` as call 1 and expects its RESPONSE to fail with `code`
  // and `message_part`; the connection stays usable.
  void ExpectCallError(const std::string& request, absl::StatusCode code,
                       absl::string_view message_part) {
    std::unique_ptr<TestClient> client = Connect();
    client->Send(request);
    absl::StatusOr<Response> response = client->ReadResponse(1, kAnswerTimeout);
    ASSERT_THAT(response, IsOk());
    EXPECT_THAT(response->status,
                StatusIs(code, HasSubstr(std::string(message_part))));
    ExpectEchoServed(*client, 2);
  }

  dualrpc_testing::TempDir root_;
  // One thread: ListDirectory calls queue behind each other, so that some
  // are still waiting when the FIN is read.
  base::BlockingExecutor executor_{{/*threads=*/1, /*max_queued=*/1024}};
  std::unique_ptr<fileservice::FileServiceCore> core_;
  std::unique_ptr<service::FileServiceImpl> service_;
  absl::Mutex mu_;
  std::vector<rpc::UnaryDone> parked_ ABSL_GUARDED_BY(mu_);
  rpc::ServiceRegistry registry_;
  std::unique_ptr<RawServer> server_;
};

// ---- §2 ---------------------------------------------------------------------

// A second preface would read as a REQUEST of 0x44525043 bytes (~1.1 GB)
// that the server swallowed in silence. It is a connection error at once.
TEST_F(ProtocolRulesTest, Section2_SecondPrefaceIsAConnectionErrorAtOnce) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  ExpectEchoServed(*client, 1);
  client->Send(PrefaceBytes());
  ExpectGoawayAndClose(*client, absl::StatusCode::kInternal, 1,
                       "unexpected preface");
}

// ---- §3.1 -------------------------------------------------------------------

// A client sends MESSAGE on the client-streaming and bidi calls it opened,
// until their half-close; a MESSAGE for a call no REQUEST opened is a
// connection error.
TEST_F(ProtocolRulesTest, Section3_1_ClientMessageOnlyOnItsStreamingCalls) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(OpenStreamBytes(1, kEchoStream) + MessageBytes(1, EchoOf("m")));
  absl::StatusOr<ReceivedFrame> echoed = client->ReadFrame(kAnswerTimeout);
  ASSERT_THAT(echoed, IsOk());
  EXPECT_EQ(echoed->header.type, FrameType::kMessage);
  EXPECT_EQ(EchoPayloadOf(echoed->payload), "m");
  client->Send(HalfCloseBytes(1));
  absl::StatusOr<Response> done = client->ReadResponse(1, kAnswerTimeout);
  ASSERT_THAT(done, IsOk());
  EXPECT_THAT(done->status, IsOk());

  client->Send(MessageBytes(7, EchoOf("never opened")));
  ExpectGoawayAndClose(*client, absl::StatusCode::kInternal, 1,
                       "which no REQUEST opened");
}

// ---- §3.2 -------------------------------------------------------------------

// ACK means something on PING only; on any other frame it is an unknown
// flag bit, ignored.
TEST_F(ProtocolRulesTest, Section3_2_AckOnFramesOtherThanPingIsIgnored) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(RequestBytes(1, kEcho, EchoOf("ack"), 0, {},
                            kFlagEndStream | kFlagAck));
  absl::StatusOr<Response> unary = client->ReadResponse(1, kAnswerTimeout);
  ASSERT_THAT(unary, IsOk());
  ASSERT_THAT(unary->status, IsOk());
  EXPECT_EQ(EchoPayloadOf(unary->message), "ack");

  client->Send(RequestBytes(2, kEchoStream, EchoOf("x"), 0, {}, kFlagAck));
  // Without END_STREAM the REQUEST may carry no message: the ACK bit did not
  // make it END_STREAM.
  absl::StatusOr<Response> no_message = client->ReadResponse(2, kAnswerTimeout);
  ASSERT_THAT(no_message, IsOk());
  EXPECT_THAT(no_message->status,
              StatusIs(absl::StatusCode::kInvalidArgument));

  v1::EchoRequest request = EchoOf("stream");
  client->Send(OpenStreamBytes(3, kEchoStream) +
               FrameBytes(FrameType::kMessage, kFlagAck, 3,
                          request.SerializeAsString()) +
               FrameBytes(FrameType::kMessage, kFlagEndStream | kFlagAck, 3,
                          ""));
  absl::StatusOr<ReceivedFrame> echoed = client->ReadFrame(kAnswerTimeout);
  ASSERT_THAT(echoed, IsOk());
  EXPECT_EQ(echoed->header.type, FrameType::kMessage);
  EXPECT_EQ(EchoPayloadOf(echoed->payload), "stream");
  absl::StatusOr<Response> done = client->ReadResponse(3, kAnswerTimeout);
  ASSERT_THAT(done, IsOk());
  EXPECT_THAT(done->status, IsOk());

  client->Send(RequestBytes(4, kPark, EchoOf("cancelled")));
  ASSERT_TRUE(WaitForParked(1));
  client->Send(FrameBytes(FrameType::kCancel, kFlagAck, 4, ""));
  ExpectEchoServed(*client, 5);  // And no RESPONSE for 4 came before it.
}

// ---- §3.3 -------------------------------------------------------------------

// CANCEL names an existing call and may name any id: it does not count for
// "ids must increase", and a CANCEL above every REQUEST's id is ignored.
TEST_F(ProtocolRulesTest, Section3_3_CancelIdsDoNotCountForIncreasingIds) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(CancelBytes(100));
  ExpectEchoServed(*client, 5);
  client->Send(CancelBytes(3));  // Below: unknown, ignored.
  ExpectEchoServed(*client, 6);
  // 100 was never a call: a REQUEST may still use it.
  ExpectEchoServed(*client, 100);
}

// ---- §4.1, §4.4, §6.2 -------------------------------------------------------

TEST_F(ProtocolRulesTest, Section6_2_RequestPayloadUnderFourBytesIsInvalid) {
  StartServer();
  for (absl::string_view payload :
       {absl::string_view(), absl::string_view("\0\0\0", 3)}) {
    ExpectCallError(FrameBytes(FrameType::kRequest, kFlagEndStream, 1, payload),
                    absl::StatusCode::kInvalidArgument,
                    "too short for its header length");
  }
}

TEST_F(ProtocolRulesTest, Section4_1_EmptyOrSlashlessMethodIsInvalid) {
  StartServer();
  for (const char* method :
       {"", "Echo", "dualrpc.v1.FileService/Echo", "/dualrpc.v1.FileService",
        "/dualrpc.v1.FileService/", "//Echo", "/a/b/c"}) {
    SCOPED_TRACE(method);
    ExpectCallError(RequestBytes(1, method, EchoOf("x")),
                    absl::StatusCode::kInvalidArgument, "malformed method");
  }
  // Well-formed but not served: unknown, as before.
  ExpectCallError(RequestBytes(1, "/dualrpc.v1.FileService/Nope", EchoOf("x")),
                  absl::StatusCode::kUnimplemented, "unknown method");
}

TEST_F(ProtocolRulesTest, Section4_4_EmptyMetadataKeyIsInvalid) {
  StartServer();
  ExpectCallError(RequestBytes(1, kEcho, EchoOf("x"), 0, {{"", "value"}}),
                  absl::StatusCode::kInvalidArgument, "invalid metadata key");
}

TEST_F(ProtocolRulesTest, Section4_4_DualrpcEncodingOtherThanIdentityIsRefused) {
  StartServer();
  for (const char* encoding : {"gzip", "deflate", ""}) {
    SCOPED_TRACE(encoding);
    ExpectCallError(
        RequestBytes(1, kEcho, EchoOf("x"), 0, {{"dualrpc-encoding", encoding}}),
        absl::StatusCode::kUnimplemented, "compression is not supported");
  }
  std::unique_ptr<TestClient> client = Connect();
  client->Send(RequestBytes(1, kEcho, EchoOf("plain"), 0,
                            {{"dualrpc-encoding", "identity"}}));
  absl::StatusOr<Response> identity = client->ReadResponse(1, kAnswerTimeout);
  ASSERT_THAT(identity, IsOk());
  ASSERT_THAT(identity->status, IsOk());
  EXPECT_EQ(EchoPayloadOf(identity->message), "plain");
}

// ---- §4.3 -------------------------------------------------------------------

// RESOURCE_EXHAUSTED whether or not the REQUEST has END_STREAM: the limit is
// judged before the call's kind.
TEST_F(ProtocolRulesTest,
       Section4_3_OversizedRequestWithoutEndStreamIsResourceExhausted) {
  RawServer::Options options;
  options.max_message_bytes = 1024;
  options.max_header_bytes = 256;
  StartServer(options);
  const std::uint32_t frame_limit = 1024 + 256 + 4;
  std::unique_ptr<TestClient> client = Connect();
  // Over the frame limit: answered from the header, the payload skipped.
  client->Send(HeaderBytes(FrameType::kRequest, 0, 1, frame_limit + 1));
  absl::StatusOr<Response> skipped = client->ReadResponse(1, kAnswerTimeout);
  ASSERT_THAT(skipped, IsOk());
  EXPECT_THAT(skipped->status,
              StatusIs(absl::StatusCode::kResourceExhausted));
  client->Send(std::string(frame_limit + 1, 's'));
  // Within the frame limit, a message part over the message limit.
  client->Send(RequestBytes(2, kEchoStream, EchoOf(std::string(1100, 'm')), 0,
                            {}, /*flags=*/0));
  absl::StatusOr<Response> big = client->ReadResponse(2, kAnswerTimeout);
  ASSERT_THAT(big, IsOk());
  EXPECT_THAT(big->status, StatusIs(absl::StatusCode::kResourceExhausted,
                                    HasSubstr("exceeds the limit")));
  // The calls are over: their MESSAGE frames are ignored (§7.5).
  client->Send(MessageBytes(1, EchoOf("late")) + MessageBytes(2, EchoOf("")));
  ExpectEchoServed(*client, 3);
}

// An oversized REQUEST is skipped up to 16 frame limits; above that the
// server does not read it: a connection error RESOURCE_EXHAUSTED, at once.
TEST_F(ProtocolRulesTest, Section4_3_SkippingIsBoundedAtSixteenFrameLimits) {
  RawServer::Options options;
  options.max_message_bytes = 1024;
  options.max_header_bytes = 256;
  StartServer(options);
  const std::uint32_t bound = 16 * (1024 + 256 + 4);
  std::unique_ptr<TestClient> client = Connect();
  client->Send(HeaderBytes(FrameType::kRequest, kFlagEndStream, 1, bound));
  absl::StatusOr<Response> skipped = client->ReadResponse(1, kAnswerTimeout);
  ASSERT_THAT(skipped, IsOk());
  EXPECT_THAT(skipped->status,
              StatusIs(absl::StatusCode::kResourceExhausted));
  client->Send(std::string(bound, 's'));
  ExpectEchoServed(*client, 2);

  client->Send(HeaderBytes(FrameType::kMessage, 0, 2, bound + 1));
  ExpectGoawayAndClose(*client, absl::StatusCode::kResourceExhausted, 2,
                       "not skipped");
  std::unique_ptr<TestClient> second = Connect();
  second->Send(HeaderBytes(FrameType::kRequest, kFlagEndStream, 1, bound + 1));
  ExpectGoawayAndClose(*second, absl::StatusCode::kResourceExhausted, 0,
                       "not skipped");
}

// ---- §5.4 -------------------------------------------------------------------

// The client's FIN is its GOAWAY OK: every call read with it is answered,
// the fast ones (Echo, inline) and the slow ones (ListDirectory, queued on
// the one executor thread), then the server closes.
TEST_F(ProtocolRulesTest, Section5_4_HalfCloseAnswersEveryCallReadWithTheFin) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  std::string calls;
  std::map<std::uint32_t, bool> is_list;
  for (std::uint32_t id = 1; id <= 110; ++id) {
    const bool list = id % 11 == 0;
    calls += list ? RequestBytes(id, kList, ListOf(""))
                  : RequestBytes(id, kEcho, EchoOf(absl::StrCat(id)));
    is_list[id] = list;
  }
  client->Send(calls);
  client->ShutdownWrite();
  std::set<std::uint32_t> answered;
  for (int i = 0; i < 110; ++i) {
    absl::StatusOr<ReceivedFrame> frame = client->ReadFrame(kWaitTimeout);
    ASSERT_THAT(frame, IsOk()) << answered.size() << " answered";
    ASSERT_EQ(frame->header.type, FrameType::kResponse);
    absl::StatusOr<Response> response = ParseResponse(frame->payload);
    ASSERT_THAT(response, IsOk());
    EXPECT_THAT(response->status, IsOk()) << frame->header.call_id;
    if (is_list.at(frame->header.call_id)) {
      v1::ListDirectoryResponse listing;
      ASSERT_TRUE(listing.ParseFromString(response->message));
      EXPECT_EQ(listing.entries_size(), 20);
    } else {
      EXPECT_EQ(EchoPayloadOf(response->message),
                absl::StrCat(frame->header.call_id));
    }
    answered.insert(frame->header.call_id);
  }
  EXPECT_EQ(answered.size(), 110u);
  EXPECT_TRUE(client->ReadEof(kAnswerTimeout));
}

// A request stream still open at the FIN can never complete: that call is
// cancelled (no RESPONSE); a bidi call already half-closed and a parked
// unary call are answered.
TEST_F(ProtocolRulesTest, Section5_4_HalfCloseCancelsAnOpenRequestStream) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(OpenStreamBytes(1, kEchoStream) + MessageBytes(1, EchoOf("a")));
  absl::StatusOr<ReceivedFrame> echoed = client->ReadFrame(kAnswerTimeout);
  ASSERT_THAT(echoed, IsOk());
  ASSERT_EQ(echoed->header.type, FrameType::kMessage);
  client->Send(RequestBytes(2, kPark, EchoOf("parked")) +
               RequestBytes(3, kEchoStream, EchoOf("only"), 0, {},
                            kFlagEndStream));
  ASSERT_TRUE(WaitForParked(1));
  client->ShutdownWrite();
  // Call 3's echo and RESPONSE; then release call 2 and read its RESPONSE.
  std::map<std::uint32_t, std::vector<FrameType>> frames;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<ReceivedFrame> frame = client->ReadFrame(kAnswerTimeout);
    ASSERT_THAT(frame, IsOk());
    frames[frame->header.call_id].push_back(frame->header.type);
  }
  ReleaseParked();
  absl::StatusOr<Response> parked = client->ReadResponse(2, kAnswerTimeout);
  ASSERT_THAT(parked, IsOk());
  EXPECT_THAT(parked->status, IsOk());
  EXPECT_EQ(EchoPayloadOf(parked->message), "parked");
  EXPECT_TRUE(client->ReadEof(kAnswerTimeout));
  EXPECT_EQ(frames[3], (std::vector<FrameType>{FrameType::kMessage,
                                               FrameType::kResponse}));
  EXPECT_EQ(frames.count(1), 0u) << "the open stream got frames after the FIN";
}

// ---- §5.5 -------------------------------------------------------------------

// A client's GOAWAY OK: calls read before it are answered, later REQUESTs
// get UNAVAILABLE (not run), and the server closes once nothing is in
// flight.
TEST_F(ProtocolRulesTest, Section5_5_ClientGoawayAnswersWhatWasReadAndCloses) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(RequestBytes(1, kPark, EchoOf("before")));
  ASSERT_TRUE(WaitForParked(1));
  client->Send(GoawayBytes(absl::StatusCode::kOk, "done") +
               RequestBytes(2, kEcho, EchoOf("after")));
  absl::StatusOr<Response> refused = client->ReadResponse(2, kAnswerTimeout);
  ASSERT_THAT(refused, IsOk());
  EXPECT_THAT(refused->status, StatusIs(absl::StatusCode::kUnavailable,
                                        HasSubstr("the client sent GOAWAY")));
  // Still open while call 1 is in flight.
  EXPECT_FALSE(client->ReadEof(absl::Milliseconds(200)));
  ReleaseParked();
  absl::StatusOr<Response> answered = client->ReadResponse(1, kAnswerTimeout);
  ASSERT_THAT(answered, IsOk());
  EXPECT_THAT(answered->status, IsOk());
  EXPECT_EQ(EchoPayloadOf(answered->message), "before");
  EXPECT_TRUE(client->ReadEof(kAnswerTimeout));
}

// An error GOAWAY answers nothing more: the C++ client fails every call
// still pending, those the server read included, with UNAVAILABLE naming
// the GOAWAY's status and message.
TEST(ProtocolRulesClientTest, Section5_5_ErrorGoawayFailsPendingCallsNamingIt) {
  ScriptedRawServer server;
  absl::StatusOr<std::shared_ptr<RawChannel>> channel =
      RawChannel::Create(server.address());
  ASSERT_THAT(channel, IsOk());
  struct Call {
    v1::EchoResponse response;
    absl::Notification done;
    absl::Status status;
  };
  Call read_by_server, not_read;
  (*channel)->StartUnaryCall(kEcho, EchoOf("1"), &read_by_server.response, {},
                             [&](absl::Status status) {
                               read_by_server.status = std::move(status);
                               read_by_server.done.Notify();
                             });
  absl::StatusOr<std::unique_ptr<ScriptedConnection>> connection =
      server.Accept();
  ASSERT_THAT(connection, IsOk());
  ASSERT_THAT((*connection)->Handshake(), IsOk());
  absl::StatusOr<ReceivedFrame> first =
      (*connection)->ReadFrameOf(FrameType::kRequest);
  ASSERT_THAT(first, IsOk());
  (*channel)->StartUnaryCall(kEcho, EchoOf("2"), &not_read.response, {},
                             [&](absl::Status status) {
                               not_read.status = std::move(status);
                               not_read.done.Notify();
                             });
  absl::StatusOr<ReceivedFrame> second =
      (*connection)->ReadFrameOf(FrameType::kRequest);
  ASSERT_THAT(second, IsOk());
  net::Buffer goaway;
  AppendGoaway(&goaway, Goaway{first->header.call_id,
                               absl::StatusCode::kInternal,
                               "call ids must increase"});
  (*connection)->Send(goaway.View());
  for (Call* call : {&read_by_server, &not_read}) {
    ASSERT_TRUE(call->done.WaitForNotificationWithTimeout(kWaitTimeout));
    EXPECT_THAT(call->status,
                StatusIs(absl::StatusCode::kUnavailable,
                         HasSubstr("GOAWAY INTERNAL: call ids must increase")));
  }
  EXPECT_TRUE((*connection)->WaitForEof());
}

}  // namespace
}  // namespace dualrpc::raw
