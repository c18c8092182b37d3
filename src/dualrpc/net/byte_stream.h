#ifndef DUALRPC_NET_BYTE_STREAM_H_
#define DUALRPC_NET_BYTE_STREAM_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/net/transfer.h"

namespace dualrpc::net {

// The byte stream under a TcpConnection (KJ's AsyncIoStream, in readiness
// form): what the connection reads from and writes to instead of making
// socket syscalls itself. Non-blocking and readiness-driven: the connection
// watches fd() with its EventLoop and calls ReadInto / WriteFrom when the
// readiness a previous call asked for (Transfer::resume_on) arrives; neither
// call ever blocks. One stream per connection, owned by it; loop thread
// only. Destroying the stream closes the connection's fd.
//
// A wrapper (TLS later; KJ's wrapServer / wrapClient) implements this
// interface over another stream and keeps the protocol above unaware of it.
// The contract every implementation keeps:
//  - ReadInto appends plaintext application bytes only, and reports
//    would-block (bytes == 0, !eof) when it moved none, including when it
//    consumed bytes of its own (handshake, records not yet complete). It
//    reports eof only for the peer's orderly end of the stream (for TLS, a
//    close_notify); a truncation is an error.
//  - WriteFrom consumes from `buffer` exactly the bytes that left for the
//    peer (for TLS: the plaintext whose records were written whole); what
//    it could not send stays in `buffer`, possibly moved, for the retry. It
//    keeps nothing of the caller's for later: once `buffer` is empty the
//    connection calls it no more. When it cannot take every byte it says
//    in resume_on what it is waiting for: a TLS stream in its handshake
//    answers kReadable if it must read the peer's reply first. The
//    connection then retries the write when that readiness arrives,
//    whether or not it is reading at the time (backpressure), so a write
//    that waits on readable cannot deadlock.
//  - A read may likewise need to write (a handshake reply, a key update):
//    it flushes what it can itself, and if that blocks answers would-block
//    with resume_on kWritable.
//  - Before the first application byte (a handshake), both calls simply
//    report would-block with the readiness they need; the connection never
//    knows a handshake happened.
//  - The fd is the one the connection watches and never changes; errors are
//    absl::Status values (no exceptions); nothing here may call back into
//    the connection.
class ByteStream {
 public:
  virtual ~ByteStream() = default;

  // The fd whose readiness drives this stream. Not an invitation to do I/O
  // on it: only the stream reads and writes it.
  virtual int fd() const = 0;

  // One non-blocking read of what is available, appended to `buffer`.
  virtual absl::StatusOr<Transfer> ReadInto(Buffer* buffer) = 0;

  // One non-blocking write of `buffer`'s readable bytes; consumes what was
  // taken.
  virtual absl::StatusOr<Transfer> WriteFrom(Buffer* buffer) = 0;

  // Ends our direction after what WriteFrom has taken (FIN; for TLS,
  // close_notify first). Called at most once, when the connection has no
  // output left. Best effort: a peer that is gone is reported by the next
  // read.
  virtual void ShutdownWrite() = 0;

  // Why the fd reported an error (EPOLLERR). Never OK.
  virtual absl::Status PendingError() = 0;

  // The subject of the peer's verified certificate, RFC 2253 form as
  // OpenSSL's XN_FLAG_RFC2253 prints it and gRPC's "x509_subject" auth
  // property holds it ("CN=alice,O=dualrpc"), on a TLS stream whose peer
  // presented one (mTLS); empty otherwise.
  virtual std::string PeerCertificateSubject() const { return {}; }
};

// A plain TCP socket as a ByteStream: one readv / send / shutdown per call,
// through socket_ops. Owns the socket.
class PlainTcpStream final : public ByteStream {
 public:
  explicit PlainTcpStream(base::ScopedFd socket);

  int fd() const override { return socket_.get(); }
  absl::StatusOr<Transfer> ReadInto(Buffer* buffer) override;
  absl::StatusOr<Transfer> WriteFrom(Buffer* buffer) override;
  void ShutdownWrite() override;
  absl::Status PendingError() override;

 private:
  const base::ScopedFd socket_;
};

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_BYTE_STREAM_H_
