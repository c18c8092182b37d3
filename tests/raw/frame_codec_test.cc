// The frame codec on its own: Buffer in, events out, no sockets.

#include <atomic>
#include <cstdlib>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/raw/wire/frame_decoder.h"
#include "dualrpc/v1/file_service.pb.h"
#include "dualrpc/wire/v1/wire.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/sanitizers.h"
#include "testing/status_matchers.h"

// Counts heap allocations, to check that the hot paths make none. Not under
// TSan, whose runtime defines operator new itself: there the allocation
// checks are skipped (SKIP_UNLESS_COUNTING).
namespace {
std::atomic<long> g_allocations{0};
}  // namespace

#ifdef DUALRPC_TESTING_TSAN
#define SKIP_UNLESS_COUNTING() \
  GTEST_SKIP() << "TSan owns operator new: allocations are not counted"
#else
#define SKIP_UNLESS_COUNTING() static_cast<void>(0)
void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace dualrpc::raw {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;
using Event = FrameDecoder::Event;

// One line per event, so that whole streams compare with EXPECT_EQ.
std::string Describe(const Event& event) {
  switch (event.kind) {
    case Event::kNeedMoreInput:
      return "need-more";
    case Event::kPreface:
      return absl::StrCat("preface ", event.major, ".", event.minor);
    case Event::kFrame:
      return absl::StrCat(FrameTypeName(event.header.type),
                          " flags=", event.header.flags,
                          " id=", event.header.call_id,
                          " payload=", absl::BytesToHexString(event.payload));
    case Event::kOversizedCallFrame:
      return absl::StrCat("oversized-request id=", event.header.call_id,
                          " length=", event.header.payload_length);
    case Event::kBadMagic:
      return "bad-magic";
    case Event::kError:
      return absl::StrCat("error ", event.error.ToString());
  }
  return "?";
}

// Every event decodable from what `input` holds now (up to need-more or a
// failure).
void DrainEvents(FrameDecoder* decoder, net::Buffer* input,
                 std::vector<std::string>* events) {
  for (;;) {
    Event event = decoder->Next(input);
    if (event.kind == Event::kNeedMoreInput) return;
    events->push_back(Describe(event));
    if (event.kind == Event::kBadMagic || event.kind == Event::kError) return;
  }
}

std::vector<std::string> DecodeInOnePiece(absl::string_view bytes,
                                          FrameLimits limits = {}) {
  FrameDecoder decoder(limits);
  net::Buffer input;
  input.Append(bytes);
  std::vector<std::string> events;
  DrainEvents(&decoder, &input, &events);
  return events;
}

std::string Preface(std::uint8_t major = kMajorVersion,
                    std::uint8_t minor = kMinorVersion) {
  net::Buffer out;
  AppendPreface(&out, major, minor);
  return std::string(out.View());
}

std::string Frame(FrameType type, std::uint8_t flags, std::uint32_t call_id,
                  absl::string_view payload) {
  net::Buffer out;
  AppendFrame(&out, type, flags, call_id, {payload});
  return std::string(out.View());
}

std::string RequestFrame(std::uint32_t call_id, absl::string_view method,
                         absl::string_view echo_payload) {
  wire::v1::RequestHeader header;
  header.set_method(std::string(method));
  header.set_timeout_micros(1000);
  v1::EchoRequest request;
  request.set_payload(std::string(echo_payload));
  net::Buffer out;
  EXPECT_TRUE(AppendCallFrame(&out, FrameType::kRequest, kFlagEndStream,
                              call_id, &header, &request, FrameLimits{})
                  .ok());
  return std::string(out.View());
}

// A stream that exercises every frame type and the oversized path.
std::string EveryKindOfInput(const FrameLimits& limits) {
  std::string stream = Preface();
  stream += RequestFrame(1, "/dualrpc.v1.FileService/Echo", "hello");
  stream += Frame(FrameType::kCancel, 0, 1, "");
  stream += Frame(FrameType::kPing, 0, 0, "12345678");
  stream += Frame(FrameType::kPing, kFlagAck, 0, "abcdefgh");
  const std::string big(limits.max_frame_payload_bytes() + 10, 'x');
  stream += Frame(FrameType::kRequest, kFlagEndStream, 2, big);
  stream += Frame(FrameType::kResponse, kFlagEndStream, 3,
                  std::string("\0\0\0\0", 4));
  stream += Frame(FrameType::kMessage, 0, 4, "m");
  net::Buffer window_update;
  AppendWindowUpdate(&window_update, 4, 0x8000);
  stream += std::string(window_update.View());
  net::Buffer goaway;
  AppendGoaway(&goaway, Goaway{4, absl::StatusCode::kUnavailable, "bye"});
  stream += std::string(goaway.View());
  return stream;
}

FrameLimits SmallLimits() {
  FrameLimits limits;
  limits.max_message_bytes = 64;
  limits.max_header_bytes = 64;
  return limits;
}

// ---- Encoding -------------------------------------------------------------

TEST(FrameCodecTest, PrefaceBytes) {
  // A 1.2 peer names minor version 2 (§7.1); a 1.1 one, 1 (§9).
  EXPECT_EQ(absl::BytesToHexString(Preface()), "4452504301020000");
  EXPECT_EQ(absl::BytesToHexString(Preface(kMajorVersion, 1)),
            "4452504301010000");
}

TEST(FrameCodecTest, FrameHeaderLayout) {
  EXPECT_EQ(
      absl::BytesToHexString(Frame(FrameType::kPing, kFlagAck, 0, "12345678")),
      "00000008"
      "04"
      "80"
      "0000"
      "00000000"
      "3132333435363738");
  EXPECT_EQ(
      absl::BytesToHexString(Frame(FrameType::kCancel, 0, 0x01020304, "")),
      "00000000"
      "03"
      "00"
      "0000"
      "01020304");
}

TEST(FrameCodecTest, OkResponseWithoutMetadataHasEmptyHeader) {
  v1::EchoResponse response;
  response.set_payload("hi");
  net::Buffer out;
  ASSERT_TRUE(AppendCallFrame(&out, FrameType::kResponse, kFlagEndStream, 1,
                              nullptr, &response, FrameLimits{})
                  .ok());
  EXPECT_EQ(absl::BytesToHexString(out.View()),
            "00000008"
            "02"
            "01"
            "0000"
            "00000001"
            "00000000"
            "0a026869");
}

TEST(FrameCodecTest, OkResponseEncodingAllocatesNothing) {
  SKIP_UNLESS_COUNTING();
  v1::EchoResponse response;
  response.set_payload(std::string(1000, 'p'));
  net::Buffer out(64 * 1024);
  const long before = g_allocations.load();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(AppendCallFrame(&out, FrameType::kResponse, kFlagEndStream,
                                static_cast<std::uint32_t>(i + 1), nullptr,
                                &response, FrameLimits{})
                    .ok());
  }
  EXPECT_EQ(g_allocations.load() - before, 0);
}

TEST(FrameCodecTest, DecodingAFrameAllocatesNothing) {
  SKIP_UNLESS_COUNTING();
  net::Buffer input(64 * 1024);
  input.Append(Preface());
  for (std::uint32_t id = 1; id <= 10; ++id) {
    input.Append(RequestFrame(id, "/a.B/C", "payload"));
  }
  FrameDecoder decoder{FrameLimits{}};
  const long before = g_allocations.load();
  int frames = 0;
  for (Event event = decoder.Next(&input); event.kind != Event::kNeedMoreInput;
       event = decoder.Next(&input)) {
    if (event.kind == Event::kFrame) ++frames;
  }
  EXPECT_EQ(g_allocations.load() - before, 0);
  EXPECT_EQ(frames, 10);
}

// What protobuf itself encodes for the same header: the reference.
std::string ProtobufRequestFrame(
    std::uint32_t call_id, const std::string& method,
    std::uint64_t timeout_micros,
    const std::vector<std::pair<std::string, std::string>>& metadata,
    const google::protobuf::MessageLite& request) {
  wire::v1::RequestHeader header;
  header.set_method(method);
  header.set_timeout_micros(timeout_micros);
  for (const auto& [key, value] : metadata) {
    wire::v1::MetadataEntry* entry = header.add_metadata();
    entry->set_key(key);
    entry->set_value(value);
  }
  net::Buffer out;
  EXPECT_TRUE(AppendCallFrame(&out, FrameType::kRequest, kFlagEndStream,
                              call_id, &header, &request, FrameLimits{})
                  .ok());
  return std::string(out.View());
}

TEST(RequestHeaderTest, HandWrittenHeaderIsTheBytesProtobufWrites) {
  v1::EchoRequest request;
  request.set_payload("ping");
  const std::string long_value(300, 'v');  // Two-byte varint lengths.
  const std::vector<std::vector<std::pair<std::string, std::string>>>
      metadatas = {{},
                   {{"k", "v"}},
                   {{"", ""}, {"a", ""}, {"", "b"}},
                   {{"x-long", long_value}}};
  for (const std::string& method : std::vector<std::string>{
           "/dualrpc.v1.FileService/Echo", "", std::string(200, 'm')}) {
    for (std::uint64_t timeout :
         {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{127},
          std::uint64_t{128}, ~std::uint64_t{0}}) {
      for (const auto& metadata : metadatas) {
        net::Buffer out;
        ASSERT_TRUE(AppendRequestFrame(&out, 7, method, timeout, metadata,
                                       request, FrameLimits{})
                        .ok());
        EXPECT_EQ(absl::BytesToHexString(out.View()),
                  absl::BytesToHexString(ProtobufRequestFrame(
                      7, method, timeout, metadata, request)))
            << method.size() << " " << timeout << " " << metadata.size();
      }
    }
  }
}

TEST(RequestHeaderTest, RequestFrameOverLimitsAppendsNothing) {
  v1::EchoRequest request;
  request.set_payload(std::string(100, 'x'));
  FrameLimits limits;
  limits.max_message_bytes = 50;
  net::Buffer out;
  EXPECT_EQ(AppendRequestFrame(&out, 1, "/s/m", 0, {}, request, limits).code(),
            absl::StatusCode::kResourceExhausted);
  limits = FrameLimits{};
  limits.max_header_bytes = 8;
  EXPECT_EQ(
      AppendRequestFrame(&out, 1, "/service/method", 0, {}, request, limits)
          .code(),
      absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(out.readable_bytes(), 0u);
}

TEST(RequestHeaderTest, PlainHeaderReadsWhatProtobufWrote) {
  SKIP_UNLESS_COUNTING();
  wire::v1::RequestHeader header;
  header.set_method("/dualrpc.v1.FileService/Echo");
  header.set_timeout_micros(1500000);
  const std::string bytes = header.SerializeAsString();
  const long before = g_allocations.load();
  std::optional<PlainRequestHeader> plain = ReadPlainRequestHeader(bytes);
  EXPECT_EQ(g_allocations.load() - before, 0);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->method, "/dualrpc.v1.FileService/Echo");
  EXPECT_EQ(plain->timeout_micros, 1500000u);

  plain = ReadPlainRequestHeader("");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->method, "");
  EXPECT_EQ(plain->timeout_micros, 0u);
}

TEST(RequestHeaderTest, PlainHeaderSkipsUnknownFieldsAndKeepsTheLastMethod) {
  // Unknown varint (field 9), fixed64 (10), fixed32 (11) and bytes (12);
  // method twice (protobuf keeps the last); timeout with a bytes wire type
  // is an unknown field, not the timeout.
  const std::string bytes = absl::HexStringToBytes(
      "0a0161"
      "4801"
      "510102030405060708"
      "5d01020304"
      "62026869"
      "0a0162"
      "12026869");
  wire::v1::RequestHeader reference;
  ASSERT_TRUE(reference.ParseFromString(bytes));
  std::optional<PlainRequestHeader> plain = ReadPlainRequestHeader(bytes);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->method, reference.method());
  EXPECT_EQ(plain->timeout_micros, reference.timeout_micros());
  EXPECT_EQ(plain->method, "b");
}

TEST(RequestHeaderTest, PlainReaderReadsMetadataInOrder) {
  wire::v1::RequestHeader header;
  header.set_method("/s/m");
  header.set_timeout_micros(7);
  header.add_metadata()->set_key("authorization");
  header.mutable_metadata(0)->set_value("Bearer 0123456789abcdef0123");
  header.add_metadata()->set_key("k");  // no value
  header.add_metadata()->set_value(std::string("\0\xff", 2));  // no key
  const std::string serialized = header.SerializeAsString();  // viewed
  std::optional<PlainRequestHeader> plain = ReadPlainRequestHeader(serialized);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->method, "/s/m");
  EXPECT_EQ(plain->timeout_micros, 7u);
  using Entry = std::pair<absl::string_view, absl::string_view>;
  EXPECT_THAT(plain->metadata,
              ::testing::ElementsAre(
                  Entry("authorization", "Bearer 0123456789abcdef0123"),
                  Entry("k", ""), Entry("", absl::string_view("\0\xff", 2))));
  // An unknown field inside an entry is skipped; a repeated key field: the
  // last one wins, as for the generated parser.
  const std::string entry =
      absl::HexStringToBytes("0a0161" "1801" "0a0162" "12017a");
  const std::string bytes = absl::HexStringToBytes("0a042f732f6d") + "\x1a" +
                            std::string(1, static_cast<char>(entry.size())) +
                            entry;
  wire::v1::RequestHeader generated;
  ASSERT_TRUE(generated.ParseFromString(bytes));
  plain = ReadPlainRequestHeader(bytes);
  ASSERT_TRUE(plain.has_value());
  ASSERT_EQ(plain->metadata.size(), 1u);
  EXPECT_EQ(plain->metadata[0].first, generated.metadata(0).key());
  EXPECT_EQ(plain->metadata[0].second, generated.metadata(0).value());
}

TEST(RequestHeaderTest, PlainReaderDeclinesMalformedHeaders) {
  for (const char* hex : {
           "1a03" "0a0561",             // metadata entry: key past its end
           "1a05" "0a01",               // metadata entry past the header
           "1a02" "0b0c",               // metadata entry: a group
           "0a05616263",                // length past the end
           "0a",                        // tag without length
           "10ffffffffffffffffffff01",  // varint longer than 10 bytes
           "00",                        // field number 0
           "0b0c",                      // group wire type
           "0f",                        // invalid wire type 7
           "51010203",                  // truncated fixed64
           "5d0102",                    // truncated fixed32
           "8080808080010161",          // tag beyond 32 bits
       }) {
    const std::string bytes = absl::HexStringToBytes(hex);
    EXPECT_FALSE(ReadPlainRequestHeader(bytes).has_value()) << hex;
  }
}

TEST(FrameCodecTest, CallFrameOverLimitsAppendsNothing) {
  FrameLimits limits = SmallLimits();
  v1::EchoResponse response;
  response.set_payload(std::string(100, 'p'));
  net::Buffer out;
  absl::Status status =
      AppendCallFrame(&out, FrameType::kResponse, kFlagEndStream, 1, nullptr,
                      &response, limits);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(out.readable_bytes(), 0u);

  wire::v1::ResponseHeader header;
  header.set_status_message(std::string(100, 'm'));
  status = AppendCallFrame(&out, FrameType::kResponse, kFlagEndStream, 1,
                           &header, nullptr, limits);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(out.readable_bytes(), 0u);
}

TEST(FrameCodecTest, SplitCallPayloadChecksLengthsAndLimits) {
  const FrameLimits limits = SmallLimits();
  EXPECT_EQ(SplitCallPayload("\0\0", limits).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitCallPayload(std::string("\0\0\0\x05"
                                         "abc",
                                         7),
                             limits)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitCallPayload(
                std::string("\0\0\0\x41", 4) + std::string(65, 'h'), limits)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(SplitCallPayload(std::string("\0\0\0\0", 4) + std::string(65, 'm'),
                             limits)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  const std::string payload(
      "\0\0\0\x02"
      "hhmsg",
      9);
  absl::StatusOr<CallPayload> parts = SplitCallPayload(payload, limits);
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(parts->header, "hh");
  EXPECT_EQ(parts->message, "msg");
}

TEST(FrameCodecTest, StatusCodesOutsideTheGrpcRangeReadAsUnknown) {
  wire::v1::ResponseHeader header;
  header.set_status_code(99);
  header.set_status_message("odd");
  EXPECT_EQ(ResponseStatus(header).code(), absl::StatusCode::kUnknown);
  header.set_status_code(7);
  EXPECT_EQ(ResponseStatus(header), absl::PermissionDeniedError("odd"));
}

// ---- Decoding -------------------------------------------------------------

TEST(FrameDecoderTest, RoundTripsEveryFrameType) {
  const FrameLimits limits = SmallLimits();
  std::vector<std::string> events =
      DecodeInOnePiece(EveryKindOfInput(limits), limits);
  ASSERT_EQ(events.size(), 10u);
  EXPECT_EQ(events[0], "preface 1.2");
  EXPECT_EQ(events[1].substr(0, 24), "REQUEST flags=1 id=1 pay");
  EXPECT_EQ(events[2], "CANCEL flags=0 id=1 payload=");
  EXPECT_EQ(events[3], "PING flags=0 id=0 payload=3132333435363738");
  EXPECT_EQ(events[4], "PING flags=128 id=0 payload=6162636465666768");
  EXPECT_EQ(events[5], absl::StrCat("oversized-request id=2 length=",
                                    limits.max_frame_payload_bytes() + 10));
  EXPECT_EQ(events[6], "RESPONSE flags=1 id=3 payload=00000000");
  EXPECT_EQ(events[7], "MESSAGE flags=0 id=4 payload=6d");
  EXPECT_EQ(events[8], "WINDOW_UPDATE flags=0 id=4 payload=00008000");
  EXPECT_EQ(events[9].substr(0, 21), "GOAWAY flags=0 id=0 p");
}

TEST(FrameDecoderTest, RequestPayloadRoundTrips) {
  FrameDecoder decoder{FrameLimits{}, /*expect_preface=*/false};
  net::Buffer input;
  input.Append(RequestFrame(7, "/dualrpc.v1.FileService/Echo", "hi"));
  Event event = decoder.Next(&input);
  ASSERT_EQ(event.kind, Event::kFrame);
  absl::StatusOr<CallPayload> parts = SplitCallPayload(event.payload, {});
  ASSERT_TRUE(parts.ok());
  wire::v1::RequestHeader header;
  ASSERT_TRUE(header.ParseFromArray(parts->header.data(),
                                    static_cast<int>(parts->header.size())));
  EXPECT_EQ(header.method(), "/dualrpc.v1.FileService/Echo");
  EXPECT_EQ(header.timeout_micros(), 1000u);
  v1::EchoRequest request;
  ASSERT_TRUE(request.ParseFromArray(parts->message.data(),
                                     static_cast<int>(parts->message.size())));
  EXPECT_EQ(request.payload(), "hi");
}

TEST(FrameDecoderTest, GoawayRoundTrips) {
  net::Buffer out;
  AppendGoaway(&out, Goaway{42, absl::StatusCode::kOk, "idle"});
  FrameDecoder decoder{FrameLimits{}, /*expect_preface=*/false};
  Event event = decoder.Next(&out);
  ASSERT_EQ(event.kind, Event::kFrame);
  absl::StatusOr<Goaway> goaway = ParseGoaway(event.payload);
  ASSERT_TRUE(goaway.ok());
  EXPECT_EQ(goaway->last_call_id, 42u);
  EXPECT_EQ(goaway->code, absl::StatusCode::kOk);
  EXPECT_EQ(goaway->message, "idle");
  EXPECT_FALSE(ParseGoaway("abc").ok());
}

// §5.6: type 0x08, call id 0, flags 0, a wire::v1::Settings payload.
TEST(FrameDecoderTest, SettingsRoundTrips) {
  wire::v1::Settings sent;
  sent.set_max_message_bytes(1 << 20);
  sent.set_max_header_bytes(16 * 1024);
  sent.set_max_calls_in_flight(100);
  sent.set_initial_window_bytes(65536);
  sent.set_idle_timeout_millis(300000);
  net::Buffer out;
  AppendSettings(&out, sent);
  EXPECT_EQ(absl::BytesToHexString(out.View().substr(4, 8)),
            "0800000000000000");  // type, flags, reserved, call id 0
  FrameDecoder decoder{FrameLimits{}, /*expect_preface=*/false};
  Event event = decoder.Next(&out);
  ASSERT_EQ(event.kind, Event::kFrame);
  EXPECT_EQ(FrameTypeName(event.header.type), "SETTINGS");
  absl::StatusOr<wire::v1::Settings> received = ParseSettings(event.payload);
  ASSERT_THAT(received, IsOk());
  EXPECT_EQ(received->SerializeAsString(), sent.SerializeAsString());
}

TEST(FrameDecoderTest, SettingsIgnoresUnknownFieldsAndRejectsGarbage) {
  // Field 1 = 1000, then an unknown field 99 (varint 7): room to grow.
  const std::string grown = absl::HexStringToBytes(
      "08e807"
      "9806"
      "07");
  absl::StatusOr<wire::v1::Settings> settings = ParseSettings(grown);
  ASSERT_THAT(settings, IsOk());
  EXPECT_EQ(settings->max_message_bytes(), 1000u);
  EXPECT_EQ(settings->max_calls_in_flight(), 0u);  // Not announced.
  EXPECT_THAT(ParseSettings("\xff\xff\xff"),
              StatusIs(absl::StatusCode::kInternal));
  // An empty SETTINGS announces nothing.
  absl::StatusOr<wire::v1::Settings> empty = ParseSettings("");
  ASSERT_THAT(empty, IsOk());
  EXPECT_EQ(empty->max_message_bytes(), 0u);
}

TEST(FrameDecoderTest, SplitAtEveryByteBoundaryDecodesIdentically) {
  const FrameLimits limits = SmallLimits();
  const std::string stream = EveryKindOfInput(limits);
  const std::vector<std::string> expected = DecodeInOnePiece(stream, limits);
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    FrameDecoder decoder(limits);
    net::Buffer input;
    std::vector<std::string> events;
    input.Append(absl::string_view(stream).substr(0, split));
    DrainEvents(&decoder, &input, &events);
    input.Append(absl::string_view(stream).substr(split));
    DrainEvents(&decoder, &input, &events);
    ASSERT_EQ(events, expected) << "split at byte " << split;
    EXPECT_TRUE(decoder.CheckEof(input).ok());
  }
}

TEST(FrameDecoderTest, ByteByByteDecodesIdentically) {
  const FrameLimits limits = SmallLimits();
  const std::string stream = EveryKindOfInput(limits);
  FrameDecoder decoder(limits);
  net::Buffer input;
  std::vector<std::string> events;
  for (char byte : stream) {
    input.Append(&byte, 1);
    DrainEvents(&decoder, &input, &events);
  }
  EXPECT_EQ(events, DecodeInOnePiece(stream, limits));
}

TEST(FrameDecoderTest, ManyFramesInOneBuffer) {
  std::string stream = Preface();
  for (std::uint32_t id = 1; id <= 1000; ++id) {
    stream += RequestFrame(id, "/a.B/C", absl::StrCat("payload ", id));
  }
  std::vector<std::string> events = DecodeInOnePiece(stream);
  ASSERT_EQ(events.size(), 1001u);
  for (std::uint32_t id = 1; id <= 1000; ++id) {
    EXPECT_EQ(events[id].substr(0, 20 + std::to_string(id).size()),
              absl::StrCat("REQUEST flags=1 id=", id, " "));
  }
}

TEST(FrameDecoderTest, OversizedRequestIsDiscardedWithoutBuffering) {
  // 100 MiB is over the 8 MiB message limit but within the 16 frame limits
  // that are skipped (§4.3).
  FrameLimits limits;
  limits.max_message_bytes = 8 * 1024 * 1024;
  const std::uint32_t declared = 100 * 1024 * 1024;
  FrameDecoder decoder(limits);
  net::Buffer input;
  input.Append(Preface());
  char header[kFrameHeaderSize];
  net::StoreUint32(header, declared);
  header[4] = static_cast<char>(FrameType::kRequest);
  header[5] = kFlagEndStream;
  header[6] = header[7] = 0;
  net::StoreUint32(header + 8, 9);
  input.Append(header, sizeof header);

  EXPECT_EQ(Describe(decoder.Next(&input)), "preface 1.2");
  Event event = decoder.Next(&input);
  ASSERT_EQ(event.kind, Event::kOversizedCallFrame);
  EXPECT_EQ(event.header.call_id, 9u);
  EXPECT_EQ(event.header.payload_length, declared);

  // The body arrives in socket-read-sized pieces and is dropped as it comes.
  const std::string chunk(64 * 1024, 'j');
  const std::size_t capacity_bound =
      2 * (chunk.size() + net::Buffer::kInitialSize);
  for (std::uint32_t sent = 0; sent < declared; sent += chunk.size()) {
    input.Append(chunk);
    ASSERT_EQ(decoder.Next(&input).kind, Event::kNeedMoreInput);
    ASSERT_EQ(input.readable_bytes(), 0u);
    ASSERT_LE(input.capacity(), capacity_bound);
    if (sent == 0) {
      EXPECT_FALSE(decoder.CheckEof(input).ok()) << "inside the frame";
    }
  }
  // declared is a multiple of the chunk size: exactly in sync again.
  EXPECT_TRUE(decoder.CheckEof(input).ok());
  input.Append(Frame(FrameType::kPing, 0, 0, "in sync!"));
  EXPECT_EQ(Describe(decoder.Next(&input)),
            "PING flags=0 id=0 payload=696e2073796e6321");
  EXPECT_TRUE(decoder.CheckEof(input).ok());
}

TEST(FrameDecoderTest, OversizedFrameOfAnotherTypeIsAConnectionError) {
  const FrameLimits limits = SmallLimits();
  // REQUEST and MESSAGE are call frames: skipped, not fatal (§7.3; see
  // OversizedMessageIsSkippedLikeAnOversizedRequest).
  for (FrameType type : {FrameType::kResponse, FrameType::kWindowUpdate,
                         FrameType::kGoaway, FrameType::kPing}) {
    char header[kFrameHeaderSize] = {};
    net::StoreUint32(header, 1000);
    header[4] = static_cast<char>(type);
    net::StoreUint32(
        header + 8,
        type == FrameType::kGoaway || type == FrameType::kPing ? 0 : 1);
    std::vector<std::string> events = DecodeInOnePiece(
        Preface() + std::string(header, sizeof header), limits);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1].substr(0, 25), "error RESOURCE_EXHAUSTED:")
        << FrameTypeName(type);
  }
}

TEST(FrameDecoderTest, OversizedMessageIsSkippedLikeAnOversizedRequest) {
  // §7.3: a MESSAGE payload is bounded by the message limit alone (it has
  // no call header); one over it is reported once and its bytes dropped.
  const FrameLimits limits = SmallLimits();
  const std::string big(limits.max_message_bytes + 1, 'm');
  std::vector<std::string> events = DecodeInOnePiece(
      Preface() + Frame(FrameType::kMessage, 0, 5, big) +
          Frame(FrameType::kMessage, 0, 5,
                std::string(limits.max_message_bytes, 'k')) +
          Frame(FrameType::kPing, 0, 0, "in sync!"),
      limits);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[1], absl::StrCat("oversized-request id=5 length=",
                                    limits.max_message_bytes + 1));
  EXPECT_EQ(events[2].substr(0, 25), "MESSAGE flags=0 id=5 payl");
  EXPECT_EQ(events[3], "PING flags=0 id=0 payload=696e2073796e6321");
}

// §4.3: skipping is bounded at 16 frame limits; a declared length above it
// is a connection error, reported from the header alone.
TEST(FrameDecoderTest, SkippingIsBoundedAtSixteenFrameLimits) {
  const FrameLimits limits = SmallLimits();
  const std::uint64_t bound =
      kMaxSkippedFramePayloads * limits.max_frame_payload_bytes();
  for (FrameType type : {FrameType::kRequest, FrameType::kMessage}) {
    char header[kFrameHeaderSize] = {};
    header[4] = static_cast<char>(type);
    net::StoreUint32(header + 8, 1);
    net::StoreUint32(header, static_cast<std::uint32_t>(bound));
    EXPECT_EQ(DecodeInOnePiece(Preface() + std::string(header, sizeof header),
                               limits)[1],
              absl::StrCat("oversized-request id=1 length=", bound))
        << FrameTypeName(type);
    net::StoreUint32(header, static_cast<std::uint32_t>(bound + 1));
    std::vector<std::string> events = DecodeInOnePiece(
        Preface() + std::string(header, sizeof header), limits);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1].substr(0, 25), "error RESOURCE_EXHAUSTED:")
        << FrameTypeName(type);
    EXPECT_NE(events[1].find("not skipped"), std::string::npos);
  }
}

// §2: a second preface is not read as a REQUEST of 0x44525043 bytes; it is
// a connection error as soon as its magic is in, before a full frame header.
TEST(FrameDecoderTest, SecondPrefaceIsAConnectionErrorAtOnce) {
  FrameLimits huge;  // Even where such a REQUEST would fit.
  huge.max_message_bytes = 0x7fffffff;
  for (const std::string& second : {std::string("DRPC"), Preface()}) {
    std::vector<std::string> events = DecodeInOnePiece(
        Preface() + Frame(FrameType::kPing, 0, 0, "12345678") +
            second,
        huge);
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[2],
              "error INTERNAL: unexpected preface: a frame's payload length "
              "reads \"DRPC\"");
  }
  // Three bytes of it are only an incomplete frame.
  EXPECT_EQ(DecodeInOnePiece(Preface() + "DRP").size(), 1u);
}

TEST(FrameDecoderTest, BadMagicIsReportedFromTheFirstByte) {
  EXPECT_EQ(DecodeInOnePiece("G"), std::vector<std::string>{"bad-magic"});
  EXPECT_EQ(DecodeInOnePiece("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            std::vector<std::string>{"bad-magic"});
  EXPECT_EQ(DecodeInOnePiece("DRPX0000"),
            std::vector<std::string>{"bad-magic"});
  // A correct prefix is just incomplete.
  EXPECT_TRUE(DecodeInOnePiece("DRP").empty());
}

TEST(FrameDecoderTest, ReportsAnyVersionForTheCallerToJudge) {
  EXPECT_EQ(DecodeInOnePiece(Preface(2, 7)),
            std::vector<std::string>{"preface 2.7"});
  // Reserved bytes are ignored.
  EXPECT_EQ(DecodeInOnePiece(std::string("DRPC\x01\x03\xff\xff", 8)),
            std::vector<std::string>{"preface 1.3"});
}

TEST(FrameDecoderTest, TruncatedInputThenEof) {
  const std::string frame = Frame(FrameType::kPing, 0, 0, "12345678");
  FrameDecoder decoder{FrameLimits{}};
  net::Buffer input;
  EXPECT_EQ(decoder.CheckEof(input).code(), absl::StatusCode::kUnavailable)
      << "no preface";
  input.Append("DRPC\x01");
  EXPECT_EQ(decoder.Next(&input).kind, Event::kNeedMoreInput);
  EXPECT_EQ(decoder.CheckEof(input).code(), absl::StatusCode::kUnavailable);
  input.Append(std::string("\0\0\0", 3));
  EXPECT_EQ(decoder.Next(&input).kind, Event::kPreface);
  EXPECT_TRUE(decoder.CheckEof(input).ok());
  input.Append(frame.substr(0, 5));  // Inside the header.
  EXPECT_EQ(decoder.Next(&input).kind, Event::kNeedMoreInput);
  EXPECT_EQ(decoder.CheckEof(input).code(), absl::StatusCode::kUnavailable);
  input.Append(frame.substr(5, 10));  // Inside the payload.
  EXPECT_EQ(decoder.Next(&input).kind, Event::kNeedMoreInput);
  EXPECT_EQ(decoder.CheckEof(input).code(), absl::StatusCode::kUnavailable);
  input.Append(frame.substr(15));
  EXPECT_EQ(decoder.Next(&input).kind, Event::kFrame);
  EXPECT_TRUE(decoder.CheckEof(input).ok());
}

TEST(FrameDecoderTest, MalformedHeadersAreConnectionErrors) {
  struct Case {
    std::string frame;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {Frame(static_cast<FrameType>(0x7f), 0, 1, ""),
       "error UNIMPLEMENTED: unknown frame type 0x7f"},
      {Frame(static_cast<FrameType>(0x00), 0, 1, ""),
       "error UNIMPLEMENTED: unknown frame type 0x00"},
      {Frame(FrameType::kPing, 0, 0, "1234567"),
       "error INTERNAL: PING payload must be 8 bytes, not 7"},
      {Frame(FrameType::kPing, 0, 5, "12345678"),
       "error INTERNAL: PING frame must have call id 0"},
      {Frame(FrameType::kGoaway, 0, 5, std::string(4, '\0')),
       "error INTERNAL: GOAWAY frame must have call id 0"},
      {Frame(FrameType::kRequest, kFlagEndStream, 0, std::string(4, '\0')),
       "error INTERNAL: REQUEST frame must have a non-zero call id"},
      {Frame(FrameType::kCancel, 0, 3, "x"),
       "error INTERNAL: CANCEL payload must be empty, not 1 bytes"},
      {Frame(FrameType::kWindowUpdate, 0, 3, "123"),
       "error INTERNAL: WINDOW_UPDATE payload must be 4 bytes, not 3"},
      {Frame(FrameType::kWindowUpdate, 0, 0, "1234"),
       "error INTERNAL: WINDOW_UPDATE frame must have a non-zero call id"},
      {Frame(FrameType::kMessage, 0, 0, ""),
       "error INTERNAL: MESSAGE frame must have a non-zero call id"},
      {Frame(FrameType::kSettings, 0, 1, ""),
       "error INTERNAL: SETTINGS frame must have call id 0"},
  };
  for (const Case& c : cases) {
    FrameDecoder decoder{FrameLimits{}};
    net::Buffer input;
    input.Append(Preface() + c.frame + Frame(FrameType::kCancel, 0, 1, ""));
    std::vector<std::string> events;
    DrainEvents(&decoder, &input, &events);
    EXPECT_EQ(events, (std::vector<std::string>{"preface 1.2", c.expected}));
    // Stuck: the error repeats and nothing after it is decoded.
    EXPECT_EQ(Describe(decoder.Next(&input)), c.expected);
  }
}

TEST(FrameDecoderTest, RandomGarbageNeverCrashesOrOverAllocates) {
  std::mt19937 random(20240601);
  for (int round = 0; round < 2000; ++round) {
    std::string garbage(kFrameHeaderSize + random() % 300, '\0');
    for (char& c : garbage) c = static_cast<char>(random());
    FrameDecoder decoder{SmallLimits()};
    net::Buffer input;
    input.Append(Preface());
    input.Append(garbage);
    std::vector<std::string> events;
    DrainEvents(&decoder, &input, &events);
    ASSERT_FALSE(events.empty());
    EXPECT_LE(input.capacity(),
              net::Buffer::kCheapPrepend + net::Buffer::kInitialSize + 2 * 400);
  }
}

}  // namespace
}  // namespace dualrpc::raw
