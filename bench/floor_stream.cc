#include "floor_stream.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace dualrpc::bench {
namespace {

// OpenSSL's queued reason, drained so that nothing is left for the next
// call on this thread.
std::string TakeOpensslError() {
  std::string reason;
  for (unsigned long error = ERR_get_error(); error != 0;
       error = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(error, text, sizeof text);
    if (!reason.empty()) reason += "; ";
    reason += text;
  }
  return reason.empty() ? "no OpenSSL reason" : reason;
}

bool SetNonBlocking(int fd, bool non_blocking) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return false;
  return ::fcntl(fd, F_SETFL,
                 non_blocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) == 0;
}

// Bounds the blocking handshake's reads and writes.
void SetIoTimeout(int fd, absl::Duration timeout) {
  timeval tv = absl::ToTimeval(timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

absl::StatusOr<std::shared_ptr<FloorTlsContext>> FloorTlsContext::Server(
    const std::string& cert_file, const std::string& key_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return absl::InternalError(TakeOpensslError());
  std::shared_ptr<FloorTlsContext> context(
      new FloorTlsContext(ctx, /*server=*/true, ""));
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(cert_file, ": ", TakeOpensslError()));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) !=
          1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_file, ": ", TakeOpensslError()));
  }
  return context;
}

absl::StatusOr<std::shared_ptr<FloorTlsContext>> FloorTlsContext::Client(
    const std::string& ca_file, const std::string& host) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return absl::InternalError(TakeOpensslError());
  std::shared_ptr<FloorTlsContext> context(
      new FloorTlsContext(ctx, /*server=*/false, host));
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(ca_file, ": ", TakeOpensslError()));
  }
  return context;
}

FloorTlsContext::~FloorTlsContext() { SSL_CTX_free(ctx_); }

FloorStream::FloorStream(base::ScopedFd fd) : fd_(std::move(fd)) {}

FloorStream::~FloorStream() {
  // No close_notify: the floor's connections end with the run, and the peer
  // treats any end as the end.
  SSL_free(ssl_);
}

absl::StatusOr<std::unique_ptr<FloorStream>> FloorStream::Handshake(
    base::ScopedFd fd, const FloorTlsContext& context) {
  SSL* ssl = SSL_new(context.get());
  if (ssl == nullptr) return absl::InternalError(TakeOpensslError());
  std::unique_ptr<FloorStream> stream(new FloorStream(std::move(fd), ssl));
  const int socket = stream->fd();
  if (SSL_set_fd(ssl, socket) != 1)
    return absl::InternalError(TakeOpensslError());
  if (!context.is_server()) {
    const std::string& host = context.host();
    in6_addr ip;
    const bool literal = ::inet_pton(AF_INET, host.c_str(), &ip) == 1 ||
                         ::inet_pton(AF_INET6, host.c_str(), &ip) == 1;
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (literal) {
      X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, host.c_str());
      X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    }
  }
  if (!SetNonBlocking(socket, false))
    return absl::InternalError("fcntl O_NONBLOCK");
  SetIoTimeout(socket, kFloorHandshakeTimeout);
  const int done =
      context.is_server() ? SSL_accept(ssl) : SSL_connect(ssl);
  if (done != 1) {
    const long verify = SSL_get_verify_result(ssl);
    std::string reason = TakeOpensslError();
    if (verify != X509_V_OK) {
      reason = absl::StrCat(X509_verify_cert_error_string(verify), "; ", reason);
    }
    return absl::UnavailableError(
        absl::StrCat("floor TLS handshake failed: ", reason));
  }
  SetIoTimeout(socket, absl::ZeroDuration());
  // One read per batch of records from now on; not during the handshake,
  // whose reads could take the first request along with it, where the
  // loop's epoll would never announce it.
  SSL_set_read_ahead(ssl, 1);
  if (!SetNonBlocking(socket, true))
    return absl::InternalError("fcntl O_NONBLOCK");
  return stream;
}

bool FloorStream::Drained(std::size_t n, std::size_t space) const {
  return ssl_ == nullptr ? n < space : SSL_has_pending(ssl_) == 0;
}

ssize_t FloorStream::Read(char* data, std::size_t size) {
  if (ssl_ == nullptr) {
    for (;;) {
      const ssize_t n = ::read(fd_.get(), data, size);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      return errno == EAGAIN ? kWouldBlock : kBroken;
    }
  }
  const int n = SSL_read(ssl_, data, static_cast<int>(size));
  if (n > 0) return n;
  switch (SSL_get_error(ssl_, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return kWouldBlock;
    case SSL_ERROR_ZERO_RETURN:
      return 0;
    default:
      ERR_clear_error();
      return kBroken;
  }
}

ssize_t FloorStream::Write(const char* data, std::size_t size) {
  if (ssl_ == nullptr) {
    for (;;) {
      const ssize_t n = ::send(fd_.get(), data, size, MSG_NOSIGNAL);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      return errno == EAGAIN ? kWouldBlock : kBroken;
    }
  }
  const int n = SSL_write(ssl_, data, static_cast<int>(size));
  if (n > 0) return n;
  switch (SSL_get_error(ssl_, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return kWouldBlock;
    default:
      ERR_clear_error();
      return kBroken;
  }
}

}  // namespace dualrpc::bench
