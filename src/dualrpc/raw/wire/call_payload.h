#ifndef DUALRPC_RAW_WIRE_CALL_PAYLOAD_H_
#define DUALRPC_RAW_WIRE_CALL_PAYLOAD_H_

// Payloads of the frames that carry protobuf: REQUEST and RESPONSE (§4.1,
// §4.2: u32 header length, header, message) and GOAWAY (§5.5: u32 last call
// id, ResponseHeader). Messages are serialized straight into the output
// Buffer, never into a temporary string.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/container/inlined_vector.h"
#include "absl/types/span.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/wire/v1/wire.pb.h"
#include "google/protobuf/message_lite.h"

namespace dualrpc::raw {

// Appends a REQUEST or RESPONSE frame: `header` (absent, with header length
// 0, when null) and then `message` (absent when null). An OK response without
// metadata is `header` = null: that path allocates nothing beyond what `out`
// may need to grow. Each message's ByteSizeLong() is computed once here (it
// caches sizes for the serialization that follows), so do not call it first.
//
// Fails with RESOURCE_EXHAUSTED, appending nothing, when the header or the
// message is over `limits`; the caller then reports that instead.
absl::Status AppendCallFrame(net::Buffer* out, FrameType type,
                             std::uint8_t flags, std::uint32_t call_id,
                             const google::protobuf::MessageLite* header,
                             const google::protobuf::MessageLite* message,
                             const FrameLimits& limits);

// The REQUEST header on the per-call path, without a protobuf message: the
// client writes it by hand straight into the frame, and the server reads it
// as views into the payload. The bytes are exactly those protobuf produces
// for wire::v1::RequestHeader (fields in number order, defaults omitted),
// and what the fast reader declines goes to the generated parser, so the
// wire stays the one the .proto describes (tests/raw/call_payload_test.cc
// compares both ways). Why: a protobuf RequestHeader costs a heap string
// for the method name on each side of every call plus a message built and
// destroyed; for a 64-byte Echo that was a measurable share of the CPU.
using HeaderEntries = absl::Span<const std::pair<std::string, std::string>>;

// Appends a REQUEST frame (END_STREAM set) for `call_id` whose header holds
// `method`, `timeout_micros` (0: none) and `metadata`, followed by
// `request`. Fails like AppendCallFrame, appending nothing.
absl::Status AppendRequestFrame(net::Buffer* out, std::uint32_t call_id,
                                absl::string_view method,
                                std::uint64_t timeout_micros,
                                HeaderEntries metadata,
                                const google::protobuf::MessageLite& request,
                                const FrameLimits& limits);
// The same with `flags`, and `request` absent when null: a streaming call
// opened without END_STREAM carries no message (§7.2).
absl::Status AppendRequestFrame(net::Buffer* out, std::uint8_t flags,
                                std::uint32_t call_id, absl::string_view method,
                                std::uint64_t timeout_micros,
                                HeaderEntries metadata,
                                const google::protobuf::MessageLite* request,
                                const FrameLimits& limits);

// Appends a MESSAGE frame (no END_STREAM) carrying `message`, serialized
// straight into `out` (§7.2). RESOURCE_EXHAUSTED, appending nothing, when
// it is over limits.max_message_bytes.
absl::Status AppendMessageFrame(net::Buffer* out, std::uint32_t call_id,
                                const google::protobuf::MessageLite& message,
                                const FrameLimits& limits);
// The same for a message already serialized (off the loop thread).
absl::Status AppendMessageFrame(net::Buffer* out, std::uint32_t call_id,
                                absl::string_view serialized,
                                const FrameLimits& limits);
// Appends the half-close: MESSAGE with END_STREAM and no payload (§7.2).
void AppendHalfClose(net::Buffer* out, std::uint32_t call_id);

// A RequestHeader as views into its bytes.
struct PlainRequestHeader {
  absl::string_view method;
  std::uint64_t timeout_micros = 0;
  // The metadata entries (key, value) in order. Keys are not checked for
  // UTF-8 either: callers validate them (rpc::ValidateMetadata allows a
  // subset of ASCII), which refuses what the generated parser would.
  absl::InlinedVector<std::pair<absl::string_view, absl::string_view>, 2>
      metadata;
};

// Reads a well-formed serialized RequestHeader without a message object
// (an authorization token is metadata, so calls with metadata are common);
// nullopt for anything else (malformed, groups, unusual), which the caller
// then parses with wire::v1::RequestHeader. The method name is not checked
// for UTF-8: callers only look it up among registered (valid) names and
// take the full parse when that fails.
std::optional<PlainRequestHeader> ReadPlainRequestHeader(
    absl::string_view bytes);

// A REQUEST or RESPONSE payload split into its parts; views into the payload.
struct CallPayload {
  absl::string_view header;
  absl::string_view message;
};

// INVALID_ARGUMENT if the payload is too short for the header length or the
// header length exceeds the rest; RESOURCE_EXHAUSTED if the header or the
// message is over `limits`.
absl::StatusOr<CallPayload> SplitCallPayload(absl::string_view payload,
                                             const FrameLimits& limits);

// absl::Status <-> ResponseHeader status fields. Codes are the gRPC numbers
// on both sides; a number outside 0..16 reads as UNKNOWN (§6.1).
void SetResponseStatus(const absl::Status& status,
                       wire::v1::ResponseHeader* header);
absl::Status ResponseStatus(const wire::v1::ResponseHeader& header);
absl::StatusCode StatusCodeFromWire(int code);

// §5.5. `code` OK means idle, UNAVAILABLE shutting down, anything else the
// connection error. (Not an absl::Status: an OK GOAWAY still has a message.)
struct Goaway {
  std::uint32_t last_call_id = 0;
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;
};

void AppendGoaway(net::Buffer* out, const Goaway& goaway);

// INVALID_ARGUMENT when the payload is shorter than 4 bytes or its header
// does not parse. Codes outside 0..16 read as UNKNOWN.
absl::StatusOr<Goaway> ParseGoaway(absl::string_view payload);

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_WIRE_CALL_PAYLOAD_H_
