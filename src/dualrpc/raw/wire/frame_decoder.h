#ifndef DUALRPC_RAW_WIRE_FRAME_DECODER_H_
#define DUALRPC_RAW_WIRE_FRAME_DECODER_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/raw/wire/frame.h"

namespace dualrpc::raw {

// §4.3: an oversized REQUEST or MESSAGE is skipped only if its declared
// payload is at most this many times FrameLimits::max_frame_payload_bytes().
inline constexpr std::uint64_t kMaxSkippedFramePayloads = 16;

// Turns the bytes one peer sends into a preface and then frames, enforcing
// everything in the spec that does not depend on which side is reading
// (§2, §3, §4.3, §5.2, §6.3, §7.5): the magic, known frame types, call ids
// of 0 exactly on connection-level frames, PING, CANCEL and WINDOW_UPDATE
// payload sizes, and the
// frame size limit, which is checked as soon as a frame header has arrived
// and before any of its payload is buffered. Role rules (who may send
// REQUEST, call ids increasing, version compatibility) are the caller's.
//
// An oversized REQUEST or MESSAGE is not a connection error (§4.3, §7.3):
// the decoder reports it once and then discards exactly its payload bytes as
// they arrive, so the input Buffer never holds more of it than one read brought
// in. Skipping is bounded (§4.3): one declared over kMaxSkippedFramePayloads
// frame limits is a connection error RESOURCE_EXHAUSTED instead, so that a
// peer cannot make the server read gigabytes before anything is said. So is a
// second preface (§2): a frame whose length field reads "DRPC" is a
// connection error INTERNAL as soon as those 4 bytes have arrived.
//
// Usage, after each read into `input`:
//   for (;;) {
//     FrameDecoder::Event event = decoder.Next(&input);
//     if (event.kind == FrameDecoder::Event::kNeedMoreInput) break;
//     ... handle event; stop on kBadMagic or kError ...
//   }
// Not thread-safe; one decoder per connection direction.
class FrameDecoder {
 public:
  struct Event {
    enum Kind {
      // Nothing complete yet (everything available has been consumed or is
      // a partial preface/frame). Read more, then call Next() again.
      kNeedMoreInput,
      // The peer's preface: `major`, `minor`. Judging the version is the
      // caller's job.
      kPreface,
      // One complete frame: `header` and `payload`.
      kFrame,
      // A REQUEST whose declared payload is over the frame limit, or a
      // MESSAGE whose payload is over the message limit: `header`
      // (payload_length is the declared length). Its payload is now being
      // discarded; the call fails with RESOURCE_EXHAUSTED.
      kOversizedCallFrame,
      // The stream does not start with "DRPC": not our protocol. Close
      // without writing anything.
      kBadMagic,
      // A connection error: `error`'s code is the GOAWAY status to send.
      kError,
    };

    Kind kind = kNeedMoreInput;
    std::uint8_t major = 0;
    std::uint8_t minor = 0;
    FrameHeader header;
    // kFrame only: points into the input Buffer; valid until the next call
    // to Next() or until the Buffer is next written to.
    absl::string_view payload;
    absl::Status error;
  };

  // `expect_preface`: false to decode frames only (tests, benchmarks).
  explicit FrameDecoder(FrameLimits limits, bool expect_preface = true);

  // Consumes what it can from `input` and reports the next event. After
  // kBadMagic or kError the decoder is stuck: every later call repeats the
  // event without consuming anything.
  Event Next(net::Buffer* input);

  // What EOF means now: OK at a frame boundary, UNAVAILABLE if the stream
  // ended inside the preface or a frame (§6.3: the connection just closes).
  absl::Status CheckEof(const net::Buffer& input) const;

  const FrameLimits& limits() const { return limits_; }

  // The frame that `input` ends inside, for a deadline on finishing it
  // (§4.3): call after Next() returned kNeedMoreInput, with the same Buffer.
  // Costs nothing unless asked; reads at most a buffered header.
  struct PartialFrame {
    // Numbers the frames of the stream (0, 1, ...): the same value across
    // calls while the same frame is still being received.
    std::uint64_t index = 0;
    // The declared payload length, once the whole header has arrived.
    std::optional<std::uint32_t> payload_length;
  };
  // Nullopt at a frame boundary, in the preface (bounded by the caller's
  // handshake deadline) and once the decoder is stuck.
  std::optional<PartialFrame> InProgress(const net::Buffer& input) const;

 private:
  enum class State { kPreface, kFrames, kDiscarding, kFailed };

  Event DecodePreface(net::Buffer* input);
  Event DecodeFrame(net::Buffer* input);
  // §2: INTERNAL if the next frame's length field (at least 4 bytes of it in
  // `input`) is the preface magic, else OK.
  static absl::Status CheckNotPreface(const net::Buffer& input);
  // §4.3: RESOURCE_EXHAUSTED if the oversized call frame `header` is too
  // large to skip, else OK.
  absl::Status CheckSkippable(const FrameHeader& header) const;
  // Connection-level checks on a complete 12-byte header; OK or the
  // connection error to report.
  absl::Status CheckHeader(const FrameHeader& header) const;
  Event Fail(Event::Kind kind, absl::Status error);
  // Largest payload of a frame of `type`.
  std::uint64_t PayloadLimit(FrameType type) const;

  const FrameLimits limits_;
  State state_;
  // Bytes of the frame last reported as kFrame, consumed on the next call so
  // that its payload view stays valid in between.
  std::size_t consume_on_next_ = 0;
  // kDiscarding: payload bytes of an oversized REQUEST still to drop, and
  // its declared length.
  std::uint64_t discard_remaining_ = 0;
  std::uint32_t discard_length_ = 0;
  // Frames whose header has been reported (kFrame, kOversizedCallFrame):
  // the index of the next frame (PartialFrame::index).
  std::uint64_t frames_reported_ = 0;
  // kFailed: the event to repeat.
  Event failure_;
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_WIRE_FRAME_DECODER_H_
