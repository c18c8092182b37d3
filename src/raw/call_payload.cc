#include "raw/call_payload.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace dualrpc::raw {
namespace {

// Highest gRPC status code (UNAUTHENTICATED).
constexpr int kMaxStatusCode = 16;

std::uint8_t* AsBytes(char* p) { return reinterpret_cast<std::uint8_t*>(p); }

}  // namespace

absl::Status AppendCallFrame(Buffer* out, FrameType type, std::uint8_t flags,
                             std::uint32_t call_id,
                             const google::protobuf::MessageLite* header,
                             const google::protobuf::MessageLite* message,
                             const FrameLimits& limits) {
  const std::size_t header_size = header ? header->ByteSizeLong() : 0;
  if (header_size > limits.max_header_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("call header of ", header_size,
                     " bytes exceeds the limit of ", limits.max_header_bytes,
                     " bytes"));
  }
  const std::size_t message_size = message ? message->ByteSizeLong() : 0;
  if (message_size > limits.max_message_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("message of ", message_size,
                     " bytes exceeds the limit of ", limits.max_message_bytes,
                     " bytes"));
  }
  // Fits in 32 bits: both parts are within 32-bit limits whose sum
  // max_frame_payload_bytes() the owner of `limits` keeps below 4 GiB.
  const std::size_t payload_size =
      kCallHeaderLengthSize + header_size + message_size;

  out->EnsureWritable(kFrameHeaderSize + payload_size);
  AppendFrameHeader(out, type, flags, call_id,
                    static_cast<std::uint32_t>(payload_size));
  char* const begin = out->BeginWrite();
  StoreUint32(begin, static_cast<std::uint32_t>(header_size));
  std::uint8_t* cursor = AsBytes(begin + kCallHeaderLengthSize);
  if (header != nullptr) cursor = header->SerializeWithCachedSizesToArray(cursor);
  if (message != nullptr) {
    cursor = message->SerializeWithCachedSizesToArray(cursor);
  }
  out->HasWritten(static_cast<std::size_t>(cursor - AsBytes(begin)));
  return absl::OkStatus();
}

absl::StatusOr<CallPayload> SplitCallPayload(absl::string_view payload,
                                             const FrameLimits& limits) {
  if (payload.size() < kCallHeaderLengthSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("call payload of ", payload.size(),
                     " bytes is too short for its header length"));
  }
  const std::uint32_t header_size = LoadUint32(payload.data());
  payload.remove_prefix(kCallHeaderLengthSize);
  if (header_size > payload.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("call header length ", header_size, " exceeds the ",
                     payload.size(), " bytes that follow it"));
  }
  if (header_size > limits.max_header_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("call header of ", header_size,
                     " bytes exceeds the limit of ", limits.max_header_bytes,
                     " bytes"));
  }
  CallPayload parts{payload.substr(0, header_size),
                    payload.substr(header_size)};
  if (parts.message.size() > limits.max_message_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("message of ", parts.message.size(),
                     " bytes exceeds the limit of ", limits.max_message_bytes,
                     " bytes"));
  }
  return parts;
}

void SetResponseStatus(const absl::Status& status,
                       wire::v1::ResponseHeader* header) {
  header->set_status_code(static_cast<int>(status.code()));
  header->set_status_message(std::string(status.message()));
}

absl::StatusCode StatusCodeFromWire(int code) {
  if (code < 0 || code > kMaxStatusCode) return absl::StatusCode::kUnknown;
  return static_cast<absl::StatusCode>(code);
}

absl::Status ResponseStatus(const wire::v1::ResponseHeader& header) {
  return absl::Status(StatusCodeFromWire(header.status_code()),
                      header.status_message());
}

void AppendGoaway(Buffer* out, const Goaway& goaway) {
  wire::v1::ResponseHeader header;
  header.set_status_code(static_cast<int>(goaway.code));
  header.set_status_message(goaway.message);
  const std::size_t header_size = header.ByteSizeLong();
  const std::size_t payload_size = sizeof(std::uint32_t) + header_size;
  out->EnsureWritable(kFrameHeaderSize + payload_size);
  AppendFrameHeader(out, FrameType::kGoaway, 0, 0,
                    static_cast<std::uint32_t>(payload_size));
  out->AppendUint32(goaway.last_call_id);
  header.SerializeWithCachedSizesToArray(AsBytes(out->BeginWrite()));
  out->HasWritten(header_size);
}

absl::StatusOr<Goaway> ParseGoaway(absl::string_view payload) {
  if (payload.size() < sizeof(std::uint32_t)) {
    return absl::InvalidArgumentError(
        absl::StrCat("GOAWAY payload of ", payload.size(),
                     " bytes has no last call id"));
  }
  wire::v1::ResponseHeader header;
  const absl::string_view header_bytes = payload.substr(sizeof(std::uint32_t));
  if (!header.ParseFromArray(header_bytes.data(),
                             static_cast<int>(header_bytes.size()))) {
    return absl::InvalidArgumentError("GOAWAY header does not parse");
  }
  return Goaway{LoadUint32(payload.data()),
                StatusCodeFromWire(header.status_code()),
                std::move(*header.mutable_status_message())};
}

}  // namespace dualrpc::raw
