#include "dualrpc/raw/wire/call_payload.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "dualrpc/net/byte_order.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace dualrpc::raw {
namespace {

// Highest gRPC status code (UNAUTHENTICATED).
constexpr int kMaxStatusCode = 16;

std::uint8_t* AsBytes(char* p) { return reinterpret_cast<std::uint8_t*>(p); }

using ::google::protobuf::internal::WireFormatLite;
using ::google::protobuf::io::CodedInputStream;
using ::google::protobuf::io::CodedOutputStream;

// RequestHeader / MetadataEntry field tags (wire.proto).
constexpr std::uint32_t kMethodTag =
    WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
constexpr std::uint32_t kTimeoutTag =
    WireFormatLite::MakeTag(2, WireFormatLite::WIRETYPE_VARINT);
constexpr std::uint32_t kMetadataTag =
    WireFormatLite::MakeTag(3, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
constexpr std::uint32_t kKeyTag =
    WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
constexpr std::uint32_t kValueTag =
    WireFormatLite::MakeTag(2, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);

// A proto3 string/bytes field: omitted when empty, as protobuf does. Every
// tag here is one byte (field numbers below 16).
std::size_t StringFieldSize(absl::string_view value) {
  return value.empty() ? 0
                       : 1 + WireFormatLite::LengthDelimitedSize(value.size());
}

std::uint8_t* WriteStringField(std::uint32_t tag, absl::string_view value,
                               std::uint8_t* out) {
  if (value.empty()) return out;
  out = CodedOutputStream::WriteTagToArray(tag, out);
  out = CodedOutputStream::WriteVarint32ToArray(
      static_cast<std::uint32_t>(value.size()), out);
  return CodedOutputStream::WriteRawToArray(
      value.data(), static_cast<int>(value.size()), out);
}

std::size_t EntrySize(const std::pair<std::string, std::string>& entry) {
  return StringFieldSize(entry.first) + StringFieldSize(entry.second);
}

std::size_t RequestHeaderSize(absl::string_view method,
                              std::uint64_t timeout_micros,
                              HeaderEntries metadata) {
  std::size_t size = StringFieldSize(method);
  if (timeout_micros != 0) {
    size += 1 + CodedOutputStream::VarintSize64(timeout_micros);
  }
  for (const auto& entry : metadata) {
    size += 1 + WireFormatLite::LengthDelimitedSize(EntrySize(entry));
  }
  return size;
}

std::uint8_t* WriteRequestHeader(absl::string_view method,
                                 std::uint64_t timeout_micros,
                                 HeaderEntries metadata, std::uint8_t* out) {
  out = WriteStringField(kMethodTag, method, out);
  if (timeout_micros != 0) {
    out = CodedOutputStream::WriteTagToArray(kTimeoutTag, out);
    out = CodedOutputStream::WriteVarint64ToArray(timeout_micros, out);
  }
  for (const auto& entry : metadata) {
    out = CodedOutputStream::WriteTagToArray(kMetadataTag, out);
    out = CodedOutputStream::WriteVarint32ToArray(
        static_cast<std::uint32_t>(EntrySize(entry)), out);
    out = WriteStringField(kKeyTag, entry.first, out);
    out = WriteStringField(kValueTag, entry.second, out);
  }
  return out;
}

absl::Status CheckCallFrameSizes(std::size_t header_size,
                                 std::size_t message_size,
                                 const FrameLimits& limits) {
  if (header_size > limits.max_header_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "call header of ", header_size, " bytes exceeds the limit of ",
        limits.max_header_bytes, " bytes"));
  }
  if (message_size > limits.max_message_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "message of ", message_size, " bytes exceeds the limit of ",
        limits.max_message_bytes, " bytes"));
  }
  return absl::OkStatus();
}

// Frame header, header length, then what `write_header` writes (exactly
// `header_size` bytes) and `message`. Sizes already checked.
template <typename WriteHeader>
void AppendCheckedCallFrame(net::Buffer* out, FrameType type,
                            std::uint8_t flags, std::uint32_t call_id,
                            std::size_t header_size, WriteHeader write_header,
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
  net::StoreUint32(begin, static_cast<std::uint32_t>(header_size));
  std::uint8_t* cursor = write_header(AsBytes(begin + kCallHeaderLengthSize));
  if (message != nullptr) {
    cursor = message->SerializeWithCachedSizesToArray(cursor);
  }
  out->HasWritten(static_cast<std::size_t>(cursor - AsBytes(begin)));
}

}  // namespace

absl::Status AppendCallFrame(net::Buffer* out, FrameType type,
                             std::uint8_t flags, std::uint32_t call_id,
                             const google::protobuf::MessageLite* header,
                             const google::protobuf::MessageLite* message,
                             const FrameLimits& limits) {
  const std::size_t header_size = header ? header->ByteSizeLong() : 0;
  const std::size_t message_size = message ? message->ByteSizeLong() : 0;
  absl::Status fits = CheckCallFrameSizes(header_size, message_size, limits);
  if (!fits.ok()) return fits;
  AppendCheckedCallFrame(
      out, type, flags, call_id, header_size,
      [header](std::uint8_t* cursor) {
        return header == nullptr
                   ? cursor
                   : header->SerializeWithCachedSizesToArray(cursor);
      },
      message, message_size);
  return absl::OkStatus();
}

absl::Status AppendRequestFrame(net::Buffer* out, std::uint32_t call_id,
                                absl::string_view method,
                                std::uint64_t timeout_micros,
                                HeaderEntries metadata,
                                const google::protobuf::MessageLite& request,
                                const FrameLimits& limits) {
  return AppendRequestFrame(out, kFlagEndStream, call_id, method,
                            timeout_micros, metadata, &request, limits);
}

absl::Status AppendRequestFrame(net::Buffer* out, std::uint8_t flags,
                                std::uint32_t call_id, absl::string_view method,
                                std::uint64_t timeout_micros,
                                HeaderEntries metadata,
                                const google::protobuf::MessageLite* request,
                                const FrameLimits& limits) {
  const std::size_t header_size =
      RequestHeaderSize(method, timeout_micros, metadata);
  const std::size_t message_size = request ? request->ByteSizeLong() : 0;
  absl::Status fits = CheckCallFrameSizes(header_size, message_size, limits);
  if (!fits.ok()) return fits;
  AppendCheckedCallFrame(
      out, FrameType::kRequest, flags, call_id, header_size,
      [&](std::uint8_t* cursor) {
        return WriteRequestHeader(method, timeout_micros, metadata, cursor);
      },
      request, message_size);
  return absl::OkStatus();
}

absl::Status AppendMessageFrame(net::Buffer* out, std::uint32_t call_id,
                                const google::protobuf::MessageLite& message,
                                const FrameLimits& limits) {
  const std::size_t message_size = message.ByteSizeLong();
  absl::Status fits = CheckCallFrameSizes(0, message_size, limits);
  if (!fits.ok()) return fits;
  out->EnsureWritable(kFrameHeaderSize + message_size);
  AppendFrameHeader(out, FrameType::kMessage, 0, call_id,
                    static_cast<std::uint32_t>(message_size));
  std::uint8_t* const begin = AsBytes(out->BeginWrite());
  std::uint8_t* end = message.SerializeWithCachedSizesToArray(begin);
  out->HasWritten(static_cast<std::size_t>(end - begin));
  return absl::OkStatus();
}

absl::Status AppendMessageFrame(net::Buffer* out, std::uint32_t call_id,
                                absl::string_view serialized,
                                const FrameLimits& limits) {
  absl::Status fits = CheckCallFrameSizes(0, serialized.size(), limits);
  if (!fits.ok()) return fits;
  AppendFrame(out, FrameType::kMessage, 0, call_id, {serialized});
  return absl::OkStatus();
}

void AppendHalfClose(net::Buffer* out, std::uint32_t call_id) {
  AppendFrame(out, FrameType::kMessage, kFlagEndStream, call_id);
}

namespace {

// A length-delimited field's bytes as a view into `input`'s buffer (which
// is the whole header: GetDirectBufferPointer sees all of it).
bool ReadView(CodedInputStream* input, absl::string_view* view) {
  std::uint32_t length = 0;
  const void* data = nullptr;
  int available = 0;
  if (!input->ReadVarint32(&length) ||
      !input->GetDirectBufferPointer(&data, &available) ||
      length > static_cast<std::uint32_t>(available)) {
    return false;
  }
  *view = absl::string_view(static_cast<const char*>(data), length);
  return input->Skip(static_cast<int>(length));
}

// One MetadataEntry (its length prefix next in `input`); nullopt where the
// generated parser should judge.
std::optional<std::pair<absl::string_view, absl::string_view>>
ReadMetadataEntry(CodedInputStream* input) {
  absl::string_view entry;
  if (!ReadView(input, &entry)) return std::nullopt;
  CodedInputStream fields(reinterpret_cast<const std::uint8_t*>(entry.data()),
                          static_cast<int>(entry.size()));
  std::pair<absl::string_view, absl::string_view> result;
  while (const std::uint32_t tag = fields.ReadTag()) {
    if (tag == kKeyTag) {
      if (!ReadView(&fields, &result.first)) return std::nullopt;
    } else if (tag == kValueTag) {
      if (!ReadView(&fields, &result.second)) return std::nullopt;
    } else if (WireFormatLite::GetTagWireType(tag) ==
                   WireFormatLite::WIRETYPE_START_GROUP ||
               !WireFormatLite::SkipField(&fields, tag)) {
      return std::nullopt;
    }
  }
  if (!fields.ConsumedEntireMessage()) return std::nullopt;
  return result;
}

}  // namespace

std::optional<PlainRequestHeader> ReadPlainRequestHeader(
    absl::string_view bytes) {
  CodedInputStream input(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                         static_cast<int>(bytes.size()));
  PlainRequestHeader header;
  // ReadTag() is 0 at the end, and for field 0 or a malformed tag, which
  // ConsumedEntireMessage() below tells apart.
  while (const std::uint32_t tag = input.ReadTag()) {
    if (tag == kMethodTag) {
      // A repeated field 1 is legal protobuf: the last one wins.
      std::uint32_t length = 0;
      const void* data = nullptr;
      int available = 0;
      if (!input.ReadVarint32(&length) ||
          !input.GetDirectBufferPointer(&data, &available) ||
          length > static_cast<std::uint32_t>(available)) {
        return std::nullopt;
      }
      header.method = absl::string_view(static_cast<const char*>(data), length);
      input.Skip(static_cast<int>(length));
    } else if (tag == kTimeoutTag) {
      if (!input.ReadVarint64(&header.timeout_micros)) return std::nullopt;
    } else if (tag == kMetadataTag) {
      std::optional<std::pair<absl::string_view, absl::string_view>> entry =
          ReadMetadataEntry(&input);
      if (!entry.has_value()) return std::nullopt;
      header.metadata.push_back(*entry);
    } else if (WireFormatLite::GetTagWireType(tag) ==
               WireFormatLite::WIRETYPE_START_GROUP) {
      return std::nullopt;  // Groups: the full parser.
    } else if (!WireFormatLite::SkipField(&input, tag)) {
      return std::nullopt;  // An unknown field that does not parse.
    }
  }
  if (!input.ConsumedEntireMessage()) return std::nullopt;
  return header;
}

absl::StatusOr<CallPayload> SplitCallPayload(absl::string_view payload,
                                             const FrameLimits& limits) {
  if (payload.size() < kCallHeaderLengthSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("call payload of ", payload.size(),
                     " bytes is too short for its header length"));
  }
  const std::uint32_t header_size = net::LoadUint32(payload.data());
  payload.remove_prefix(kCallHeaderLengthSize);
  if (header_size > payload.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("call header length ", header_size, " exceeds the ",
                     payload.size(), " bytes that follow it"));
  }
  if (header_size > limits.max_header_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "call header of ", header_size, " bytes exceeds the limit of ",
        limits.max_header_bytes, " bytes"));
  }
  CallPayload parts{payload.substr(0, header_size),
                    payload.substr(header_size)};
  if (parts.message.size() > limits.max_message_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "message of ", parts.message.size(), " bytes exceeds the limit of ",
        limits.max_message_bytes, " bytes"));
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

void AppendGoaway(net::Buffer* out, const Goaway& goaway) {
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
    return absl::InvalidArgumentError(absl::StrCat(
        "GOAWAY payload of ", payload.size(), " bytes has no last call id"));
  }
  wire::v1::ResponseHeader header;
  const absl::string_view header_bytes = payload.substr(sizeof(std::uint32_t));
  if (!header.ParseFromArray(header_bytes.data(),
                             static_cast<int>(header_bytes.size()))) {
    return absl::InvalidArgumentError("GOAWAY header does not parse");
  }
  return Goaway{net::LoadUint32(payload.data()),
                StatusCodeFromWire(header.status_code()),
                std::move(*header.mutable_status_message())};
}

}  // namespace dualrpc::raw
