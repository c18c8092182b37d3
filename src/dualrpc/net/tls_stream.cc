#include "dualrpc/net/tls_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "dualrpc/net/socket_ops.h"

namespace dualrpc::net {

// What our BIO knows of the socket: the fd (not owned), whether recv saw the
// end of the stream, and the errno of the last failed syscall.
struct OpensslTlsStream::SocketBio {
  int fd;
  bool eof = false;
  int last_errno = 0;
  // The last recv returned less than asked (or nothing): the socket had no
  // more at that moment.
  bool drained = false;
};

namespace {

using SocketBio = OpensslTlsStream::SocketBio;

int BioWrite(BIO* bio, const char* data, std::size_t size,
             std::size_t* written) {
  auto* socket = static_cast<SocketBio*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::send(socket->fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n >= 0) {
    *written = static_cast<std::size_t>(n);
    return 1;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    BIO_set_retry_write(bio);
  } else {
    socket->last_errno = errno;
  }
  return 0;
}

int BioRead(BIO* bio, char* data, std::size_t size, std::size_t* read) {
  auto* socket = static_cast<SocketBio*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::recv(socket->fd, data, size, MSG_DONTWAIT);
  socket->drained = n < static_cast<ssize_t>(size);
  if (n > 0) {
    *read = static_cast<std::size_t>(n);
    return 1;
  }
  if (n == 0) {
    socket->eof = true;
  } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    BIO_set_retry_read(bio);
  } else {
    socket->last_errno = errno;
  }
  return 0;
}

long BioCtrl(BIO* bio, int command, long /*number*/, void* /*pointer*/) {
  auto* socket = static_cast<SocketBio*>(BIO_get_data(bio));
  switch (command) {
    case BIO_CTRL_FLUSH:
      return 1;  // Nothing is buffered here.
    case BIO_CTRL_EOF:
      return socket != nullptr && socket->eof ? 1 : 0;
    default:
      return 0;
  }
}

int BioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

// Made once, never freed (OpenSSL's own methods are static too); immutable
// after it is made, so shared by every thread.
const BIO_METHOD* SocketBioMethod() {
  static const BIO_METHOD* const method = [] {
    BIO_METHOD* made = BIO_meth_new(
        BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
        "dualrpc socket");
    BIO_meth_set_write_ex(made, BioWrite);
    BIO_meth_set_read_ex(made, BioRead);
    BIO_meth_set_ctrl(made, BioCtrl);
    BIO_meth_set_create(made, BioCreate);
    return made;
  }();
  return method;
}

// The reason of the first error in the queue (the one that started the
// failure), then the queue emptied.
struct QueuedError {
  int library = 0;
  int reason = 0;
  std::string text;
};

QueuedError DrainErrorQueue() {
  QueuedError first;
  const unsigned long code = ERR_peek_error();
  if (code != 0) {
    first.library = ERR_GET_LIB(code);
    first.reason = ERR_GET_REASON(code);
    const char* text = ERR_reason_error_string(code);
    first.text = text != nullptr ? text : absl::StrCat("error ", code);
  }
  ERR_clear_error();
  return first;
}

// The words for a failed verification of the peer's certificate (`whose`:
// "server" or "client").
std::string VerifyFailure(long result, const char* whose,
                          const std::string& peer_name) {
  const std::string reason = X509_verify_cert_error_string(result);
  switch (result) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return absl::StrCat(whose, " certificate has expired (", reason, ")");
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return absl::StrCat(whose, " certificate is not yet valid (", reason,
                          ")");
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return absl::StrCat(whose, " certificate does not match host \"",
                          peer_name, "\" (", reason, ")");
    default:
      return absl::StrCat(whose, " certificate is not trusted (", reason, ")");
  }
}

// The words for a handshake (or record) failure the error queue names; empty
// when it is none of those a user can act on.
std::string KnownFailure(const QueuedError& error,
                         OpensslTlsStream::Role role) {
  if (error.library != ERR_LIB_SSL) return "";
  const bool client = role == OpensslTlsStream::Role::kClient;
  switch (error.reason) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_RECORD_LENGTH_MISMATCH:
      return "the peer did not speak TLS (plaintext on a TLS port?)";
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return "client certificate required";
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
      return client ? "the server rejected the client certificate"
                    : "the client rejected the server certificate";
    case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
      return "the peer accepts none of the offered application protocols "
             "(ALPN)";
    case SSL_R_NO_APPLICATION_PROTOCOL:
      return "the client offered none of the application protocols this "
             "port serves (ALPN)";
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
      return "no TLS version both sides accept";
    default:
      return "";
  }
}

}  // namespace

OpensslTlsStream::OpensslTlsStream(ssl_st* ssl, base::ScopedFd socket,
                                   Role role, std::string peer_name,
                                   std::shared_ptr<const void> keep_alive,
                                   absl::Status unusable)
    : socket_(std::move(socket)),
      role_(role),
      peer_name_(std::move(peer_name)),
      keep_alive_(std::move(keep_alive)),
      socket_bio_(std::make_unique<SocketBio>(SocketBio{socket_.get()})),
      ssl_(ssl) {
  BIO* bio = ssl_ != nullptr ? BIO_new(SocketBioMethod()) : nullptr;
  if (bio == nullptr) {
    DrainErrorQueue();
    failure_ = std::move(unusable);
    return;
  }
  BIO_set_data(bio, socket_bio_.get());
  SSL_set_bio(ssl_, bio, bio);  // One reference, for both directions.
  if (role_ == Role::kClient) {
    SSL_set_connect_state(ssl_);
  } else {
    SSL_set_accept_state(ssl_);
  }
}

OpensslTlsStream::~OpensslTlsStream() {
  if (ssl_ != nullptr) SSL_free(ssl_);  // Frees the BIO, not the fd.
  ERR_clear_error();
}

absl::Status OpensslTlsStream::Fail(int ssl_error) {
  const QueuedError queued = DrainErrorQueue();
  const std::string prefix =
      handshake_complete_ ? "TLS error: " : "TLS handshake failed: ";
  std::string words;
  const long verify = SSL_get_verify_result(ssl_);
  const bool verify_failed =
      queued.library == ERR_LIB_SSL &&
      queued.reason == SSL_R_CERTIFICATE_VERIFY_FAILED && verify != X509_V_OK;
  if (verify_failed) {
    words = VerifyFailure(verify, role_ == Role::kClient ? "server" : "client",
                          peer_name_);
  } else if (std::string known = KnownFailure(queued, role_); !known.empty()) {
    // A rejected client certificate reaches a TLS 1.3 client after its
    // side of the handshake is done: it is still the handshake's failure.
    words = absl::StrCat(
        handshake_complete_ && role_ == Role::kClient ? "TLS handshake failed: "
                                                      : prefix,
        known, " (", queued.text, ")");
    failure_ = absl::UnavailableError(words);
    return failure_;
  } else if ((queued.library == ERR_LIB_SSL &&
              queued.reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) ||
             socket_bio_->eof || ssl_error == SSL_ERROR_SYSCALL) {
    const int socket_errno = socket_bio_->last_errno;
    words = absl::StrCat(
        handshake_complete_
            ? "the peer closed the connection without close_notify "
              "(truncated)"
            : "the peer closed the connection during the handshake "
              "(not a TLS port?)",
        socket_errno != 0 ? absl::StrCat(" (", std::strerror(socket_errno),
                                         ")")
                          : "");
  } else {
    words = queued.text.empty() ? absl::StrCat("SSL error ", ssl_error)
                                : queued.text;
  }
  failure_ = absl::UnavailableError(absl::StrCat(prefix, words));
  return failure_;
}

absl::StatusOr<bool> OpensslTlsStream::Linger(Readiness* resume_on) {
  char dropped[4096];
  for (;;) {
    const ssize_t n =
        ::recv(socket_.get(), dropped, sizeof dropped, MSG_DONTWAIT);
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      *resume_on = Readiness::kReadable;
      return false;
    }
    lingering_ = false;
    return failure_;
  }
}

absl::StatusOr<bool> OpensslTlsStream::Handshake(Readiness* resume_on) {
  if (lingering_) return Linger(resume_on);
  if (!failure_.ok()) return failure_;
  if (handshake_complete_) return true;
  ERR_clear_error();
  const int result = SSL_do_handshake(ssl_);
  if (result == 1) {
    handshake_complete_ = true;
    // From now on one recv takes whatever records have arrived, instead of
    // one recv for a record's header and one for its body. Not during the
    // handshake: application bytes read ahead with its last flight would
    // sit in OpenSSL's buffer with no readiness to announce them (a shared
    // port hands the stream over right then). ReadInto never returns with
    // records left in that buffer, so the level-triggered loop misses none.
    SSL_set_read_ahead(ssl_, 1);
    const unsigned char* alpn = nullptr;
    unsigned int alpn_size = 0;
    SSL_get0_alpn_selected(ssl_, &alpn, &alpn_size);
    alpn_.assign(reinterpret_cast<const char*>(alpn), alpn_size);
    X509* peer = SSL_get0_peer_certificate(ssl_);
    if (peer != nullptr && SSL_get_verify_result(ssl_) == X509_V_OK) {
      BIO* text = BIO_new(BIO_s_mem());
      if (text != nullptr &&
          X509_NAME_print_ex(text, X509_get_subject_name(peer), 0,
                             XN_FLAG_RFC2253) >= 0) {
        char* data = nullptr;
        const long size = BIO_get_mem_data(text, &data);
        peer_subject_.assign(data, static_cast<std::size_t>(size));
      }
      BIO_free(text);
    }
    ERR_clear_error();
    return true;
  }
  const int error = SSL_get_error(ssl_, result);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    *resume_on = error == SSL_ERROR_WANT_READ ? Readiness::kReadable
                                              : Readiness::kWritable;
    return false;
  }
  absl::Status failed = Fail(error);
  if (role_ != Role::kServer || socket_bio_->eof) return failed;
  lingering_ = true;
  write_shut_down_ = true;
  net::ShutdownWrite(socket_.get());  // After the alert OpenSSL wrote.
  return Linger(resume_on);
}

absl::StatusOr<bool> OpensslTlsStream::ContinueHandshake(
    Readiness* resume_on) {
  return Handshake(resume_on);
}

absl::StatusOr<Transfer> OpensslTlsStream::ReadInto(Buffer* buffer) {
  Readiness resume_on = Readiness::kReadable;
  absl::StatusOr<bool> done = Handshake(&resume_on);
  if (!done.ok()) return done.status();
  if (!*done) return Transfer{0, false, resume_on};
  std::size_t total = 0;
  for (;;) {
    // One full record's plaintext at least, so that a record never waits
    // half-read for a bigger buffer.
    constexpr std::size_t kChunk = 16 * 1024;
    buffer->EnsureWritable(kChunk);
    std::size_t read = 0;
    ERR_clear_error();
    const int result = SSL_read_ex(
        ssl_, buffer->BeginWrite(),
        std::min<std::size_t>(buffer->writable_bytes(), INT_MAX), &read);
    if (result == 1) {
      buffer->HasWritten(read);
      total += read;
      // Stop once nothing is left in OpenSSL's buffer (read-ahead leaves
      // records it has not decrypted there: returning with some would lose
      // them, since no readiness announces them) and either the socket had
      // no more at the last recv (so the recv that would only say EAGAIN is
      // saved; the level-triggered loop calls again when more arrives) or
      // this call has read its share.
      if (!SSL_has_pending(ssl_) &&
          (socket_bio_->drained || total >= kMaxReadBytesPerCall)) {
        return Transfer{total, false};
      }
      continue;
    }
    const int error = SSL_get_error(ssl_, result);
    switch (error) {
      case SSL_ERROR_WANT_READ:
        ERR_clear_error();
        return Transfer{total, false, Readiness::kReadable};
      case SSL_ERROR_WANT_WRITE:
        ERR_clear_error();
        return Transfer{total, false, Readiness::kWritable};
      case SSL_ERROR_ZERO_RETURN:
        // close_notify. Bytes before it first: the next read, woken by the
        // FIN that follows, reports the end again.
        ERR_clear_error();
        return Transfer{total, total == 0};
      default: {
        absl::Status failed = Fail(error);
        if (total > 0) return Transfer{total, false};
        return failed;
      }
    }
  }
}

absl::StatusOr<Transfer> OpensslTlsStream::WriteFrom(Buffer* buffer) {
  Readiness resume_on = Readiness::kReadable;
  absl::StatusOr<bool> done = Handshake(&resume_on);
  if (!done.ok()) return done.status();
  if (!*done) return Transfer{0, false, resume_on};
  std::size_t total = 0;
  while (buffer->readable_bytes() != 0) {
    std::size_t written = 0;
    ERR_clear_error();
    // SSL_MODE_ENABLE_PARTIAL_WRITE: success once whole records of
    // `written` bytes went out; a record that went out only in part is
    // finished by the retry, which offers the same bytes again (possibly
    // moved: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
    const int result = SSL_write_ex(
        ssl_, buffer->Peek(),
        std::min<std::size_t>(buffer->readable_bytes(), INT_MAX), &written);
    if (result == 1) {
      buffer->Retrieve(written);
      total += written;
      continue;
    }
    const int error = SSL_get_error(ssl_, result);
    if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) {
      ERR_clear_error();
      return Transfer{total, false,
                      error == SSL_ERROR_WANT_READ ? Readiness::kReadable
                                                   : Readiness::kWritable};
    }
    return Fail(error);
  }
  return Transfer{total, false, Readiness::kWritable};
}

void OpensslTlsStream::ShutdownWrite() {
  if (write_shut_down_) return;
  write_shut_down_ = true;
  if (ssl_ != nullptr && handshake_complete_ && failure_.ok()) {
    // Sends close_notify; does not wait for the peer's (the connection reads
    // on until the peer's end). Best effort: if the socket is full the
    // notify is lost and the peer sees a truncation.
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
  net::ShutdownWrite(socket_.get());
}

absl::Status OpensslTlsStream::PendingError() {
  return SocketError(socket_.get());
}

}  // namespace dualrpc::net
