#ifndef DUALRPC_RAW_WIRE_FRAME_H_
#define DUALRPC_RAW_WIRE_FRAME_H_

// The framing layer of the dualrpc raw protocol (docs/PROTOCOL.md §2–§3):
// the connection preface, the 12-byte frame header, frame types, flags and
// size limits. Shared by the server and the client; no sockets here.

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/wire/v1/wire.pb.h"

namespace dualrpc::raw {

// §2: "DRPC", major, minor, two reserved zero bytes.
inline constexpr absl::string_view kPrefaceMagic = "DRPC";
inline constexpr std::uint8_t kMajorVersion = 1;
inline constexpr std::uint8_t kMinorVersion = 2;
// The first minor version with streaming calls (§7.1).
inline constexpr std::uint8_t kStreamingMinorVersion = 1;
// The first minor version whose clients get a SETTINGS frame (§5.6, §7.1).
inline constexpr std::uint8_t kSettingsMinorVersion = 2;
inline constexpr std::size_t kPrefaceSize = 8;

// §3: payload length (32), type (8), flags (8), reserved (16), call id (32).
inline constexpr std::size_t kFrameHeaderSize = 12;

// §3.1. Values outside kRequest..kSettings are unknown types.
enum class FrameType : std::uint8_t {
  kRequest = 0x01,
  kResponse = 0x02,
  kCancel = 0x03,
  kPing = 0x04,
  kGoaway = 0x05,
  kMessage = 0x06,
  kWindowUpdate = 0x07,
  // Server to client only, once, first after the preface (§5.6).
  kSettings = 0x08,
};

// "REQUEST", "PING", ...; "UNKNOWN" for anything else. For messages and logs.
absl::string_view FrameTypeName(FrameType type);

// §3.2. Unknown bits are ignored by receivers.
inline constexpr std::uint8_t kFlagEndStream = 0x01;
inline constexpr std::uint8_t kFlagCompressed = 0x02;
inline constexpr std::uint8_t kFlagAck = 0x80;

// §5.2: a PING carries exactly this many opaque bytes.
inline constexpr std::size_t kPingPayloadSize = 8;
// §5.3: the payload of the PING that follows a drain's first GOAWAY; its
// ACK tells the server the client has read that GOAWAY.
inline constexpr absl::string_view kDrainPingPayload = "DRAINING";

// §7.4: flow control of streaming calls' MESSAGE frames.
inline constexpr std::size_t kWindowUpdatePayloadSize = 4;
// Each direction of each call starts with this much credit.
inline constexpr std::int64_t kInitialStreamWindow = 65536;
// No window may exceed this.
inline constexpr std::int64_t kMaxStreamWindow = 0x7fffffff;
// What a MESSAGE without END_STREAM costs against the window: its whole
// frame.
constexpr std::int64_t StreamMessageCost(std::uint32_t payload_length) {
  return static_cast<std::int64_t>(kFrameHeaderSize) + payload_length;
}

// REQUEST/RESPONSE payloads start with a 32-bit call header length (§4.1).
inline constexpr std::size_t kCallHeaderLengthSize = 4;

// §4.3. Both peers apply the same limits to what they receive.
struct FrameLimits {
  // Largest request or response message (gRPC's default receive limit).
  std::uint32_t max_message_bytes = 4 * 1024 * 1024;
  // Largest RequestHeader or ResponseHeader.
  std::uint32_t max_header_bytes = 16 * 1024;

  // Largest frame payload: a full-size header and message plus the header
  // length field. Computed in 64 bits so that no setting can overflow.
  std::uint64_t max_frame_payload_bytes() const {
    return std::uint64_t{max_message_bytes} + max_header_bytes +
           kCallHeaderLengthSize;
  }
};

struct FrameHeader {
  std::uint32_t payload_length = 0;
  // May hold an unknown value when decoded; see FrameTypeName.
  FrameType type = FrameType::kRequest;
  std::uint8_t flags = 0;
  std::uint32_t call_id = 0;
};

// The preface this library speaks unless told otherwise.
void AppendPreface(net::Buffer* out, std::uint8_t major = kMajorVersion,
                   std::uint8_t minor = kMinorVersion);

// Appends a frame header with payload_length = `payload_length`. The caller
// appends exactly that many payload bytes next.
void AppendFrameHeader(net::Buffer* out, FrameType type, std::uint8_t flags,
                       std::uint32_t call_id, std::uint32_t payload_length);

// Appends one complete frame whose payload is the concatenation of
// `payload_pieces` (which must total less than 4 GiB).
void AppendFrame(net::Buffer* out, FrameType type, std::uint8_t flags,
                 std::uint32_t call_id,
                 absl::Span<const absl::string_view> payload_pieces = {});

// Appends a WINDOW_UPDATE for `call_id` granting `increment` bytes (1 to
// kMaxStreamWindow).
void AppendWindowUpdate(net::Buffer* out, std::uint32_t call_id,
                        std::uint32_t increment);

// The increment of a WINDOW_UPDATE payload (which FrameDecoder has checked
// is 4 bytes long); INTERNAL for 0 or a set high bit (§7.5).
absl::StatusOr<std::uint32_t> ParseWindowUpdate(absl::string_view payload);

// Appends a SETTINGS frame (§5.6) carrying `settings`.
void AppendSettings(net::Buffer* out, const wire::v1::Settings& settings);

// The Settings of a SETTINGS payload; INTERNAL if it does not parse. Unknown
// fields are kept by the parser and ignored by the caller.
absl::StatusOr<wire::v1::Settings> ParseSettings(absl::string_view payload);

// Parses the 12 bytes at `bytes` (which must hold that many).
FrameHeader ParseFrameHeader(const char* bytes);

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_WIRE_FRAME_H_
