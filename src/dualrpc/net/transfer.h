#ifndef DUALRPC_NET_TRANSFER_H_
#define DUALRPC_NET_TRANSFER_H_

#include <cstddef>
#include <cstdint>

namespace dualrpc::net {

// The readiness of an fd that lets a stopped read or write continue.
enum class Readiness : std::uint8_t { kReadable, kWritable };

// The result of one non-blocking move of bytes between a Buffer and a
// socket (or a ByteStream over one); errors travel beside it as a Status.
//   bytes > 0          that many bytes moved (a write may have moved fewer
//                      than were offered; see resume_on);
//   bytes == 0, !eof   would block;
//   eof                the peer's end of stream (reads only).
struct Transfer {
  std::size_t bytes = 0;
  bool eof = false;
  // When the operation stopped short (a read that moved nothing, a write
  // that left bytes unsent): what to wait for before trying it again. A
  // plain socket's read waits for readable and its write for writable; a
  // wrapping stream may answer otherwise (a TLS write that first has to
  // read the peer's handshake waits for readable).
  Readiness resume_on = Readiness::kReadable;

  bool would_block() const { return bytes == 0 && !eof; }
};

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_TRANSFER_H_
