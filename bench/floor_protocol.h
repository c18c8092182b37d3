#ifndef DUALRPC_BENCH_FLOOR_PROTOCOL_H_
#define DUALRPC_BENCH_FLOOR_PROTOCOL_H_

// The floor's wire: each message is a 4-byte big-endian length and that many
// bytes; the server writes every message back unchanged. No ids, no
// headers, no protobuf: the least any RPC over TCP must do.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace dualrpc::bench {

inline constexpr std::size_t kFloorLengthBytes = 4;
// Longer messages close the connection (a bench bug, not a load).
inline constexpr uint32_t kFloorMaxMessageBytes = 64u << 20;

inline void AppendFloorMessage(absl::string_view payload, std::string* out) {
  const auto size = static_cast<uint32_t>(payload.size());
  const char length[kFloorLengthBytes] = {
      static_cast<char>(size >> 24), static_cast<char>(size >> 16),
      static_cast<char>(size >> 8), static_cast<char>(size)};
  out->append(length, kFloorLengthBytes);
  out->append(payload.data(), payload.size());
}

// Result of FloorScan.
struct FloorScan {
  // Bytes taken by the complete messages at the front of the input.
  std::size_t complete_bytes = 0;
  std::size_t messages = 0;
  // A length above kFloorMaxMessageBytes was seen.
  bool oversized = false;
};

// Walks the complete messages at the front of `input`.
inline FloorScan ScanFloorMessages(absl::string_view input) {
  FloorScan scan;
  while (input.size() - scan.complete_bytes >= kFloorLengthBytes) {
    const auto* p = reinterpret_cast<const unsigned char*>(input.data() +
                                                           scan.complete_bytes);
    const uint32_t length = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
                            (uint32_t{p[2]} << 8) | uint32_t{p[3]};
    if (length > kFloorMaxMessageBytes) {
      scan.oversized = true;
      break;
    }
    if (input.size() - scan.complete_bytes < kFloorLengthBytes + length) break;
    scan.complete_bytes += kFloorLengthBytes + length;
    ++scan.messages;
  }
  return scan;
}

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_FLOOR_PROTOCOL_H_
