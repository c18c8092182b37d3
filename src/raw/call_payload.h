#ifndef DUALRPC_RAW_CALL_PAYLOAD_H_
#define DUALRPC_RAW_CALL_PAYLOAD_H_

// Payloads of the frames that carry protobuf: REQUEST and RESPONSE (§4.1,
// §4.2: u32 header length, header, message) and GOAWAY (§5.5: u32 last call
// id, ResponseHeader). Messages are serialized straight into the output
// Buffer, never into a temporary string.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dualrpc/wire/v1/wire.pb.h"
#include "google/protobuf/message_lite.h"
#include "raw/buffer.h"
#include "raw/frame.h"

namespace dualrpc::raw {

// Appends a REQUEST or RESPONSE frame: `header` (absent, with header length
// 0, when null) and then `message` (absent when null). An OK response without
// metadata is `header` = null: that path allocates nothing beyond what `out`
// may need to grow. Each message's ByteSizeLong() is computed once here (it
// caches sizes for the serialization that follows), so do not call it first.
//
// Fails with RESOURCE_EXHAUSTED, appending nothing, when the header or the
// message is over `limits`; the caller then reports that instead.
absl::Status AppendCallFrame(Buffer* out, FrameType type, std::uint8_t flags,
                             std::uint32_t call_id,
                             const google::protobuf::MessageLite* header,
                             const google::protobuf::MessageLite* message,
                             const FrameLimits& limits);

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

void AppendGoaway(Buffer* out, const Goaway& goaway);

// INVALID_ARGUMENT when the payload is shorter than 4 bytes or its header
// does not parse. Codes outside 0..16 read as UNKNOWN.
absl::StatusOr<Goaway> ParseGoaway(absl::string_view payload);

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_CALL_PAYLOAD_H_
