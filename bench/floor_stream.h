#ifndef DUALRPC_BENCH_FLOOR_STREAM_H_
#define DUALRPC_BENCH_FLOOR_STREAM_H_

// The floor's byte I/O, plaintext or TLS. TLS is OpenSSL's own non-blocking
// SSL_read / SSL_write on the floor's sockets and epoll loops, nothing
// else: no framework, no copy beyond OpenSSL's records. That keeps the TLS
// floor what the plaintext one is, the least an RPC over this transport
// must cost (docs/BENCHMARKS.md). The handshake is done blocking before the
// socket goes to its loop: it is never inside a measurement.

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dualrpc/base/scoped_fd.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace dualrpc::bench {

// Longest a floor TLS handshake may block its thread.
inline constexpr absl::Duration kFloorHandshakeTimeout = absl::Seconds(10);

// An SSL_CTX, shared by the streams made from it. Thread-safe.
class FloorTlsContext {
 public:
  // The server side: a PEM certificate chain and its key. TLS 1.3 only, no
  // session tickets (nothing is resumed). INVALID_ARGUMENT naming the file.
  static absl::StatusOr<std::shared_ptr<FloorTlsContext>> Server(
      const std::string& cert_file, const std::string& key_file);
  // The client side: trusts `ca_file` and checks the server's certificate
  // for `host` (an IP literal is matched against its IP SANs).
  static absl::StatusOr<std::shared_ptr<FloorTlsContext>> Client(
      const std::string& ca_file, const std::string& host);

  ~FloorTlsContext();
  FloorTlsContext(const FloorTlsContext&) = delete;
  FloorTlsContext& operator=(const FloorTlsContext&) = delete;

  SSL_CTX* get() const { return ctx_; }
  bool is_server() const { return server_; }
  const std::string& host() const { return host_; }

 private:
  FloorTlsContext(SSL_CTX* ctx, bool server, std::string host)
      : ctx_(ctx), server_(server), host_(std::move(host)) {}

  SSL_CTX* const ctx_;
  const bool server_;
  const std::string host_;
};

// One connected socket, owned. Used by one thread at a time.
class FloorStream {
 public:
  // What Read and Write return besides a byte count.
  static constexpr ssize_t kWouldBlock = -1;
  static constexpr ssize_t kBroken = -2;

  // Plaintext over `fd`: read(2) and send(2) exactly as before TLS.
  explicit FloorStream(base::ScopedFd fd);
  ~FloorStream();
  FloorStream(const FloorStream&) = delete;
  FloorStream& operator=(const FloorStream&) = delete;

  // TLS over `fd`: handshakes as `context`'s side, blocking (the socket's
  // O_NONBLOCK is cleared for it and set again after), bounded by
  // kFloorHandshakeTimeout. UNAVAILABLE with OpenSSL's reason on failure.
  static absl::StatusOr<std::unique_ptr<FloorStream>> Handshake(
      base::ScopedFd fd, const FloorTlsContext& context);

  int fd() const { return fd_.get(); }

  // Bytes read (> 0), 0 at the peer's orderly end, kWouldBlock or kBroken.
  ssize_t Read(char* data, std::size_t size);
  // Bytes taken (> 0), kWouldBlock or kBroken. Over TLS, a write that
  // would block must be retried with at least the same bytes (they may have
  // moved): OpenSSL keeps the record it started.
  ssize_t Write(const char* data, std::size_t size);
  // True if bytes may be buffered inside the stream past what the socket
  // reports readable (TLS records decrypted ahead): read until kWouldBlock.
  bool buffers_input() const { return ssl_ != nullptr; }
  // After a Read that returned `n` of `space` bytes: true if nothing is left
  // to read without waiting for the socket (plaintext: a short read; TLS:
  // nothing left in OpenSSL's read-ahead buffer), so the caller can stop
  // without the read that would only say kWouldBlock.
  bool Drained(std::size_t n, std::size_t space) const;

 private:
  FloorStream(base::ScopedFd fd, SSL* ssl) : fd_(std::move(fd)), ssl_(ssl) {}

  base::ScopedFd fd_;
  SSL* ssl_ = nullptr;
};

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_FLOOR_STREAM_H_
