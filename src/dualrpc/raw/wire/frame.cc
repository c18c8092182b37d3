#include "dualrpc/raw/wire/frame.h"

#include <cassert>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "dualrpc/net/byte_order.h"

namespace dualrpc::raw {

absl::string_view FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kRequest:
      return "REQUEST";
    case FrameType::kResponse:
      return "RESPONSE";
    case FrameType::kCancel:
      return "CANCEL";
    case FrameType::kPing:
      return "PING";
    case FrameType::kGoaway:
      return "GOAWAY";
    case FrameType::kMessage:
      return "MESSAGE";
    case FrameType::kWindowUpdate:
      return "WINDOW_UPDATE";
    case FrameType::kSettings:
      return "SETTINGS";
  }
  return "UNKNOWN";
}

void AppendPreface(net::Buffer* out, std::uint8_t major, std::uint8_t minor) {
  const char preface[kPrefaceSize] = {kPrefaceMagic[0],
                                      kPrefaceMagic[1],
                                      kPrefaceMagic[2],
                                      kPrefaceMagic[3],
                                      static_cast<char>(major),
                                      static_cast<char>(minor),
                                      0,
                                      0};
  out->Append(preface, sizeof preface);
}

void AppendFrameHeader(net::Buffer* out, FrameType type, std::uint8_t flags,
                       std::uint32_t call_id, std::uint32_t payload_length) {
  char header[kFrameHeaderSize];
  net::StoreUint32(header, payload_length);
  header[4] = static_cast<char>(type);
  header[5] = static_cast<char>(flags);
  header[6] = 0;  // reserved
  header[7] = 0;
  net::StoreUint32(header + 8, call_id);
  out->Append(header, sizeof header);
}

void AppendFrame(net::Buffer* out, FrameType type, std::uint8_t flags,
                 std::uint32_t call_id,
                 absl::Span<const absl::string_view> payload_pieces) {
  std::size_t payload_length = 0;
  for (absl::string_view piece : payload_pieces) payload_length += piece.size();
  assert(payload_length <= UINT32_MAX);
  out->EnsureWritable(kFrameHeaderSize + payload_length);
  AppendFrameHeader(out, type, flags, call_id,
                    static_cast<std::uint32_t>(payload_length));
  for (absl::string_view piece : payload_pieces) out->Append(piece);
}

void AppendWindowUpdate(net::Buffer* out, std::uint32_t call_id,
                        std::uint32_t increment) {
  char payload[kWindowUpdatePayloadSize];
  net::StoreUint32(payload, increment);
  AppendFrame(out, FrameType::kWindowUpdate, 0, call_id,
              {absl::string_view(payload, sizeof payload)});
}

absl::StatusOr<std::uint32_t> ParseWindowUpdate(absl::string_view payload) {
  assert(payload.size() == kWindowUpdatePayloadSize);
  const std::uint32_t increment = net::LoadUint32(payload.data());
  if (increment == 0 || increment > kMaxStreamWindow) {
    return absl::InternalError(
        absl::StrFormat("WINDOW_UPDATE increment must be 1 to %d, not %u",
                        kMaxStreamWindow, increment));
  }
  return increment;
}

void AppendSettings(net::Buffer* out, const wire::v1::Settings& settings) {
  const std::string payload = settings.SerializeAsString();
  AppendFrame(out, FrameType::kSettings, 0, 0, {payload});
}

absl::StatusOr<wire::v1::Settings> ParseSettings(absl::string_view payload) {
  wire::v1::Settings settings;
  if (!settings.ParseFromArray(payload.data(),
                               static_cast<int>(payload.size()))) {
    return absl::InternalError("SETTINGS payload does not parse");
  }
  return settings;
}

FrameHeader ParseFrameHeader(const char* bytes) {
  FrameHeader header;
  header.payload_length = net::LoadUint32(bytes);
  header.type = static_cast<FrameType>(static_cast<std::uint8_t>(bytes[4]));
  header.flags = static_cast<std::uint8_t>(bytes[5]);
  // bytes[6..7] are reserved: ignored on receipt.
  header.call_id = net::LoadUint32(bytes + 8);
  return header;
}

}  // namespace dualrpc::raw
