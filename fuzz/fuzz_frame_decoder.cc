// libFuzzer target: raw::FrameDecoder over a client's byte stream (preface,
// then frames).
//
// Oracle, besides the sanitizers: decoding is independent of how the bytes
// arrive. The input is decoded once whole and once in chunks whose sizes
// come from the input itself; both must report the same events (kinds,
// headers, payload bytes, errors) and the same end-of-stream verdict. Small
// limits make the oversized-frame (discarding) paths reachable with small
// inputs.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/raw/wire/frame_decoder.h"
#include "fuzz_check.h"

namespace {

using dualrpc::raw::FrameDecoder;

dualrpc::raw::FrameLimits SmallLimits() {
  dualrpc::raw::FrameLimits limits;
  limits.max_message_bytes = 1024;
  limits.max_header_bytes = 256;
  return limits;
}

// One event as comparable text.
std::string Describe(const FrameDecoder::Event& event) {
  return absl::StrCat(
      static_cast<int>(event.kind), " ", unsigned{event.major}, ".",
      unsigned{event.minor}, " len=", event.header.payload_length,
      " type=", static_cast<unsigned>(event.header.type),
      " flags=", unsigned{event.header.flags}, " id=", event.header.call_id,
      " payload=", absl::CEscape(event.payload),
      " error=", event.error.ToString());
}

// Feeds `data` in chunks of the sizes `chunk_size(i)` gives (0: all at
// once); returns the events and the end-of-stream verdict.
template <typename ChunkSize>
std::vector<std::string> Decode(absl::string_view data, ChunkSize chunk_size) {
  FrameDecoder decoder(SmallLimits());
  dualrpc::net::Buffer input;
  std::vector<std::string> events;
  bool stuck = false;
  for (std::size_t i = 0; !data.empty() && !stuck; ++i) {
    std::size_t n = chunk_size(i);
    if (n == 0 || n > data.size()) n = data.size();
    input.Append(data.substr(0, n));
    data.remove_prefix(n);
    for (;;) {
      FrameDecoder::Event event = decoder.Next(&input);
      if (event.kind == FrameDecoder::Event::kNeedMoreInput) break;
      events.push_back(Describe(event));
      if (event.kind == FrameDecoder::Event::kBadMagic ||
          event.kind == FrameDecoder::Event::kError) {
        // The decoder is stuck now: it must repeat itself, consuming nothing.
        const std::size_t left = input.readable_bytes();
        FUZZ_CHECK(Describe(decoder.Next(&input)) == events.back());
        FUZZ_CHECK(input.readable_bytes() == left);
        stuck = true;
        break;
      }
      // A frame's payload never exceeds the limits' largest frame.
      FUZZ_CHECK(event.payload.size() <=
                 decoder.limits().max_frame_payload_bytes());
    }
  }
  if (!stuck) events.push_back(decoder.CheckEof(input).ToString());
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> whole =
      Decode(bytes, [](std::size_t) { return std::size_t{0}; });
  // Chunk sizes 1..16 drawn from the input's own bytes, cycling.
  const std::vector<std::string> chunked =
      Decode(bytes, [&](std::size_t i) {
        return size == 0 ? std::size_t{1}
                         : std::size_t{data[i % size] % 16u} + 1;
      });
  FUZZ_CHECK(whole == chunked);
  return 0;
}
