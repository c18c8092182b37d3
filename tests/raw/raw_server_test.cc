// RawServer over real sockets: a server started in-process on 127.0.0.1:0,
// a hand-built registry, and a blocking test client that writes exact bytes.

#include "dualrpc/raw/server/raw_server.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/raw/wire/frame_decoder.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/rpc/transport_stats.h"
#include "dualrpc/v1/file_service.pb.h"
#include "dualrpc/wire/v1/wire.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "raw/test_client.h"
#include "testing/status_matchers.h"
#include "testing/transport_stats.h"
#include "testing/unary_method.h"
#include "testing/wait.h"

namespace dualrpc::raw {
namespace {

using ::dualrpc_testing::Eventually;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::kWaitTimeout;
using ::dualrpc_testing::RefusedCount;
using ::dualrpc_testing::RefusedTotal;
using ::dualrpc_testing::StatusIs;
using ::dualrpc_testing::UnaryMethodFrom;
using ::testing::HasSubstr;

constexpr char kEcho[] = "/dualrpc.v1.FileService/Echo";
// Completes when the test releases it (Release below, or ParkingLot).
constexpr char kPark[] = "/dualrpc.test.Test/Park";
// Completes the parked call named by its payload, inline on the loop thread,
// then itself.
constexpr char kRelease[] = "/dualrpc.test.Test/Release";
// Responds with its payload four times over.
constexpr char kGrow[] = "/dualrpc.test.Test/Grow";
// Destroys its done without running it.
constexpr char kDrop[] = "/dualrpc.test.Test/Drop";
// NOT_FOUND with response metadata.
constexpr char kFail[] = "/dualrpc.test.Test/Fail";
// Returns request metadata as response metadata, and peer() as payload.
constexpr char kInspect[] = "/dualrpc.test.Test/Inspect";
// Echoes a non-empty payload; leaves the response untouched otherwise.
constexpr char kMaybeEcho[] = "/dualrpc.test.Test/MaybeEcho";
// Responds with an identifier of the thread it ran on: inline, so the loop
// thread of its connection.
constexpr char kWhichThread[] = "/dualrpc.test.Test/WhichThread";

v1::EchoRequest EchoRequestOf(absl::string_view payload) {
  v1::EchoRequest request;
  request.set_payload(std::string(payload));
  return request;
}

std::string EchoPayload(const Response& response) {
  v1::EchoResponse message;
  EXPECT_TRUE(message.ParseFromString(response.message));
  return message.payload();
}

// Calls parked by kPark, keyed by their request payload, until released.
class ParkingLot {
 public:
  struct Parked {
    rpc::ServerCallContext* context = nullptr;
    v1::EchoResponse* response = nullptr;
    rpc::UnaryDone done;
  };

  void Park(std::string key, Parked parked) {
    absl::MutexLock lock(&mu_);
    parked_[std::move(key)] = std::move(parked);
  }

  bool WaitForCount(std::size_t count, absl::Duration timeout = kWaitTimeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return parked_.size() >= count;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

  bool WaitForKey(const std::string& key,
                  absl::Duration timeout = kWaitTimeout) {
    absl::MutexLock lock(&mu_);
    auto parked = [this, &key]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return parked_.count(key) != 0;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&parked), timeout);
  }

  // True once the call parked as `key` is cancelled (polled: nothing
  // notifies it); false if no such call or not within kWaitTimeout.
  bool WaitUntilCancelled(const std::string& key) {
    bool parked = true;
    const bool cancelled = Eventually([&] {
      absl::MutexLock lock(&mu_);
      auto it = parked_.find(key);
      parked = it != parked_.end();
      return !parked || it->second.context->IsCancelled();
    });
    return parked && cancelled;
  }

  absl::Time Deadline(const std::string& key) {
    absl::MutexLock lock(&mu_);
    return parked_.at(key).context->deadline();
  }

  // Completes the call parked as `key` on the calling thread, with the key
  // as its response payload. False if no such call.
  bool Release(const std::string& key) {
    Parked parked;
    {
      absl::MutexLock lock(&mu_);
      auto it = parked_.find(key);
      if (it == parked_.end()) return false;
      parked = std::move(it->second);
      parked_.erase(it);
    }
    parked.response->set_payload(key);
    std::move(parked.done)(absl::OkStatus());
    return true;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, Parked> parked_ ABSL_GUARDED_BY(mu_);
};

class RawServerTest : public ::testing::Test {
 protected:
  RawServerTest() {
    Add(kEcho, [](rpc::ServerCallContext*, const v1::EchoRequest& in,
                  v1::EchoResponse* out, rpc::UnaryDone done) {
      out->set_payload(in.payload());
      std::move(done)(absl::OkStatus());
    });
    Add(kPark,
        [this](rpc::ServerCallContext* context, const v1::EchoRequest& in,
               v1::EchoResponse* out, rpc::UnaryDone done) {
          lot_.Park(in.payload(), {context, out, std::move(done)});
        });
    Add(kRelease, [this](rpc::ServerCallContext*, const v1::EchoRequest& in,
                         v1::EchoResponse*, rpc::UnaryDone done) {
      std::move(done)(lot_.Release(in.payload())
                          ? absl::OkStatus()
                          : absl::NotFoundError("nothing parked"));
    });
    Add(kGrow, [](rpc::ServerCallContext*, const v1::EchoRequest& in,
                  v1::EchoResponse* out, rpc::UnaryDone done) {
      out->set_payload(
          absl::StrCat(in.payload(), in.payload(), in.payload(), in.payload()));
      std::move(done)(absl::OkStatus());
    });
    Add(kDrop,
        [](rpc::ServerCallContext*, const v1::EchoRequest&, v1::EchoResponse*,
           rpc::UnaryDone done) { rpc::UnaryDone dropped = std::move(done); });
    Add(kFail, [](rpc::ServerCallContext* context, const v1::EchoRequest&,
                  v1::EchoResponse*, rpc::UnaryDone done) {
      context->AddResponseMetadata("why", "because");
      std::move(done)(absl::NotFoundError("no such thing"));
    });
    Add(kMaybeEcho, [](rpc::ServerCallContext*, const v1::EchoRequest& in,
                       v1::EchoResponse* out, rpc::UnaryDone done) {
      if (!in.payload().empty()) out->set_payload(in.payload());
      std::move(done)(absl::OkStatus());
    });
    Add(kInspect, [](rpc::ServerCallContext* context, const v1::EchoRequest&,
                     v1::EchoResponse* out, rpc::UnaryDone done) {
      for (const auto& [key, value] : context->request_metadata()) {
        context->AddResponseMetadata(key, value);
      }
      out->set_payload(context->peer());
      std::move(done)(absl::OkStatus());
    });
    Add(kWhichThread, [](rpc::ServerCallContext*, const v1::EchoRequest&,
                         v1::EchoResponse* out, rpc::UnaryDone done) {
      out->set_payload(absl::StrCat(
          std::hash<std::thread::id>()(std::this_thread::get_id())));
      std::move(done)(absl::OkStatus());
    });
  }

  // Registers `body` as a method over EchoRequest/EchoResponse at `path`.
  void Add(std::string path,
           dualrpc_testing::UnaryBody<v1::EchoRequest, v1::EchoResponse> body) {
    ASSERT_THAT(
        registry_.AddMethod(UnaryMethodFrom<v1::EchoRequest, v1::EchoResponse>(
            std::move(path), std::move(body))),
        IsOk());
  }

  void StartServer(RawServer::Options options = {}) {
    options.listen_address = "127.0.0.1:0";
    options.event_loop_threads = 2;
    absl::StatusOr<std::unique_ptr<RawServer>> server =
        RawServer::Start(options, &registry_);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
  }

  // A connection past the preface exchange.
  std::unique_ptr<TestClient> Connect() {
    auto client = std::make_unique<TestClient>(server_->address());
    client->Send(PrefaceBytes());
    EXPECT_THAT(client->ReadPreface(), IsOk());
    return client;
  }

  static absl::StatusOr<Response> Call(TestClient& client,
                                       std::uint32_t call_id,
                                       absl::string_view method,
                                       absl::string_view payload,
                                       std::uint64_t timeout_micros = 0) {
    client.Send(
        RequestBytes(call_id, method, EchoRequestOf(payload), timeout_micros));
    return client.ReadResponse(call_id);
  }

  // The server is healthy: a fresh connection gets an echo answered.
  void ExpectServedOnNewConnection() {
    std::unique_ptr<TestClient> client = Connect();
    absl::StatusOr<Response> response = Call(*client, 1, kEcho, "still here");
    ASSERT_THAT(response, IsOk());
    EXPECT_THAT(response->status, IsOk());
    EXPECT_EQ(EchoPayload(*response), "still here");
  }

  static void ExpectGoaway(TestClient& client, absl::StatusCode code,
                           std::uint32_t last_call_id,
                           absl::string_view message_part = "") {
    absl::StatusOr<ReceivedFrame> frame = client.ReadFrame();
    ASSERT_THAT(frame, IsOk());
    ASSERT_EQ(frame->header.type, FrameType::kGoaway);
    absl::StatusOr<Goaway> goaway = ParseGoaway(frame->payload);
    ASSERT_THAT(goaway, IsOk());
    EXPECT_EQ(goaway->code, code) << goaway->message;
    EXPECT_EQ(goaway->last_call_id, last_call_id);
    EXPECT_THAT(goaway->message, HasSubstr(std::string(message_part)));
  }

  // §5.3 step 1: GOAWAY UNAVAILABLE with last_call_id 0xFFFFFFFF, then the
  // DRAINING PING.
  static void ExpectDrainNotice(TestClient& client) {
    ExpectGoaway(client, absl::StatusCode::kUnavailable, 0xFFFFFFFF,
                 "server is shutting down");
    absl::StatusOr<ReceivedFrame> ping = client.ReadFrame();
    ASSERT_THAT(ping, IsOk());
    EXPECT_EQ(ping->header.type, FrameType::kPing);
    EXPECT_EQ(ping->header.flags, 0);
    EXPECT_EQ(ping->payload, "DRAINING");
  }

  static void AckDrainPing(TestClient& client) {
    client.Send(FrameBytes(FrameType::kPing, kFlagAck, 0, kDrainPingPayload));
  }

  // Declared before server_ so that they outlive it: parked calls may still
  // hold their done when the server is destroyed.
  ParkingLot lot_;
  rpc::ServiceRegistry registry_;
  std::unique_ptr<RawServer> server_;
};

// Polls until a connection attempt is refused (drain reaches every loop
// asynchronously).
bool EventuallyRefusesConnections(const std::string& address) {
  return Eventually([&] { return !CanConnect(address); });
}

// ---- Basics -----------------------------------------------------------------

TEST_F(RawServerTest, EchoRoundTrip) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  absl::StatusOr<Response> response = Call(*client, 1, kEcho, "hello");
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->status, IsOk());
  EXPECT_TRUE(response->metadata.empty());
  EXPECT_EQ(EchoPayload(*response), "hello");
}

// Messages are reused across calls (MessagePool): nothing of one call's
// request or response may show in the next one's, on any connection.
TEST_F(RawServerTest, NoCallSeesAnotherCallsMessages) {
  StartServer();
  std::unique_ptr<TestClient> first = Connect();
  std::unique_ptr<TestClient> second = Connect();
  for (std::uint32_t round = 1; round <= 4; ++round) {
    for (TestClient* client : {first.get(), second.get()}) {
      absl::StatusOr<Response> full =
          Call(*client, 2 * round - 1, kMaybeEcho, "secret");
      ASSERT_THAT(full, IsOk());
      EXPECT_EQ(EchoPayload(*full), "secret");
      absl::StatusOr<Response> empty = Call(*client, 2 * round, kMaybeEcho, "");
      ASSERT_THAT(empty, IsOk());
      EXPECT_THAT(empty->status, IsOk());
      EXPECT_EQ(EchoPayload(*empty), "");
      EXPECT_TRUE(empty->message.empty());
    }
  }
}

TEST_F(RawServerTest, ReportsTheBoundAddress) {
  StartServer();
  EXPECT_TRUE(absl::StartsWith(server_->address(), "127.0.0.1:"));
  EXPECT_NE(server_->address(), "127.0.0.1:0");
}

TEST_F(RawServerTest, RejectsBadOptions) {
  RawServer::Options options;
  options.max_header_bytes = 10;
  EXPECT_THAT(RawServer::Start(options, &registry_),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RawServer::Start({}, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
  options = {};
  options.listen_address = "no-port";
  EXPECT_THAT(RawServer::Start(options, &registry_),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(RawServerTest, ServiceErrorsCarryStatusAndMetadata) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  absl::StatusOr<Response> response = Call(*client, 1, kFail, "");
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, absl::NotFoundError("no such thing"));
  EXPECT_TRUE(response->message.empty());
  EXPECT_EQ(response->metadata, (rpc::Metadata{{"why", "because"}}));
}

TEST_F(RawServerTest, MetadataAndPeerReachTheImplementation) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  const rpc::Metadata metadata = {{"authorization", "Bearer x"},
                                  {"trace-bin", std::string("\0\xff", 2)},
                                  {"authorization", "again"}};
  client->Send(RequestBytes(1, kInspect, EchoRequestOf(""), 0, metadata));
  absl::StatusOr<Response> response = client->ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->status, IsOk());
  EXPECT_EQ(response->metadata, metadata);
  EXPECT_TRUE(absl::StartsWith(EchoPayload(*response), "ipv4:127.0.0.1:"));
}

TEST_F(RawServerTest, InvalidMetadataIsInvalidArgument) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(
      RequestBytes(1, kInspect, EchoRequestOf(""), 0, {{"Upper-Case", "x"}}));
  absl::StatusOr<Response> response = client->ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->status, StatusIs(absl::StatusCode::kInvalidArgument));
  absl::StatusOr<Response> after = Call(*client, 2, kEcho, "ok");
  ASSERT_THAT(after, IsOk());
  EXPECT_THAT(after->status, IsOk());
}

TEST_F(RawServerTest, UnknownMethodIsUnimplemented) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  absl::StatusOr<Response> response = Call(*client, 1, "/x.Y/Z", "");
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status,
            absl::UnimplementedError("unknown method /x.Y/Z"));
}

TEST_F(RawServerTest, UnparseableRequestsAreInvalidArgument) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  const std::string bad_payloads[] = {
      // Header length beyond the payload.
      std::string("\0\0\0\x09"
                  "abc",
                  7),
      // Header that is not a RequestHeader.
      std::string("\0\0\0\x02\xff\xff", 6),
      // Too short for a header length.
      std::string("\0\0", 2),
  };
  std::uint32_t id = 0;
  for (const std::string& payload : bad_payloads) {
    client->Send(
        FrameBytes(FrameType::kRequest, kFlagEndStream, ++id, payload));
    absl::StatusOr<Response> response = client->ReadResponse(id);
    ASSERT_THAT(response, IsOk());
    EXPECT_THAT(response->status, StatusIs(absl::StatusCode::kInvalidArgument));
  }
  // A message that is not an EchoRequest (field 1 with a bad wire type).
  wire::v1::RequestHeader header;
  header.set_method(kEcho);
  const std::string header_bytes = header.SerializeAsString();
  std::string payload(4, '\0');
  net::StoreUint32(payload.data(),
                   static_cast<std::uint32_t>(header_bytes.size()));
  payload += header_bytes + "\x0f\xff";
  client->Send(FrameBytes(FrameType::kRequest, kFlagEndStream, ++id, payload));
  absl::StatusOr<Response> response = client->ReadResponse(id);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status,
            absl::InvalidArgumentError(
                "request message does not parse as dualrpc.v1.EchoRequest"));
  absl::StatusOr<Response> after = Call(*client, ++id, kEcho, "fine");
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(EchoPayload(*after), "fine");
}

TEST_F(RawServerTest, UnaryWithoutEndStreamAndCompressionFailPerCall) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  // §7.5: a unary method takes its one request in the REQUEST.
  client->Send(RequestBytes(1, kEcho, EchoRequestOf("x"), 0, {}, /*flags=*/0));
  absl::StatusOr<Response> streaming = client->ReadResponse(1);
  ASSERT_THAT(streaming, IsOk());
  EXPECT_EQ(streaming->status,
            absl::InvalidArgumentError(
                "method /dualrpc.v1.FileService/Echo takes one request: send "
                "it in the REQUEST, with END_STREAM"));
  client->Send(RequestBytes(2, kEcho, EchoRequestOf("x"), 0, {},
                            kFlagEndStream | kFlagCompressed));
  absl::StatusOr<Response> compressed = client->ReadResponse(2);
  ASSERT_THAT(compressed, IsOk());
  EXPECT_EQ(compressed->status,
            absl::UnimplementedError("compression is not supported"));
  absl::StatusOr<Response> after = Call(*client, 3, kEcho, "open");
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(EchoPayload(*after), "open");
}

TEST_F(RawServerTest, ResponseOverTheMessageLimitIsResourceExhausted) {
  RawServer::Options options;
  options.max_message_bytes = 1024;
  StartServer(options);
  std::unique_ptr<TestClient> client = Connect();
  absl::StatusOr<Response> response =
      Call(*client, 1, kGrow, std::string(600, 'g'));
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->status, StatusIs(absl::StatusCode::kResourceExhausted,
                                         HasSubstr("exceeds")));
}

TEST_F(RawServerTest, DroppedDoneCompletesWithInternal) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  absl::StatusOr<Response> response = Call(*client, 1, kDrop, "");
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->status, StatusIs(absl::StatusCode::kInternal));
}

TEST_F(RawServerTest, PingIsAnsweredWithAck) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  // An ACK from the client answers nothing of ours and is ignored.
  client->Send(FrameBytes(FrameType::kPing, kFlagAck, 0, "ignored!"));
  client->Send(FrameBytes(FrameType::kPing, 0, 0, "pingpong"));
  absl::StatusOr<ReceivedFrame> frame = client->ReadFrame();
  ASSERT_THAT(frame, IsOk());
  EXPECT_EQ(frame->header.type, FrameType::kPing);
  EXPECT_EQ(frame->header.flags, kFlagAck);
  EXPECT_EQ(frame->header.call_id, 0u);
  EXPECT_EQ(frame->payload, "pingpong");
}

// ---- Framing over a socket
// ----------------------------------------------------

TEST_F(RawServerTest, FrameSplitAtEveryByteBoundary) {
  StartServer();
  TestClient client(server_->address());
  client.SendByteByByte(PrefaceBytes() +
                        RequestBytes(1, kEcho, EchoRequestOf("drip"), 5000000));
  ASSERT_THAT(client.ReadPreface(), IsOk());
  absl::StatusOr<Response> response = client.ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(EchoPayload(*response), "drip");
  ExpectServedOnNewConnection();
}

TEST_F(RawServerTest, ManyFramesInOneSend) {
  StartServer();
  TestClient client(server_->address());
  std::string burst = PrefaceBytes();
  for (std::uint32_t id = 1; id <= 200; ++id) {
    burst += RequestBytes(id, kEcho, EchoRequestOf(absl::StrCat("m", id)));
  }
  client.Send(burst);
  ASSERT_THAT(client.ReadPreface(), IsOk());
  for (std::uint32_t id = 1; id <= 200; ++id) {
    absl::StatusOr<Response> response = client.ReadResponse(id);
    ASSERT_THAT(response, IsOk());
    EXPECT_EQ(EchoPayload(*response), absl::StrCat("m", id));
  }
}

TEST_F(RawServerTest, OversizedRequestIsRejectedAndTheConnectionStaysInSync) {
  RawServer::Options options;
  // A frame limit of 1 MiB + 260: 8 MiB is within the 16 limits that are
  // skipped (§4.3).
  options.max_message_bytes = 1024 * 1024;
  options.max_header_bytes = 256;
  StartServer(options);
  std::unique_ptr<TestClient> client = Connect();
  const std::uint32_t declared = 8 * 1024 * 1024;
  std::string header(kFrameHeaderSize, '\0');
  net::StoreUint32(header.data(), declared);
  header[4] = static_cast<char>(FrameType::kRequest);
  header[5] = kFlagEndStream;
  net::StoreUint32(header.data() + 8, 1);
  // Answered as soon as the header is read, before any of the body.
  client->Send(header);
  absl::StatusOr<Response> rejected = client->ReadResponse(1);
  ASSERT_THAT(rejected, IsOk());
  EXPECT_THAT(rejected->status, StatusIs(absl::StatusCode::kResourceExhausted,
                                         HasSubstr("8388608")));
  // The body is discarded as it arrives; the next frame is served.
  client->Send(std::string(declared, 'j'));
  absl::StatusOr<Response> after = Call(*client, 2, kEcho, "in sync");
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(EchoPayload(*after), "in sync");
  ExpectServedOnNewConnection();
}

TEST_F(RawServerTest, BadPrefaceClosesSilently) {
  StartServer();
  for (absl::string_view preface :
       {absl::string_view("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        absl::string_view("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        absl::string_view("DRPX\x01\x00\x00\x00", 8)}) {
    TestClient client(server_->address());
    client.Send(preface);
    EXPECT_TRUE(client.ReadEof()) << preface;
  }
  ExpectServedOnNewConnection();
}

TEST_F(RawServerTest, UnsupportedMajorVersionGetsPrefaceAndGoaway) {
  StartServer();
  TestClient client(server_->address());
  client.Send(PrefaceBytes(2, 0));
  ASSERT_THAT(client.ReadPreface(), IsOk());  // Ours names 1.2.
  ExpectGoaway(client, absl::StatusCode::kUnimplemented, 0,
               "unsupported protocol version 2.0; this server speaks 1.2");
  EXPECT_TRUE(client.ReadEof());
  ExpectServedOnNewConnection();
}

TEST_F(RawServerTest, NewerMinorVersionIsAccepted) {
  StartServer();
  TestClient client(server_->address());
  client.Send(PrefaceBytes(1, 9));
  ASSERT_THAT(client.ReadPreface(), IsOk());
  absl::StatusOr<ReceivedFrame> settings = client.ReadFrame();
  ASSERT_THAT(settings, IsOk());
  EXPECT_EQ(settings->header.type, FrameType::kSettings);
  absl::StatusOr<Response> response = Call(client, 1, kEcho, "minor");
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(EchoPayload(*response), "minor");
}

TEST_F(RawServerTest, TruncatedFrameThenCloseJustCloses) {
  StartServer();
  TestClient client(server_->address());
  const std::string request = RequestBytes(1, kEcho, EchoRequestOf("cut"));
  client.Send(PrefaceBytes() + request.substr(0, 7));
  client.ShutdownWrite();
  ASSERT_THAT(client.ReadPreface(), IsOk());
  EXPECT_TRUE(client.ReadEof());
  ExpectServedOnNewConnection();
}

TEST_F(RawServerTest, UnknownFrameTypeIsAConnectionError) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  ASSERT_THAT(Call(*client, 3, kEcho, "before"), IsOk());
  client->Send(FrameBytes(static_cast<FrameType>(0x42), 0, 4, ""));
  ExpectGoaway(*client, absl::StatusCode::kUnimplemented, 3,
               "unknown frame type 0x42");
  EXPECT_TRUE(client->ReadEof());
  ExpectServedOnNewConnection();
}

TEST_F(RawServerTest, NonIncreasingCallIdIsAConnectionError) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  ASSERT_THAT(Call(*client, 5, kEcho, "five"), IsOk());
  client->Send(RequestBytes(5, kEcho, EchoRequestOf("again")));
  ExpectGoaway(*client, absl::StatusCode::kInternal, 5,
               "call ids must increase");
  EXPECT_TRUE(client->ReadEof());
}

TEST_F(RawServerTest, ResponseFromAClientIsAConnectionError) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(FrameBytes(FrameType::kResponse, kFlagEndStream, 1,
                          std::string(4, '\0')));
  ExpectGoaway(*client, absl::StatusCode::kInternal, 0, "RESPONSE");
  EXPECT_TRUE(client->ReadEof());
}

TEST_F(RawServerTest, RandomGarbageNeverHurtsTheServer) {
  StartServer();
  std::mt19937 random(7);
  for (int round = 0; round < 20; ++round) {
    TestClient client(server_->address());
    std::string garbage(1 + random() % 2000, '\0');
    for (char& c : garbage) c = static_cast<char>(random());
    // Half the rounds speak the preface first, to get past the magic check.
    client.Send(round % 2 == 0 ? PrefaceBytes() + garbage : garbage);
    client.ShutdownWrite();
    absl::StatusOr<std::string> output = client.ReadAll();
    ASSERT_THAT(output, IsOk()) << "server did not close";
    // Whatever the server said is well-formed.
    FrameDecoder decoder{FrameLimits{}};
    net::Buffer input;
    input.Append(*output);
    for (FrameDecoder::Event event = decoder.Next(&input);
         event.kind != FrameDecoder::Event::kNeedMoreInput;
         event = decoder.Next(&input)) {
      ASSERT_NE(event.kind, FrameDecoder::Event::kError) << event.error;
      ASSERT_NE(event.kind, FrameDecoder::Event::kBadMagic);
    }
    EXPECT_TRUE(decoder.CheckEof(input).ok() || output->empty());
  }
  ExpectServedOnNewConnection();
}

// ---- Concurrency, deadlines, cancellation
// -------------------------------------

TEST_F(RawServerTest, ConcurrentCallsCompleteOutOfOrder) {
  constexpr int kCalls = 64;
  // Room for kCalls parked calls: each call in flight reserves
  // max_message_bytes of the connection's output limit (§4.3).
  RawServer::Options options;
  options.output_high_water_bytes =
      std::size_t{kCalls + 1} * options.max_message_bytes;
  StartServer(options);
  std::unique_ptr<TestClient> client = Connect();
  std::string burst;
  for (int i = 0; i < kCalls; ++i) {
    burst += RequestBytes(static_cast<std::uint32_t>(i + 1), kPark,
                          EchoRequestOf(absl::StrCat(i)));
  }
  client->Send(burst);
  ASSERT_TRUE(lot_.WaitForCount(kCalls));
  // Released from this thread (not a loop thread), in an order unlike the
  // requests'. Completions reach the loop in release order, so responses
  // must come out in exactly that order.
  std::vector<int> order(kCalls);
  for (int i = 0; i < kCalls; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  std::reverse(order.begin(), order.begin() + kCalls / 2);
  for (int i : order) ASSERT_TRUE(lot_.Release(absl::StrCat(i)));

  std::vector<int> responded;
  for (int i = 0; i < kCalls; ++i) {
    absl::StatusOr<ReceivedFrame> frame = client->ReadFrame();
    ASSERT_THAT(frame, IsOk());
    ASSERT_EQ(frame->header.type, FrameType::kResponse);
    absl::StatusOr<Response> response = ParseResponse(frame->payload);
    ASSERT_THAT(response, IsOk());
    const int index = static_cast<int>(frame->header.call_id) - 1;
    EXPECT_EQ(EchoPayload(*response), absl::StrCat(index));
    responded.push_back(index);
  }
  EXPECT_EQ(responded, order);
  std::vector<int> request_order(kCalls);
  for (int i = 0; i < kCalls; ++i) request_order[i] = i;
  EXPECT_NE(responded, request_order);
}

TEST_F(RawServerTest, DeadlineExpiryAnswersDeadlineExceededAndCancels) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  const absl::Time before = absl::Now();
  client->Send(RequestBytes(1, kPark, EchoRequestOf("slow"), 50 * 1000));
  ASSERT_TRUE(lot_.WaitForKey("slow"));
  const absl::Time deadline = lot_.Deadline("slow");
  EXPECT_GE(deadline, before + absl::Milliseconds(50));
  EXPECT_LE(deadline, absl::Now() + absl::Milliseconds(50));

  absl::StatusOr<Response> response = client->ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, absl::DeadlineExceededError("deadline exceeded"));
  EXPECT_TRUE(lot_.WaitUntilCancelled("slow"));
  // The late completion (inline, on the loop thread) is dropped: the next
  // frame is the releasing call's own response.
  absl::StatusOr<Response> released = Call(*client, 2, kRelease, "slow");
  ASSERT_THAT(released, IsOk());
  EXPECT_THAT(released->status, IsOk());
}

TEST_F(RawServerTest, CancelSendsNothingAndCancelsTheImplementation) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(RequestBytes(1, kPark, EchoRequestOf("doomed")));
  ASSERT_TRUE(lot_.WaitForKey("doomed"));
  client->Send(FrameBytes(FrameType::kCancel, 0, 1, ""));
  EXPECT_TRUE(lot_.WaitUntilCancelled("doomed"));
  // CANCEL for an unknown id is ignored.
  client->Send(FrameBytes(FrameType::kCancel, 0, 99, ""));
  absl::StatusOr<Response> released = Call(*client, 2, kRelease, "doomed");
  ASSERT_THAT(released, IsOk());
  EXPECT_THAT(released->status, IsOk());
}

TEST_F(RawServerTest,
       ACallCompletedInsideAnotherCallsInvokeLeavesNothingInFlight) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(RequestBytes(1, kPark, EchoRequestOf("held")));
  ASSERT_TRUE(lot_.WaitForKey("held"));
  // Call 2's implementation completes call 1 on the loop thread, inside its
  // own invoke, then completes itself: call 1 must leave the in-flight set
  // and call 2 must never enter it.
  client->Send(RequestBytes(2, kRelease, EchoRequestOf("held")));
  absl::StatusOr<Response> held = client->ReadResponse(1);
  ASSERT_THAT(held, IsOk());
  EXPECT_THAT(held->status, IsOk());
  EXPECT_EQ(EchoPayload(*held), "held");
  absl::StatusOr<Response> released = client->ReadResponse(2);
  ASSERT_THAT(released, IsOk());
  EXPECT_THAT(released->status, IsOk());
  // The client leaves: the server closes at once only if nothing is left in
  // flight.
  net::Buffer goaway;
  AppendGoaway(&goaway, Goaway{2, absl::StatusCode::kOk, "bye"});
  client->Send(goaway.View());
  EXPECT_TRUE(client->ReadEof(absl::Seconds(5)));
}

TEST_F(RawServerTest, CompletionAfterTheConnectionClosedIsDropped) {
  StartServer();
  {
    std::unique_ptr<TestClient> client = Connect();
    client->Send(RequestBytes(1, kPark, EchoRequestOf("orphan")));
    ASSERT_TRUE(lot_.WaitForKey("orphan"));
    // Reset, not a FIN: a FIN is a half-close, whose calls are answered
    // (§5.4).
    const linger reset = {1, 0};
    ASSERT_EQ(setsockopt(client->fd(), SOL_SOCKET, SO_LINGER, &reset,
                         sizeof reset),
              0);
  }  // Closed with the call in flight.
  EXPECT_TRUE(lot_.WaitUntilCancelled("orphan"));
  EXPECT_TRUE(lot_.Release("orphan"));  // From this thread: posted, dropped.
  ExpectServedOnNewConnection();
}

TEST_F(RawServerTest, TooManyCallsInFlightIsResourceExhausted) {
  RawServer::Options options;
  options.max_calls_in_flight = 2;
  StartServer(options);
  std::unique_ptr<TestClient> client = Connect();
  client->Send(RequestBytes(1, kPark, EchoRequestOf("a")) +
               RequestBytes(2, kPark, EchoRequestOf("b")) +
               RequestBytes(3, kPark, EchoRequestOf("c")));
  absl::StatusOr<Response> third = client->ReadResponse(3);
  ASSERT_THAT(third, IsOk());
  EXPECT_THAT(third->status, StatusIs(absl::StatusCode::kResourceExhausted));
  ASSERT_TRUE(lot_.Release("a"));
  absl::StatusOr<Response> first = client->ReadResponse(1);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(EchoPayload(*first), "a");
  // The slot is free again.
  client->Send(RequestBytes(4, kPark, EchoRequestOf("d")));
  ASSERT_TRUE(lot_.WaitForKey("d"));
  ASSERT_TRUE(lot_.Release("d"));
  ASSERT_THAT(client->ReadResponse(4), IsOk());
  ASSERT_TRUE(lot_.Release("b"));
  ASSERT_THAT(client->ReadResponse(2), IsOk());
}

// ---- Loops
// -------------------------------------------------------------------

// Connections are dealt to the loops in turn, whichever loop the kernel wakes
// to accept them: with EPOLLEXCLUSIVE alone, an idle server's first loop took
// every connection and the others stayed idle.
TEST_F(RawServerTest, ConnectionsAreSpreadRoundRobinOverTheLoops) {
  StartServer();  // Two loops.
  std::vector<std::unique_ptr<TestClient>> clients;
  std::map<std::string, int> connections_per_thread;
  for (std::uint32_t i = 0; i < 4; ++i) {
    clients.push_back(Connect());
    absl::StatusOr<Response> response =
        Call(*clients.back(), 1, kWhichThread, "");
    ASSERT_THAT(response, IsOk());
    ++connections_per_thread[EchoPayload(*response)];
  }
  EXPECT_EQ(connections_per_thread.size(), 2u);
  for (const auto& [thread, count] : connections_per_thread) {
    EXPECT_EQ(count, 2) << "loop thread " << thread;
  }
}

// ---- Limits on connections
// ----------------------------------------------------

TEST_F(RawServerTest, TooManyConnectionsGetGoawayResourceExhausted) {
  RawServer::Options options;
  options.max_connections = 1;
  StartServer(options);
  std::unique_ptr<TestClient> first = Connect();
  ASSERT_THAT(Call(*first, 1, kEcho, "first"), IsOk());
  // Busy, so not evicted for a newcomer (§4.3; slowloris_test has the rest).
  first->Send(RequestBytes(2, kPark, EchoRequestOf("busy")));
  ASSERT_TRUE(lot_.WaitForKey("busy"));
  // Counted once its preface arrives, not at accept.
  TestClient second(server_->address());
  second.Send(PrefaceBytes());
  ASSERT_THAT(second.ReadPreface(), IsOk());
  ExpectGoaway(second, absl::StatusCode::kResourceExhausted, 0,
               "too many connections");
  EXPECT_TRUE(second.ReadEof());
  ASSERT_TRUE(lot_.Release("busy"));
  ASSERT_THAT(first->ReadResponse(2), IsOk());
  ASSERT_THAT(Call(*first, 3, kEcho, "first again"), IsOk());
}

// ---- Connection figures (GetStats) -----------------------------------------

// Open connections are summed over the loops (two here) and fall back as
// connections close; the accepted total only grows.
TEST_F(RawServerTest, StatsCountOpenConnectionsOverEveryLoop) {
  StartServer();
  rpc::TransportStats stats = server_->GetStats();
  EXPECT_EQ(stats.connections_open, 0);
  EXPECT_EQ(stats.connections_accepted_total, 0);
  constexpr int kConnections = 5;
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < kConnections; ++i) clients.push_back(Connect());
  // Each was counted before its server preface left.
  stats = server_->GetStats();
  EXPECT_EQ(stats.connections_open, kConnections);
  EXPECT_EQ(stats.connections_accepted_total, kConnections);

  clients.resize(2);
  EXPECT_TRUE(Eventually([&] {
    return server_->GetStats().connections_open == 2;
  })) << server_->GetStats().connections_open;
  clients.clear();
  EXPECT_TRUE(Eventually([&] {
    return server_->GetStats().connections_open == 0;
  })) << server_->GetStats().connections_open;
  stats = server_->GetStats();
  EXPECT_EQ(stats.connections_accepted_total, kConnections);
  EXPECT_EQ(RefusedTotal(stats), 0);
  // Every reason of the transport is there from the start, zeros included.
  for (const char* reason :
       {rpc::kRefusedMaxConnections, rpc::kRefusedDraining,
        rpc::kRefusedMaxHandshakes, rpc::kRefusedHandshakeTimeout}) {
    EXPECT_TRUE(
        std::any_of(stats.refused_total.begin(), stats.refused_total.end(),
                    [&](const auto& entry) { return entry.first == reason; }))
        << reason;
  }
  EXPECT_EQ(stats.tls_handshakes_total, 0);
  EXPECT_EQ(stats.tls_handshake_failures_total, 0);
}

TEST_F(RawServerTest, StatsCountConnectionsRefusedOverMaxConnections) {
  RawServer::Options options;
  options.max_connections = 2;
  StartServer(options);
  std::unique_ptr<TestClient> first = Connect();
  std::unique_ptr<TestClient> second = Connect();
  // Busy, so not evicted for a newcomer (§4.3).
  first->Send(RequestBytes(1, kPark, EchoRequestOf("first")));
  second->Send(RequestBytes(1, kPark, EchoRequestOf("second")));
  ASSERT_TRUE(lot_.WaitForCount(2));
  for (int i = 0; i < 3; ++i) {
    TestClient refused(server_->address());
    refused.Send(PrefaceBytes());
    ASSERT_THAT(refused.ReadPreface(), IsOk());
    ExpectGoaway(refused, absl::StatusCode::kResourceExhausted, 0,
                 "too many connections");
    EXPECT_TRUE(refused.ReadEof());
  }
  EXPECT_TRUE(Eventually([&] {
    return server_->GetStats().connections_open == 2;
  })) << server_->GetStats().connections_open;
  const rpc::TransportStats stats = server_->GetStats();
  EXPECT_EQ(RefusedCount(stats, rpc::kRefusedMaxConnections), 3);
  EXPECT_EQ(RefusedTotal(stats), 3);
  EXPECT_EQ(stats.connections_accepted_total, 5);
}

// An idle connection's GOAWAY OK ends it, but it was not refused.
TEST_F(RawServerTest, StatsDoNotCountIdleTimeoutsAsRefusals) {
  RawServer::Options options;
  options.idle_timeout = absl::Milliseconds(50);
  StartServer(options);
  std::unique_ptr<TestClient> client = Connect();
  ExpectGoaway(*client, absl::StatusCode::kOk, 0, "idle");
  EXPECT_TRUE(client->ReadEof());
  EXPECT_TRUE(
      Eventually([&] { return server_->GetStats().connections_open == 0; }));
  const rpc::TransportStats stats = server_->GetStats();
  EXPECT_EQ(RefusedTotal(stats), 0);
  EXPECT_EQ(stats.connections_accepted_total, 1);
}

TEST_F(RawServerTest, IdleConnectionGetsGoawayOk) {
  RawServer::Options options;
  options.idle_timeout = absl::Milliseconds(100);
  StartServer(options);
  std::unique_ptr<TestClient> client = Connect();
  ASSERT_THAT(Call(*client, 1, kEcho, "then silence"), IsOk());
  ExpectGoaway(*client, absl::StatusCode::kOk, 1, "idle");
  EXPECT_TRUE(client->ReadEof());
}

TEST_F(RawServerTest, CallInFlightKeepsAConnectionFromIdling) {
  RawServer::Options options;
  options.idle_timeout = absl::Milliseconds(50);
  StartServer(options);
  std::unique_ptr<TestClient> client = Connect();
  client->Send(RequestBytes(1, kPark, EchoRequestOf("busy")));
  ASSERT_TRUE(lot_.WaitForKey("busy"));
  // Several idle periods pass without a GOAWAY.
  EXPECT_THAT(client->ReadFrame(absl::Milliseconds(300)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  ASSERT_TRUE(lot_.Release("busy"));
  ASSERT_THAT(client->ReadResponse(1), IsOk());
  ExpectGoaway(*client, absl::StatusCode::kOk, 1, "idle");
}

TEST_F(RawServerTest, BackpressureStopsReadingAndDropsNothing) {
  RawServer::Options options;
  options.output_high_water_bytes = 64 * 1024;
  StartServer(options);
  std::unique_ptr<TestClient> client = Connect();
  const v1::EchoRequest big = EchoRequestOf(std::string(32 * 1024, 'b'));
  // Send without reading until the socket stays full: the server must stop
  // reading long before 256 MiB (without backpressure it would buffer all).
  constexpr std::size_t kGiveUpBytes = 256 * 1024 * 1024;
  std::size_t sent_bytes = 0;
  std::uint32_t last_id = 0;
  std::string pending;
  bool blocked = false;
  while (!blocked && sent_bytes < kGiveUpBytes) {
    if (pending.empty()) pending = RequestBytes(++last_id, kEcho, big);
    const std::size_t n = client->TrySend(pending);
    pending.erase(0, n);
    sent_bytes += n;
    if (n == 0) {
      pollfd writable{client->fd(), POLLOUT, 0};
      blocked = ::poll(&writable, 1, /*timeout_ms=*/500) == 0;
    }
  }
  ASSERT_TRUE(blocked) << "server kept reading " << sent_bytes << " bytes";

  // Other connections are unaffected.
  ExpectServedOnNewConnection();

  // Reading the responses lets the server resume; every request is answered.
  std::thread finish_sending([&] { client->Send(pending); });
  for (std::uint32_t id = 1; id <= last_id; ++id) {
    absl::StatusOr<Response> response = client->ReadResponse(id);
    ASSERT_THAT(response, IsOk());
    ASSERT_EQ(response->message.size(), big.ByteSizeLong());
  }
  finish_sending.join();
  absl::StatusOr<Response> after = Call(*client, last_id + 1, kEcho, "drained");
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(EchoPayload(*after), "drained");
}

// ---- Drain
// ----------------------------------------------------------------------

TEST_F(RawServerTest, DrainFinishesInFlightCallsAndRefusesNewOnes) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(RequestBytes(1, kPark, EchoRequestOf("in flight")));
  ASSERT_TRUE(lot_.WaitForKey("in flight"));

  server_->Drain(absl::Seconds(30));
  ExpectDrainNotice(*client);
  AckDrainPing(*client);
  ExpectGoaway(*client, absl::StatusCode::kUnavailable, 1,
               "server is shutting down");
  // REQUESTs after the second GOAWAY were not run: UNAVAILABLE, safe to
  // retry.
  absl::StatusOr<Response> late = Call(*client, 2, kEcho, "late");
  ASSERT_THAT(late, IsOk());
  EXPECT_EQ(late->status, absl::UnavailableError("server is shutting down"));
  // No new connections, once every loop has stopped accepting.
  EXPECT_TRUE(EventuallyRefusesConnections(server_->address()));

  ASSERT_TRUE(lot_.Release("in flight"));
  absl::StatusOr<Response> finished = client->ReadResponse(1);
  ASSERT_THAT(finished, IsOk());
  EXPECT_THAT(finished->status, IsOk());
  EXPECT_EQ(EchoPayload(*finished), "in flight");
  EXPECT_TRUE(client->ReadEof());
  client.reset();  // Our FIN ends the server's close handshake.
  server_->Wait();
}

TEST_F(RawServerTest, DrainDeadlineAnswersLeftoversUnavailable) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  std::unique_ptr<TestClient> idle = Connect();
  client->Send(RequestBytes(1, kPark, EchoRequestOf("stuck")));
  ASSERT_TRUE(lot_.WaitForKey("stuck"));

  const absl::Time drain_began = absl::Now();
  server_->Drain(absl::Milliseconds(100));
  // Neither answers the PING: the drain deadline, before the notice's 1 s,
  // sends the second GOAWAY.
  ExpectDrainNotice(*idle);
  ExpectGoaway(*idle, absl::StatusCode::kUnavailable, 0);
  EXPECT_LT(absl::Now() - drain_began, absl::Milliseconds(900));
  EXPECT_TRUE(idle->ReadEof());  // Nothing in flight: closed at once.
  ExpectDrainNotice(*client);
  ExpectGoaway(*client, absl::StatusCode::kUnavailable, 1);
  absl::StatusOr<Response> leftover = client->ReadResponse(1);
  ASSERT_THAT(leftover, IsOk());
  EXPECT_EQ(leftover->status,
            absl::UnavailableError("server is shutting down"));
  EXPECT_TRUE(client->ReadEof());
  EXPECT_TRUE(lot_.WaitUntilCancelled("stuck"));
  client.reset();
  idle.reset();
  server_->Wait();
  // The implementation finishes after the server stopped: dropped safely.
  EXPECT_TRUE(lot_.Release("stuck"));
}

// §5.3 on the wire: the notice (GOAWAY 0xFFFFFFFF + DRAINING PING), the
// client's ACK, the second GOAWAY with the real last id, the close.
TEST_F(RawServerTest, DrainSendsNoticeThenSecondGoawayOnPingAck) {
  StartServer();
  // No call first: ReadExactly must not follow the frame readers.
  std::unique_ptr<TestClient> client = Connect();
  server_->Drain(absl::Seconds(30));
  net::Buffer expected;
  AppendGoaway(&expected, Goaway{0xFFFFFFFF, absl::StatusCode::kUnavailable,
                                 "server is shutting down"});
  AppendFrame(&expected, FrameType::kPing, 0, 0, {"DRAINING"});
  absl::StatusOr<std::string> notice =
      client->ReadExactly(expected.readable_bytes());
  ASSERT_THAT(notice, IsOk());
  EXPECT_EQ(absl::BytesToHexString(*notice),
            absl::BytesToHexString(expected.View()));
  // No second GOAWAY before the ACK (the notice lasts 1 s without one).
  EXPECT_THAT(client->ReadExactly(1, absl::Milliseconds(300)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  const absl::Time acked = absl::Now();
  AckDrainPing(*client);
  net::Buffer second;
  AppendGoaway(&second, Goaway{0, absl::StatusCode::kUnavailable,
                               "server is shutting down"});
  absl::StatusOr<std::string> goaway =
      client->ReadExactly(second.readable_bytes());
  ASSERT_THAT(goaway, IsOk());
  EXPECT_EQ(absl::BytesToHexString(*goaway),
            absl::BytesToHexString(second.View()));
  EXPECT_LT(absl::Now() - acked, absl::Milliseconds(500));
  EXPECT_TRUE(client->ReadEof());
  client.reset();
  server_->Wait();
}

// The race the notice exists for: a REQUEST the client wrote before it read
// the first GOAWAY is run and answered, and the second GOAWAY covers it.
TEST_F(RawServerTest, RequestSentBeforeClientSawFirstGoawayIsAnswered) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  ASSERT_THAT(Call(*client, 1, kEcho, "before"), IsOk());
  server_->Drain(absl::Seconds(30));
  ExpectDrainNotice(*client);
  absl::StatusOr<Response> raced = Call(*client, 2, kEcho, "crossed");
  ASSERT_THAT(raced, IsOk());
  EXPECT_THAT(raced->status, IsOk());
  EXPECT_EQ(EchoPayload(*raced), "crossed");
  AckDrainPing(*client);
  ExpectGoaway(*client, absl::StatusCode::kUnavailable, 2,
               "server is shutting down");
  // Nothing in flight: closed at once (REQUESTs after the second GOAWAY
  // are refused: DrainFinishesInFlightCallsAndRefusesNewOnes).
  EXPECT_TRUE(client->ReadEof());
  client.reset();
  server_->Wait();
}

// A client that never answers the PING gets the second GOAWAY after
// kDrainNoticeTimeout (1 s), and calls read before it are still run.
TEST_F(RawServerTest, DrainNoticeEndsAfterOneSecondWithoutPingAck) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  const absl::Time drain_began = absl::Now();
  server_->Drain(absl::Seconds(30));
  ExpectDrainNotice(*client);
  ASSERT_THAT(Call(*client, 1, kEcho, "in the notice"), IsOk());
  ExpectGoaway(*client, absl::StatusCode::kUnavailable, 1,
               "server is shutting down");
  const absl::Duration notice = absl::Now() - drain_began;
  std::fprintf(stderr, "drain notice without ACK lasted %s\n",
               absl::FormatDuration(notice).c_str());
  RecordProperty("notice_ms", static_cast<int>(notice / absl::Milliseconds(1)));
  EXPECT_GE(notice, absl::Milliseconds(900));
  EXPECT_LT(notice, absl::Seconds(3));
  EXPECT_TRUE(client->ReadEof());
  client.reset();
  server_->Wait();
}

// A later GOAWAY's last_call_id never exceeds an earlier one's (§5.3): a
// protocol error after the drain's second GOAWAY repeats its id, not the
// higher id of a REQUEST refused in between.
TEST_F(RawServerTest, LaterGoawayNeverRaisesLastCallId) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(RequestBytes(1, kPark, EchoRequestOf("holds")));
  ASSERT_TRUE(lot_.WaitForKey("holds"));
  server_->Drain(absl::Seconds(30));
  ExpectDrainNotice(*client);
  AckDrainPing(*client);
  ExpectGoaway(*client, absl::StatusCode::kUnavailable, 1);
  absl::StatusOr<Response> refused = Call(*client, 7, kEcho, "refused");
  ASSERT_THAT(refused, IsOk());
  EXPECT_TRUE(absl::IsUnavailable(refused->status));
  client->Send(FrameBytes(FrameType::kResponse, kFlagEndStream, 8,
                          std::string(4, '\0')));
  ExpectGoaway(*client, absl::StatusCode::kInternal, 1, "RESPONSE");
  EXPECT_TRUE(lot_.WaitUntilCancelled("holds"));
  EXPECT_TRUE(lot_.Release("holds"));
}

// A client's GOAWAY during the notice: it sends no more calls, so the
// second GOAWAY goes at once, without waiting for the PING's ACK.
TEST_F(RawServerTest, ClientGoawayDuringNoticeEndsItAtOnce) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  server_->Drain(absl::Seconds(30));
  ExpectDrainNotice(*client);
  const absl::Time sent = absl::Now();
  net::Buffer goaway;
  AppendGoaway(&goaway, Goaway{0, absl::StatusCode::kOk, "bye"});
  client->Send(goaway.View());
  ExpectGoaway(*client, absl::StatusCode::kUnavailable, 0);
  EXPECT_LT(absl::Now() - sent, absl::Milliseconds(500));
  EXPECT_TRUE(client->ReadEof());
}

// ---- SETTINGS (§5.6)
// ---------------------------------------------------------------------

TEST_F(RawServerTest, ClientOfMinorTwoGetsSettingsFirst) {
  RawServer::Options options;
  options.max_message_bytes = 100000;
  options.max_calls_in_flight = 17;
  options.idle_timeout = absl::Seconds(42);
  StartServer(options);
  TestClient client(server_->address());
  client.Send(PrefaceBytes(kMajorVersion, 2));
  ASSERT_THAT(client.ReadPreface(), IsOk());
  absl::StatusOr<ReceivedFrame> frame = client.ReadFrame();
  ASSERT_THAT(frame, IsOk());
  ASSERT_EQ(frame->header.type, FrameType::kSettings);
  EXPECT_EQ(frame->header.flags, 0);
  EXPECT_EQ(frame->header.call_id, 0u);
  absl::StatusOr<wire::v1::Settings> settings = ParseSettings(frame->payload);
  ASSERT_THAT(settings, IsOk());
  EXPECT_EQ(settings->max_message_bytes(), 100000u);
  EXPECT_EQ(settings->max_header_bytes(), FrameLimits{}.max_header_bytes);
  EXPECT_EQ(settings->max_calls_in_flight(), 17u);
  EXPECT_EQ(settings->initial_window_bytes(), 65536u);
  EXPECT_EQ(settings->idle_timeout_millis(), 42000u);
  // Exactly once: the next frame is the call's.
  absl::StatusOr<Response> response = Call(client, 1, kEcho, "after");
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(EchoPayload(*response), "after");
}

TEST_F(RawServerTest, ClientOfMinorOneGetsNoSettings) {
  StartServer();
  TestClient client(server_->address());
  client.Send(PrefaceBytes(kMajorVersion, 1) +
              RequestBytes(1, kEcho, EchoRequestOf("1.1")));
  ASSERT_THAT(client.ReadPreface(), IsOk());
  absl::StatusOr<Response> response = client.ReadResponse(1);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(EchoPayload(*response), "1.1");
}

TEST_F(RawServerTest, SettingsFromClientIsConnectionError) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(FrameBytes(FrameType::kSettings, 0, 0, ""));
  ExpectGoaway(*client, absl::StatusCode::kInternal, 0,
               "SETTINGS frames are not accepted from a client");
  EXPECT_TRUE(client->ReadEof());
}

TEST_F(RawServerTest, ClientGoawayClosesAfterInFlightCalls) {
  StartServer();
  std::unique_ptr<TestClient> client = Connect();
  client->Send(RequestBytes(1, kPark, EchoRequestOf("last")));
  ASSERT_TRUE(lot_.WaitForKey("last"));
  net::Buffer goaway;
  AppendGoaway(&goaway, Goaway{0, absl::StatusCode::kOk, "bye"});
  client->Send(goaway.View());
  ASSERT_TRUE(lot_.Release("last"));
  ASSERT_THAT(client->ReadResponse(1), IsOk());
  EXPECT_TRUE(client->ReadEof());
}

TEST_F(RawServerTest, DestroyingARunningServerIsSafe) {
  RawServer::Options options;
  // The client never reads: its connection closes after this long.
  options.close_timeout = absl::Milliseconds(100);
  StartServer(options);
  std::unique_ptr<TestClient> client = Connect();
  client->Send(RequestBytes(1, kPark, EchoRequestOf("abandoned")));
  ASSERT_TRUE(lot_.WaitForKey("abandoned"));
  server_.reset();  // Drain(0) + Wait.
  EXPECT_TRUE(lot_.WaitUntilCancelled("abandoned"));
  EXPECT_TRUE(lot_.Release("abandoned"));
}

}  // namespace
}  // namespace dualrpc::raw
