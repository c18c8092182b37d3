#include "raw/call_payload.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace dualrpc::raw {
namespace {

// Highest gRPC status code (UNAUTHENTICATED).
constexpr int kMaxStatusCode = 16;

std::uint8_t* AsBytes(char* p) { return reinterpret_cast<std::uint8_t*>(p); }

// RequestHeader / MetadataEntry field tags (wire.proto): field number << 3 |
// wire type (0 varint, 2 length-delimited).
constexpr char kMethodTag = (1 << 3) | 2;
constexpr char kTimeoutTag = (2 << 3) | 0;
constexpr char kMetadataTag = (3 << 3) | 2;
constexpr char kKeyTag = (1 << 3) | 2;
constexpr char kValueTag = (2 << 3) | 2;

std::size_t VarintSize(std::uint64_t value) {
  std::size_t size = 1;
  for (; value >= 0x80; value >>= 7) ++size;
  return size;
}

char* WriteVarint(std::uint64_t value, char* out) {
  for (; value >= 0x80; value >>= 7) {
    *out++ = static_cast<char>(value | 0x80);
  }
  *out++ = static_cast<char>(value);
  return out;
}

// A proto3 string/bytes field: omitted when empty, as protobuf does.
std::size_t StringFieldSize(absl::string_view value) {
  return value.empty() ? 0 : 1 + VarintSize(value.size()) + value.size();
}

char* WriteStringField(char tag, absl::string_view value, char* out) {
  if (value.empty()) return out;
  *out++ = tag;
  out = WriteVarint(value.size(), out);
  std::memcpy(out, value.data(), value.size());
  return out + value.size();
}

std::size_t EntrySize(const std::pair<std::string, std::string>& entry) {
  return StringFieldSize(entry.first) + StringFieldSize(entry.second);
}

std::size_t RequestHeaderSize(absl::string_view method,
                              std::uint64_t timeout_micros,
                              HeaderEntries metadata) {
  std::size_t size = StringFieldSize(method);
  if (timeout_micros != 0) size += 1 + VarintSize(timeout_micros);
  for (const auto& entry : metadata) {
    const std::size_t entry_size = EntrySize(entry);
    size += 1 + VarintSize(entry_size) + entry_size;
  }
  return size;
}

char* WriteRequestHeader(absl::string_view method,
                         std::uint64_t timeout_micros, HeaderEntries metadata,
                         char* out) {
  out = WriteStringField(kMethodTag, method, out);
  if (timeout_micros != 0) {
    *out++ = kTimeoutTag;
    out = WriteVarint(timeout_micros, out);
  }
  for (const auto& entry : metadata) {
    *out++ = kMetadataTag;
    out = WriteVarint(EntrySize(entry), out);
    out = WriteStringField(kKeyTag, entry.first, out);
    out = WriteStringField(kValueTag, entry.second, out);
  }
  return out;
}

bool ReadVarint(const char** cursor, const char* end, std::uint64_t* value) {
  std::uint64_t result = 0;
  // At most 10 bytes, as protobuf accepts.
  for (int shift = 0; shift < 64 && *cursor < end; shift += 7) {
    const auto byte = static_cast<std::uint8_t>(*(*cursor)++);
    result |= std::uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) {
      *value = result;
      return true;
    }
  }
  return false;
}

absl::Status CheckCallFrameSizes(std::size_t header_size,
                                 std::size_t message_size,
                                 const FrameLimits& limits) {
  if (header_size > limits.max_header_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("call header of ", header_size,
                     " bytes exceeds the limit of ", limits.max_header_bytes,
                     " bytes"));
  }
  if (message_size > limits.max_message_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("message of ", message_size,
                     " bytes exceeds the limit of ", limits.max_message_bytes,
                     " bytes"));
  }
  return absl::OkStatus();
}

// Frame header, header length, then what `write_header` writes (exactly
// `header_size` bytes) and `message`. Sizes already checked.
template <typename WriteHeader>
void AppendCheckedCallFrame(Buffer* out, FrameType type, std::uint8_t flags,
                            std::uint32_t call_id, std::size_t header_size,
                            WriteHeader write_header,
                            const google::protobuf::MessageLite* message,
                            std::size_t message_size) {
  // Fits in 32 bits: both parts are within 32-bit limits whose sum
  // max_frame_payload_bytes() the owner of the limits keeps below 4 GiB.
  const std::size_t payload_size =
      kCallHeaderLengthSize + header_size + message_size;
  out->EnsureWritable(kFrameHeaderSize + payload_size);
  AppendFrameHeader(out, type, flags, call_id,
                    static_cast<std::uint32_t>(payload_size));
  char* const begin = out->BeginWrite();
  StoreUint32(begin, static_cast<std::uint32_t>(header_size));
  char* cursor = write_header(begin + kCallHeaderLengthSize);
  if (message != nullptr) {
    cursor = reinterpret_cast<char*>(
        message->SerializeWithCachedSizesToArray(AsBytes(cursor)));
  }
  out->HasWritten(static_cast<std::size_t>(cursor - begin));
}

}  // namespace

absl::Status AppendCallFrame(Buffer* out, FrameType type, std::uint8_t flags,
                             std::uint32_t call_id,
                             const google::protobuf::MessageLite* header,
                             const google::protobuf::MessageLite* message,
                             const FrameLimits& limits) {
  const std::size_t header_size = header ? header->ByteSizeLong() : 0;
  const std::size_t message_size = message ? message->ByteSizeLong() : 0;
  absl::Status fits = CheckCallFrameSizes(header_size, message_size, limits);
  if (!fits.ok()) return fits;
  AppendCheckedCallFrame(
      out, type, flags, call_id, header_size,
      [header](char* cursor) {
        if (header == nullptr) return cursor;
        return reinterpret_cast<char*>(
            header->SerializeWithCachedSizesToArray(AsBytes(cursor)));
      },
      message, message_size);
  return absl::OkStatus();
}

absl::Status AppendRequestFrame(Buffer* out, std::uint32_t call_id,
                                absl::string_view method,
                                std::uint64_t timeout_micros,
                                HeaderEntries metadata,
                                const google::protobuf::MessageLite& request,
                                const FrameLimits& limits) {
  const std::size_t header_size =
      RequestHeaderSize(method, timeout_micros, metadata);
  const std::size_t message_size = request.ByteSizeLong();
  absl::Status fits = CheckCallFrameSizes(header_size, message_size, limits);
  if (!fits.ok()) return fits;
  AppendCheckedCallFrame(
      out, FrameType::kRequest, kFlagEndStream, call_id, header_size,
      [&](char* cursor) {
        return WriteRequestHeader(method, timeout_micros, metadata, cursor);
      },
      &request, message_size);
  return absl::OkStatus();
}

std::optional<PlainRequestHeader> ReadPlainRequestHeader(
    absl::string_view bytes) {
  PlainRequestHeader header;
  const char* cursor = bytes.data();
  const char* const end = cursor + bytes.size();
  while (cursor < end) {
    std::uint64_t tag = 0;
    if (!ReadVarint(&cursor, end, &tag)) return std::nullopt;
    // Field 0 and tags beyond 32 bits are protobuf parse errors.
    if ((tag >> 3) == 0 || tag > UINT32_MAX) return std::nullopt;
    const std::uint64_t field = tag >> 3;
    switch (tag & 7) {
      case 0: {  // varint
        std::uint64_t value = 0;
        if (!ReadVarint(&cursor, end, &value)) return std::nullopt;
        if (field == 2) header.timeout_micros = value;
        break;
      }
      case 1:  // fixed64: an unknown field
        if (end - cursor < 8) return std::nullopt;
        cursor += 8;
        break;
      case 5:  // fixed32: an unknown field
        if (end - cursor < 4) return std::nullopt;
        cursor += 4;
        break;
      case 2: {  // length-delimited
        std::uint64_t length = 0;
        if (!ReadVarint(&cursor, end, &length) ||
            length > static_cast<std::uint64_t>(end - cursor)) {
          return std::nullopt;
        }
        if (field == 3) return std::nullopt;  // Metadata: the full parser.
        // A repeated field 1 is legal protobuf: the last one wins.
        if (field == 1) header.method = absl::string_view(cursor, length);
        cursor += length;
        break;
      }
      default:  // Groups and invalid wire types: the full parser decides.
        return std::nullopt;
    }
  }
  return header;
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
