// libFuzzer target: the REQUEST / RESPONSE payload codecs of
// raw/wire/call_payload (SplitCallPayload, ReadPlainRequestHeader, the
// generated RequestHeader / ResponseHeader parsers, ParseGoaway).
//
// Input: one byte choosing the payload kind (odd: REQUEST, even: RESPONSE,
// as the frame type numbers 1 and 2), then the frame payload.
//
// Oracles, besides the sanitizers:
//  - the fast REQUEST header reader agrees with the generated parser
//    whenever both accept the bytes (method, timeout, metadata in order);
//  - what the fast reader accepts re-encodes (AppendRequestFrame) into a
//    frame that reads back to the same header (through the generated parser
//    where it parses, and through the fast reader where that accepts it);
//  - a parsed ResponseHeader's status survives SetResponseStatus /
//    ResponseStatus with its code in 0..16.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/wire/v1/wire.pb.h"
#include "fuzz_check.h"
#include "google/protobuf/stubs/logging.h"

namespace {

namespace raw = dualrpc::raw;
namespace wire = dualrpc::wire::v1;

constexpr std::size_t kFrameHeaderBytes = 12;

raw::FrameLimits Limits() {
  raw::FrameLimits limits;
  limits.max_message_bytes = 4096;
  limits.max_header_bytes = 1024;
  return limits;
}

void CheckSameHeader(const raw::PlainRequestHeader& plain,
                     const wire::RequestHeader& full) {
  FUZZ_CHECK(plain.method == full.method());
  FUZZ_CHECK(plain.timeout_micros == full.timeout_micros());
  FUZZ_CHECK(plain.metadata.size() ==
             static_cast<std::size_t>(full.metadata_size()));
  for (int i = 0; i < full.metadata_size(); ++i) {
    FUZZ_CHECK(plain.metadata[i].first == full.metadata(i).key());
    FUZZ_CHECK(plain.metadata[i].second == full.metadata(i).value());
  }
}

void FuzzRequestHeader(absl::string_view header_bytes) {
  const std::optional<raw::PlainRequestHeader> plain =
      raw::ReadPlainRequestHeader(header_bytes);
  wire::RequestHeader full;
  const bool full_ok = full.ParseFromArray(
      header_bytes.data(), static_cast<int>(header_bytes.size()));
  if (!plain.has_value()) return;
  if (full_ok) CheckSameHeader(*plain, full);

  // Round trip through the client's encoder.
  std::vector<std::pair<std::string, std::string>> metadata;
  for (const auto& [key, value] : plain->metadata) {
    metadata.emplace_back(std::string(key), std::string(value));
  }
  dualrpc::net::Buffer out;
  const absl::Status appended = raw::AppendRequestFrame(
      &out, /*flags=*/0, /*call_id=*/1, plain->method, plain->timeout_micros,
      metadata, /*request=*/nullptr, Limits());
  if (!appended.ok()) {
    FUZZ_CHECK(appended.code() == absl::StatusCode::kResourceExhausted);
    return;
  }
  FUZZ_CHECK(out.readable_bytes() >= kFrameHeaderBytes);
  absl::string_view payload = out.View().substr(kFrameHeaderBytes);
  absl::StatusOr<raw::CallPayload> parts = raw::SplitCallPayload(payload, Limits());
  FUZZ_CHECK(parts.ok());
  FUZZ_CHECK(parts->message.empty());
  // The encoder writes protobuf's own bytes: the generated parser reads them
  // back to the same header.
  wire::RequestHeader reparsed;
  if (reparsed.ParseFromArray(parts->header.data(),
                              static_cast<int>(parts->header.size()))) {
    CheckSameHeader(*plain, reparsed);
  }
  // The fast reader may decline what it cannot take as views (a zero-length
  // field at the very end: GetDirectBufferPointer has nothing to point at),
  // leaving it to the generated parser; what it takes must be the same.
  const std::optional<raw::PlainRequestHeader> again =
      raw::ReadPlainRequestHeader(parts->header);
  if (!again.has_value()) return;
  FUZZ_CHECK(again->method == plain->method);
  FUZZ_CHECK(again->timeout_micros == plain->timeout_micros);
  FUZZ_CHECK(again->metadata == plain->metadata);
}

void FuzzResponseHeader(absl::string_view header_bytes) {
  wire::ResponseHeader header;
  if (!header.ParseFromArray(header_bytes.data(),
                             static_cast<int>(header_bytes.size()))) {
    return;
  }
  const absl::Status status = raw::ResponseStatus(header);
  const int code = static_cast<int>(status.code());
  FUZZ_CHECK(code >= 0 && code <= 16);
  wire::ResponseHeader written;
  raw::SetResponseStatus(status, &written);
  FUZZ_CHECK(raw::ResponseStatus(written) == status);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs every invalid UTF-8 string it refuses; at fuzzing rates
  // that is most of the run's time.
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size == 0) return 0;
  const bool request = (data[0] & 1) != 0;
  const absl::string_view payload(reinterpret_cast<const char*>(data) + 1,
                                  size - 1);
  // A GOAWAY payload is u32 + ResponseHeader: the same bytes serve it.
  (void)raw::ParseGoaway(payload);
  absl::StatusOr<raw::CallPayload> parts =
      raw::SplitCallPayload(payload, Limits());
  if (!parts.ok()) {
    const absl::StatusCode code = parts.status().code();
    FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument ||
               code == absl::StatusCode::kResourceExhausted);
    return 0;
  }
  FUZZ_CHECK(parts->header.size() + parts->message.size() + 4 ==
             payload.size());
  if (request) {
    FuzzRequestHeader(parts->header);
  } else {
    FuzzResponseHeader(parts->header);
  }
  return 0;
}
