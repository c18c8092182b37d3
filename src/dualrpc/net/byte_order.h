#ifndef DUALRPC_NET_BYTE_ORDER_H_
#define DUALRPC_NET_BYTE_ORDER_H_

// Big-endian (network byte order) loads and stores of the unsigned integers
// that travel on the wire. `p` need not be aligned; the caller guarantees the
// bytes are there. Compilers turn each into one load or store plus a bswap.

#include <cstdint>

namespace dualrpc::net {

inline std::uint16_t LoadUint16(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint16_t>((b[0] << 8) | b[1]);
}

inline std::uint32_t LoadUint32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
         (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
}

inline void StoreUint16(char* p, std::uint16_t value) {
  p[0] = static_cast<char>(value >> 8);
  p[1] = static_cast<char>(value);
}

inline void StoreUint32(char* p, std::uint32_t value) {
  p[0] = static_cast<char>(value >> 24);
  p[1] = static_cast<char>(value >> 16);
  p[2] = static_cast<char>(value >> 8);
  p[3] = static_cast<char>(value);
}

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_BYTE_ORDER_H_
