#include "dualrpc/raw/wire/frame_decoder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"

namespace dualrpc::raw {
namespace {

bool IsKnownType(FrameType type) {
  return type >= FrameType::kRequest && type <= FrameType::kSettings;
}

bool IsConnectionLevel(FrameType type) {
  return type == FrameType::kPing || type == FrameType::kGoaway ||
         type == FrameType::kSettings;
}

}  // namespace

FrameDecoder::FrameDecoder(FrameLimits limits, bool expect_preface)
    : limits_(limits),
      state_(expect_preface ? State::kPreface : State::kFrames) {}

FrameDecoder::Event FrameDecoder::Next(net::Buffer* input) {
  if (consume_on_next_ != 0) {
    // Clamped: the owner may have discarded the input meanwhile (a
    // connection that started closing drops what it has not read).
    input->Retrieve(std::min(consume_on_next_, input->readable_bytes()));
    consume_on_next_ = 0;
  }
  switch (state_) {
    case State::kFailed:
      return failure_;
    case State::kPreface:
      return DecodePreface(input);
    case State::kDiscarding: {
      const std::size_t dropped = static_cast<std::size_t>(
          std::min<std::uint64_t>(discard_remaining_, input->readable_bytes()));
      input->Retrieve(dropped);
      discard_remaining_ -= dropped;
      if (discard_remaining_ != 0) return Event{};
      state_ = State::kFrames;
      return DecodeFrame(input);
    }
    case State::kFrames:
      return DecodeFrame(input);
  }
  return Event{};
}

FrameDecoder::Event FrameDecoder::DecodePreface(net::Buffer* input) {
  // Compare the magic byte by byte as it arrives, so that a peer speaking
  // another protocol is turned away without waiting for 8 bytes.
  const std::size_t available =
      std::min(input->readable_bytes(), kPrefaceMagic.size());
  if (absl::string_view(input->Peek(), available) !=
      kPrefaceMagic.substr(0, available)) {
    return Fail(Event::kBadMagic,
                absl::UnavailableError(
                    "peer does not speak the dualrpc framed protocol"));
  }
  if (input->readable_bytes() < kPrefaceSize) return Event{};
  Event event;
  event.kind = Event::kPreface;
  event.major = static_cast<std::uint8_t>(input->Peek()[4]);
  event.minor = static_cast<std::uint8_t>(input->Peek()[5]);
  // Bytes 6..7 are reserved: ignored on receipt.
  input->Retrieve(kPrefaceSize);
  state_ = State::kFrames;
  return event;
}

FrameDecoder::Event FrameDecoder::DecodeFrame(net::Buffer* input) {
  if (absl::Status preface = CheckNotPreface(*input); !preface.ok()) {
    return Fail(Event::kError, std::move(preface));
  }
  if (input->readable_bytes() < kFrameHeaderSize) return Event{};
  Event event;
  event.header = ParseFrameHeader(input->Peek());
  const std::uint32_t length = event.header.payload_length;
  if (absl::Status valid = CheckHeader(event.header); !valid.ok()) {
    return Fail(Event::kError, std::move(valid));
  }
  if (length > PayloadLimit(event.header.type)) {
    if (absl::Status skippable = CheckSkippable(event.header);
        !skippable.ok()) {
      return Fail(Event::kError, std::move(skippable));
    }
    // CheckHeader let it through, so it is a REQUEST or MESSAGE: drop its
    // payload as it arrives and keep the connection.
    input->Retrieve(kFrameHeaderSize);
    discard_remaining_ = length;
    discard_length_ = length;
    state_ = State::kDiscarding;
    ++frames_reported_;
    event.kind = Event::kOversizedCallFrame;
    return event;
  }
  if (input->readable_bytes() - kFrameHeaderSize < length) return Event{};
  event.kind = Event::kFrame;
  event.payload = absl::string_view(input->Peek() + kFrameHeaderSize, length);
  consume_on_next_ = kFrameHeaderSize + length;
  ++frames_reported_;
  return event;
}

absl::Status FrameDecoder::CheckHeader(const FrameHeader& header) const {
  const FrameType type = header.type;
  if (!IsKnownType(type)) {
    return absl::UnimplementedError(absl::StrFormat(
        "unknown frame type 0x%02x", static_cast<unsigned>(type)));
  }
  if (header.payload_length > PayloadLimit(type) &&
      type != FrameType::kRequest && type != FrameType::kMessage) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s frame payload of %u bytes exceeds the limit of %u bytes",
        FrameTypeName(type), header.payload_length,
        limits_.max_frame_payload_bytes()));
  }
  if (IsConnectionLevel(type) != (header.call_id == 0)) {
    // Two literals: clang checks StrFormat's format at compile time.
    return absl::InternalError(
        IsConnectionLevel(type)
            ? absl::StrFormat("%s frame must have call id 0",
                              FrameTypeName(type))
            : absl::StrFormat("%s frame must have a non-zero call id",
                              FrameTypeName(type)));
  }
  if (type == FrameType::kPing && header.payload_length != kPingPayloadSize) {
    return absl::InternalError(
        absl::StrFormat("PING payload must be %u bytes, not %u",
                        kPingPayloadSize, header.payload_length));
  }
  if (type == FrameType::kWindowUpdate &&
      header.payload_length != kWindowUpdatePayloadSize) {
    return absl::InternalError(
        absl::StrFormat("WINDOW_UPDATE payload must be %u bytes, not %u",
                        kWindowUpdatePayloadSize, header.payload_length));
  }
  if (type == FrameType::kCancel && header.payload_length != 0) {
    return absl::InternalError(absl::StrFormat(
        "CANCEL payload must be empty, not %u bytes", header.payload_length));
  }
  return absl::OkStatus();
}

absl::Status FrameDecoder::CheckNotPreface(const net::Buffer& input) {
  if (input.readable_bytes() < kPrefaceMagic.size() ||
      absl::string_view(input.Peek(), kPrefaceMagic.size()) != kPrefaceMagic) {
    return absl::OkStatus();
  }
  return absl::InternalError(
      "unexpected preface: a frame's payload length reads \"DRPC\"");
}

absl::Status FrameDecoder::CheckSkippable(const FrameHeader& header) const {
  const std::uint64_t bound =
      kMaxSkippedFramePayloads * limits_.max_frame_payload_bytes();
  if (header.payload_length <= bound) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrFormat(
      "%s frame payload of %u bytes is over %u times the frame limit of %u "
      "bytes: not skipped",
      FrameTypeName(header.type), header.payload_length,
      kMaxSkippedFramePayloads, limits_.max_frame_payload_bytes()));
}

std::uint64_t FrameDecoder::PayloadLimit(FrameType type) const {
  // A MESSAGE payload is one message, without a call header (§7.2).
  return type == FrameType::kMessage ? limits_.max_message_bytes
                                     : limits_.max_frame_payload_bytes();
}

FrameDecoder::Event FrameDecoder::Fail(Event::Kind kind, absl::Status error) {
  state_ = State::kFailed;
  failure_ = Event{};
  failure_.kind = kind;
  failure_.error = std::move(error);
  return failure_;
}

std::optional<FrameDecoder::PartialFrame> FrameDecoder::InProgress(
    const net::Buffer& input) const {
  if (state_ == State::kDiscarding) {
    // The oversized frame already reported, still arriving.
    return PartialFrame{frames_reported_ - 1, discard_length_};
  }
  if (state_ != State::kFrames) return std::nullopt;
  const std::size_t unread = input.readable_bytes() - consume_on_next_;
  if (unread == 0) return std::nullopt;
  PartialFrame partial{frames_reported_, std::nullopt};
  if (unread >= kFrameHeaderSize) {
    partial.payload_length =
        ParseFrameHeader(input.Peek() + consume_on_next_).payload_length;
  }
  return partial;
}

absl::Status FrameDecoder::CheckEof(const net::Buffer& input) const {
  const std::size_t unread = input.readable_bytes() - consume_on_next_;
  switch (state_) {
    case State::kFailed:
      return failure_.error;
    case State::kPreface:
      return absl::UnavailableError(
          unread == 0 ? "connection closed before the preface"
                      : "connection closed inside the preface");
    case State::kDiscarding:
      return absl::UnavailableError("connection closed inside a frame");
    case State::kFrames:
      break;
  }
  if (unread != 0) {
    return absl::UnavailableError("connection closed inside a frame");
  }
  return absl::OkStatus();
}

}  // namespace dualrpc::raw
