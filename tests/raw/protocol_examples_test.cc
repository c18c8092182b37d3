// The annotated examples of docs/PROTOCOL.md §9, byte for byte: the hex below
// is what the section shows. The codec must produce exactly these bytes, and
// a RawServer serving the real FileServiceCore must answer the example
// requests with exactly the example responses.

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "dualrpc/base/blocking_executor.h"
#include "dualrpc/fileservice/file_service.h"
#include "dualrpc/fileservice/served_root.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/raw/server/raw_server.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/rpc/stream.h"
#include "dualrpc/v1/file_service.pb.h"
#include "dualrpc/wire/v1/wire.pb.h"
#include "gtest/gtest.h"
#include "raw/test_client.h"
#include "testing/temp_dir.h"

namespace dualrpc::raw {
namespace {

// clang-format off
// The examples and the checks below are docs/PROTOCOL.md's, kept as they
// were written when the document was; only names that moved between layers
// are brought in here.
using ::dualrpc::base::BlockingExecutor;
using ::dualrpc::fileservice::FileServiceCore;
using ::dualrpc::fileservice::FileServiceOptions;
using ::dualrpc::fileservice::ServedRoot;
using ::dualrpc::net::Buffer;
using ::dualrpc::rpc::ServerCallContext;
using ::dualrpc::rpc::ServiceRegistry;
using ::dualrpc::rpc::UnaryDone;
using ::dualrpc::rpc::Method;

// ---- Example 1: one Echo call ----------------------------------------------

constexpr char kClientPreface[] =
    "44525043"  // magic "DRPC"
    "01"        // major 1
    "01"        // minor 1
    "0000";     // reserved

constexpr char kEchoRequest[] =
    // frame header
    "0000002b"  // payload length 43
    "01"        // type REQUEST
    "01"        // flags END_STREAM
    "0000"      // reserved
    "00000001"  // call id 1
    // payload
    "00000023"  // header length 35
    // RequestHeader
    "0a1c"  // field 1 (method), length 28
    "2f6475616c7270632e76312e46696c65536572766963652f4563686f"
    // "/dualrpc.v1.FileService/Echo"
    "10c096b102"  // field 2 (timeout_micros), varint 5000000
    // EchoRequest
    "0a02"   // field 1 (payload), length 2
    "6869";  // "hi"

// A 1.2 server (§7.1); a 1.1 client gets no SETTINGS (§5.6).
constexpr char kServerPreface[] = "4452504301020000";

constexpr char kEchoResponse[] =
    // frame header
    "00000008"  // payload length 8
    "02"        // type RESPONSE
    "01"        // flags END_STREAM
    "0000"      // reserved
    "00000001"  // call id 1
    // payload
    "00000000"  // header length 0: OK, no metadata
    // EchoResponse
    "0a02"   // field 1 (payload), length 2
    "6869";  // "hi"

// ---- Example 2: one failed call --------------------------------------------

constexpr char kListRequest[] =
    // frame header
    "00000032"  // payload length 50
    "01"        // type REQUEST
    "01"        // flags END_STREAM
    "0000"      // reserved
    "00000002"  // call id 2
    // payload
    "00000027"  // header length 39
    // RequestHeader
    "0a25"  // field 1 (method), length 37
    "2f6475616c7270632e76312e46696c65536572766963652f4c6973744469726563746f7279"
    // "/dualrpc.v1.FileService/ListDirectory"; no timeout: field 2 absent
    // ListDirectoryRequest
    "0a05"         // field 1 (path), length 5
    "2e2e2f2e2e";  // "../.."

constexpr char kListResponse[] =
    // frame header
    "0000002d"  // payload length 45
    "02"        // type RESPONSE
    "01"        // flags END_STREAM
    "0000"      // reserved
    "00000002"  // call id 2
    // payload
    "00000029"  // header length 41
    // ResponseHeader
    "0807"  // field 1 (status_code), varint 7 = PERMISSION_DENIED
    "1225"  // field 2 (status_message), length 37
    "706174682065736361706573207468652073657276656420726f6f743a20222e2e2f2e2e22";
// `path escapes the served root: "../.."`; no message part on errors.

// ---- Example 3: one bidi streaming call ------------------------------------

constexpr char kStreamRequest[] =
    // frame header
    "00000028"  // payload length 40
    "01"        // type REQUEST
    "00"        // flags: none, a request stream follows
    "0000"      // reserved
    "00000003"  // call id 3
    // payload
    "00000024"  // header length 36
    // RequestHeader
    "0a22"  // field 1 (method), length 34
    "2f6475616c7270632e76312e46696c65536572766963652f4563686f53747265616d";
    // "/dualrpc.v1.FileService/EchoStream"; no message part

constexpr char kStreamClientMessage[] =
    "00000004"  // payload length 4
    "06"        // type MESSAGE
    "00"        // flags: none
    "0000"      // reserved
    "00000003"  // call id 3
    "0a02"      // EchoRequest field 1 (payload), length 2
    "6869";     // "hi"

constexpr char kStreamServerMessage[] =
    "00000004"  // payload length 4
    "06"        // type MESSAGE
    "00"        // flags: none
    "0000"      // reserved
    "00000003"  // call id 3
    "0a02"      // EchoResponse field 1 (payload), length 2
    "6869";     // "hi"

constexpr char kStreamWindowUpdateAndHalfClose[] =
    "00000004"  // payload length 4
    "07"        // type WINDOW_UPDATE
    "00"        // flags: none
    "0000"      // reserved
    "00000003"  // call id 3
    "00010000"  // increment 65536
    "00000000"  // payload length 0
    "06"        // type MESSAGE
    "01"        // flags END_STREAM: the half-close
    "0000"      // reserved
    "00000003";  // call id 3

constexpr char kStreamResponse[] =
    "00000004"   // payload length 4
    "02"         // type RESPONSE
    "01"         // flags END_STREAM
    "0000"       // reserved
    "00000003"   // call id 3
    "00000000";  // header length 0: OK, no metadata; no message part

constexpr char kEchoStreamMethod[] = "/dualrpc.v1.FileService/EchoStream";
constexpr char kEchoMethod[] = "/dualrpc.v1.FileService/Echo";
constexpr char kListMethod[] = "/dualrpc.v1.FileService/ListDirectory";
constexpr char kEscapeMessage[] = "path escapes the served root: \"../..\"";

std::string Hex(const Buffer& buffer) {
  return absl::BytesToHexString(buffer.View());
}

TEST(ProtocolExamplesTest, EchoCallEncodesAsDocumented) {
  Buffer client;
  AppendPreface(&client, kMajorVersion, kStreamingMinorVersion);
  EXPECT_EQ(Hex(client), kClientPreface);

  client.RetrieveAll();
  wire::v1::RequestHeader header;
  header.set_method(kEchoMethod);
  header.set_timeout_micros(5 * 1000 * 1000);
  v1::EchoRequest request;
  request.set_payload("hi");
  ASSERT_TRUE(AppendCallFrame(&client, FrameType::kRequest, kFlagEndStream, 1,
                              &header, &request, FrameLimits{})
                  .ok());
  EXPECT_EQ(Hex(client), kEchoRequest);

  Buffer server;
  AppendPreface(&server);
  EXPECT_EQ(Hex(server), kServerPreface);
  server.RetrieveAll();
  v1::EchoResponse response;
  response.set_payload("hi");
  ASSERT_TRUE(AppendCallFrame(&server, FrameType::kResponse, kFlagEndStream, 1,
                              nullptr, &response, FrameLimits{})
                  .ok());
  EXPECT_EQ(Hex(server), kEchoResponse);
}

TEST(ProtocolExamplesTest, FailedCallEncodesAsDocumented) {
  Buffer client;
  wire::v1::RequestHeader header;
  header.set_method(kListMethod);
  v1::ListDirectoryRequest request;
  request.set_path("../..");
  ASSERT_TRUE(AppendCallFrame(&client, FrameType::kRequest, kFlagEndStream, 2,
                              &header, &request, FrameLimits{})
                  .ok());
  EXPECT_EQ(Hex(client), kListRequest);

  Buffer server;
  wire::v1::ResponseHeader response_header;
  SetResponseStatus(absl::PermissionDeniedError(kEscapeMessage),
                    &response_header);
  ASSERT_TRUE(AppendCallFrame(&server, FrameType::kResponse, kFlagEndStream, 2,
                              &response_header, nullptr, FrameLimits{})
                  .ok());
  EXPECT_EQ(Hex(server), kListResponse);
}

TEST(ProtocolExamplesTest, BidiCallEncodesAsDocumented) {
  Buffer client;
  ASSERT_TRUE(AppendRequestFrame(&client, /*flags=*/0, 3, kEchoStreamMethod,
                                 /*timeout_micros=*/0, {}, nullptr,
                                 FrameLimits{})
                  .ok());
  EXPECT_EQ(Hex(client), kStreamRequest);
  client.RetrieveAll();
  v1::EchoRequest request;
  request.set_payload("hi");
  ASSERT_TRUE(AppendMessageFrame(&client, 3, request, FrameLimits{}).ok());
  EXPECT_EQ(Hex(client), kStreamClientMessage);
  client.RetrieveAll();
  AppendWindowUpdate(&client, 3, 65536);
  AppendHalfClose(&client, 3);
  EXPECT_EQ(Hex(client), kStreamWindowUpdateAndHalfClose);

  Buffer server;
  v1::EchoResponse response;
  response.set_payload("hi");
  ASSERT_TRUE(AppendMessageFrame(&server, 3, response, FrameLimits{}).ok());
  EXPECT_EQ(Hex(server), kStreamServerMessage);
  server.RetrieveAll();
  ASSERT_TRUE(AppendCallFrame(&server, FrameType::kResponse, kFlagEndStream, 3,
                              nullptr, nullptr, FrameLimits{})
                  .ok());
  EXPECT_EQ(Hex(server), kStreamResponse);
}

// EchoStream as the contract describes it: each request's payload back, in
// order; OK once the client half-closes.
class EchoStreamReactor final : public rpc::ServerStreamReactor {
 public:
  explicit EchoStreamReactor(rpc::ServerStream* stream) : stream_(stream) {
    stream_->StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      stream_->Finish(absl::OkStatus());
      return;
    }
    response_.set_payload(request_.payload());
    stream_->StartWrite(response_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      stream_->Finish(absl::OkStatus());
      return;
    }
    stream_->StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  rpc::ServerStream* const stream_;
  v1::EchoRequest request_;
  v1::EchoResponse response_;
};

// The real service behind a RawServer says exactly what the document says.
TEST(ProtocolExamplesTest, RealServerAnswersWithTheDocumentedBytes) {
  dualrpc_testing::TempDir root;
  absl::StatusOr<ServedRoot> served = ServedRoot::Open(root.path());
  ASSERT_TRUE(served.ok()) << served.status();
  const FileServiceCore core(*std::move(served), FileServiceOptions{});
  BlockingExecutor executor({/*threads=*/1, /*max_queued=*/16});

  ServiceRegistry registry;
  Method echo;
  echo.path = kEchoMethod;
  echo.new_request = [] { return std::make_unique<v1::EchoRequest>(); };
  echo.new_response = [] { return std::make_unique<v1::EchoResponse>(); };
  echo.invoke = [&core](ServerCallContext*,
                        const google::protobuf::Message* request,
                        google::protobuf::Message* response, UnaryDone done) {
    std::move(done)(
        core.Echo(static_cast<const v1::EchoRequest&>(*request),
                  static_cast<v1::EchoResponse*>(response)));
  };
  ASSERT_TRUE(registry.AddMethod(std::move(echo)).ok());
  Method list;
  list.path = kListMethod;
  list.new_request = [] { return std::make_unique<v1::ListDirectoryRequest>(); };
  list.new_response = [] {
    return std::make_unique<v1::ListDirectoryResponse>();
  };
  list.invoke = [&core, &executor](ServerCallContext*,
                                   const google::protobuf::Message* request,
                                   google::protobuf::Message* response,
                                   UnaryDone done) {
    // Blocking work leaves the loop thread, as in the real service.
    ASSERT_TRUE(executor
                    .Submit([&core, request, response,
                             done = std::move(done)]() mutable {
                      std::move(done)(core.ListDirectory(
                          static_cast<const v1::ListDirectoryRequest&>(
                              *request),
                          static_cast<v1::ListDirectoryResponse*>(response)));
                    })
                    .ok());
  };
  ASSERT_TRUE(registry.AddMethod(std::move(list)).ok());
  Method echo_stream;
  echo_stream.path = kEchoStreamMethod;
  echo_stream.kind = rpc::MethodKind::kBidiStreaming;
  echo_stream.new_request = [] { return std::make_unique<v1::EchoRequest>(); };
  echo_stream.new_response = [] {
    return std::make_unique<v1::EchoResponse>();
  };
  echo_stream.start_stream = [](rpc::ServerStream* stream,
                                const google::protobuf::Message*,
                                google::protobuf::Message*) {
    return new EchoStreamReactor(stream);
  };
  ASSERT_TRUE(registry.AddMethod(std::move(echo_stream)).ok());

  RawServer::Options options;
  options.event_loop_threads = 1;
  absl::StatusOr<std::unique_ptr<RawServer>> server =
      RawServer::Start(options, &registry);
  ASSERT_TRUE(server.ok()) << server.status();

  TestClient client((*server)->address());
  client.Send(absl::HexStringToBytes(absl::StrCat(kClientPreface, kEchoRequest)));
  const std::string expected_echo =
      absl::HexStringToBytes(absl::StrCat(kServerPreface, kEchoResponse));
  absl::StatusOr<std::string> echo_answer =
      client.ReadExactly(expected_echo.size());
  ASSERT_TRUE(echo_answer.ok()) << echo_answer.status();
  EXPECT_EQ(absl::BytesToHexString(*echo_answer),
            absl::BytesToHexString(expected_echo));

  client.Send(absl::HexStringToBytes(kListRequest));
  const std::string expected_list = absl::HexStringToBytes(kListResponse);
  absl::StatusOr<std::string> list_answer =
      client.ReadExactly(expected_list.size());
  ASSERT_TRUE(list_answer.ok()) << list_answer.status();
  EXPECT_EQ(absl::BytesToHexString(*list_answer),
            absl::BytesToHexString(expected_list));

  client.Send(absl::HexStringToBytes(
      absl::StrCat(kStreamRequest, kStreamClientMessage)));
  const std::string expected_message =
      absl::HexStringToBytes(kStreamServerMessage);
  absl::StatusOr<std::string> message_answer =
      client.ReadExactly(expected_message.size());
  ASSERT_TRUE(message_answer.ok()) << message_answer.status();
  EXPECT_EQ(absl::BytesToHexString(*message_answer),
            absl::BytesToHexString(expected_message));
  client.Send(absl::HexStringToBytes(kStreamWindowUpdateAndHalfClose));
  const std::string expected_end = absl::HexStringToBytes(kStreamResponse);
  absl::StatusOr<std::string> end_answer =
      client.ReadExactly(expected_end.size());
  ASSERT_TRUE(end_answer.ok()) << end_answer.status();
  EXPECT_EQ(absl::BytesToHexString(*end_answer),
            absl::BytesToHexString(expected_end));
}

// clang-format on
}  // namespace
}  // namespace dualrpc::raw
