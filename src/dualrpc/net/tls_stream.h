#ifndef DUALRPC_NET_TLS_STREAM_H_
#define DUALRPC_NET_TLS_STREAM_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/net/tls.h"
#include "dualrpc/net/transfer.h"

// OpenSSL's types, declared as OpenSSL declares them, so that this header
// does not need OpenSSL's (net links OpenSSL privately).
struct ssl_st;
struct bio_st;

namespace dualrpc::net {

// The OpenSSL TlsStream that TlsServerContext::WrapServer and
// TlsClientContext::WrapClient make (tls_context.cc); tests and the
// contexts use it, nothing else needs to name it.
//
// Non-blocking SSL over the socket through a BIO of our own rather than
// SSL_set_fd's socket BIO: its sends use MSG_NOSIGNAL, as every send in
// net does (socket_ops.h), so a peer that resets the connection never
// raises SIGPIPE, and it reports the end of the socket's stream
// (BIO_CTRL_EOF), which is how OpenSSL tells a truncation from a
// close_notify. The socket's fd is the stream's fd(); OpenSSL never owns it.
//
// Every call leaves this thread's OpenSSL error queue empty, so that no
// error of this connection is read as another's.
//
// A server whose handshake fails does not report it at once: it has sent
// its alert, shuts its side down and reads (and drops) what the client still
// sends until the client's end of stream, and only then reports the error.
// Closing at once would reset a connection that still has unread client
// bytes (a TLS 1.3 client sends its first request right after its Finished),
// and the reset can destroy the alert before the client reads it, leaving it
// with "connection reset" instead of "client certificate required". The
// owner's handshake timeout bounds the wait (handshake_complete() stays
// false).
class OpensslTlsStream final : public TlsStream {
 public:
  enum class Role { kClient, kServer };

  // Takes `ssl` (SSL_new'd from a context configured for `role`, with its
  // verification parameters and SNI already set; may be null if SSL_new
  // failed, and then every call fails with `unusable`) and `socket`. `keep_alive` is held
  // for the stream's life (what `ssl`'s callbacks point into). `peer_name`
  // is the name verified against the server's certificate, for messages
  // (client only).
  OpensslTlsStream(ssl_st* ssl, base::ScopedFd socket, Role role,
                   std::string peer_name,
                   std::shared_ptr<const void> keep_alive,
                   absl::Status unusable = absl::ResourceExhaustedError(
                       "cannot make a TLS connection"));
  ~OpensslTlsStream() override;

  OpensslTlsStream(const OpensslTlsStream&) = delete;
  OpensslTlsStream& operator=(const OpensslTlsStream&) = delete;

  // ByteStream.
  int fd() const override { return socket_.get(); }
  absl::StatusOr<Transfer> ReadInto(Buffer* buffer) override;
  absl::StatusOr<Transfer> WriteFrom(Buffer* buffer) override;
  void ShutdownWrite() override;
  absl::Status PendingError() override;
  std::string PeerCertificateSubject() const override {
    return peer_subject_;
  }

  // TlsStream.
  bool handshake_complete() const override { return handshake_complete_; }
  std::string negotiated_protocol() const override { return alpn_; }
  absl::StatusOr<bool> ContinueHandshake(Readiness* resume_on) override;

  // Plaintext bytes after which one ReadInto stops (earlier when the socket
  // has nothing more), so that one fast peer cannot keep the loop in one
  // read. It stops only with OpenSSL's buffer empty (read-ahead, after the
  // handshake), so what is left is in the socket, which stays readable.
  static constexpr std::size_t kMaxReadBytesPerCall = 256 * 1024;

  // The state of the stream's BIO (tls_stream.cc only).
  struct SocketBio;

 private:
  // One step of the handshake: true when it is complete; false with
  // `*resume_on` set when it waits.
  absl::StatusOr<bool> Handshake(Readiness* resume_on);
  // The Status for a failed SSL call (`ssl_error` from SSL_get_error);
  // drains the error queue. Remembered: every later call returns it.
  absl::Status Fail(int ssl_error);
  // While lingering_: drops what arrived; failure_ at the peer's end.
  absl::StatusOr<bool> Linger(Readiness* resume_on);

  const base::ScopedFd socket_;
  const Role role_;
  const std::string peer_name_;
  const std::shared_ptr<const void> keep_alive_;
  std::unique_ptr<SocketBio> socket_bio_;
  ssl_st* ssl_;  // Owned; freed in the destructor.

  bool handshake_complete_ = false;
  std::string alpn_;
  std::string peer_subject_;
  // Set once the connection failed: the error every later call returns.
  // (A read that fails after appending bytes returns the bytes; the next
  // call returns the failure.)
  absl::Status failure_;
  // Server, handshake failed: waiting for the client's end (see above).
  bool lingering_ = false;
  bool write_shut_down_ = false;
};

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_TLS_STREAM_H_
