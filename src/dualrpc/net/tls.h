#ifndef DUALRPC_NET_TLS_H_
#define DUALRPC_NET_TLS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/byte_stream.h"

// TLS as a ByteStream (OpenSSL 3), after KJ's TlsContext::wrapServer /
// wrapClient: a protocol above runs unchanged over it. Nothing here knows a
// protocol; ALPN ids are data. The handshake happens inside ReadInto /
// WriteFrom on the connection's loop thread, non-blocking, with no thread of
// its own; a stream reports would-block (with the readiness it needs) until
// it completes, so the connection above never sees it (byte_stream.h).
//
// Time limits and caps on handshakes in progress are the owner's business
// (the raw server, the shared port): a TlsStream only reports, through
// handshake_complete(), whether its handshake is done.

namespace dualrpc::net {

enum class TlsVersion { kTls12, kTls13 };

// The server side's certificates and policy: --tls_cert, --tls_key,
// --tls_client_ca, --tls_min_version.
struct TlsServerOptions {
  // PEM files: the certificate chain (leaf first) and its private key.
  std::string cert_file;
  std::string key_file;
  // PEM CA bundle; non-empty means mTLS: a client must present a
  // certificate that verifies against it, or the handshake fails.
  std::string client_ca_file;
  TlsVersion min_version = TlsVersion::kTls13;
  // ALPN ids the server accepts, in its order of preference (for the raw
  // port: {"dualrpc/1"}; for the shared port: {"h2", "dualrpc/1"}). A client
  // that offers ALPN and none of these fails the handshake
  // (no_application_protocol); a client that offers no ALPN is accepted and
  // negotiated_protocol() is empty.
  std::vector<std::string> alpn_protocols;
};

// The certificates the server presents: one SSL_CTX, replaced whole by
// Reload. Thread-safe: streams made after a Reload use the new certificate
// and key; streams already made keep theirs.
class TlsServerContext {
 public:
  // Loads and checks the files (the key must match the certificate).
  // INVALID_ARGUMENT naming the file and OpenSSL's reason on any failure.
  static absl::StatusOr<std::shared_ptr<TlsServerContext>> Create(
      TlsServerOptions options);

  virtual ~TlsServerContext() = default;

  // Re-reads the files given to Create (SIGHUP). On failure the context
  // keeps serving what it had and the error says why.
  virtual absl::Status Reload() = 0;

  // A server-side TLS stream over an accepted, non-blocking socket (owned
  // from here on). The handshake starts with the first ReadInto.
  virtual std::unique_ptr<class TlsStream> WrapServer(
      base::ScopedFd socket) = 0;
};

// The client side: what to trust and what to present.
struct TlsClientOptions {
  // PEM CA bundle the server's certificate must verify against; empty means
  // the system's default trust store.
  std::string ca_file;
  // PEM client certificate and key for mTLS; both or neither.
  std::string cert_file;
  std::string key_file;
  // Skip verification of the server's certificate entirely (grpcurl's
  // -insecure). The connection is still encrypted.
  bool insecure_skip_verify = false;
  // The name the server's certificate must match (and SNI), instead of the
  // target's host (grpcurl's -servername). An IP literal is matched against
  // the certificate's IP SANs.
  std::string server_name;
  // ALPN ids offered, in order ({"dualrpc/1"} for raws://).
  std::vector<std::string> alpn_protocols;
};

class TlsClientContext {
 public:
  // INVALID_ARGUMENT naming the file on a file that cannot be read or
  // parsed, or a certificate without its key.
  static absl::StatusOr<std::shared_ptr<TlsClientContext>> Create(
      TlsClientOptions options);

  virtual ~TlsClientContext() = default;

  // A client-side TLS stream over a connected (or connecting), non-blocking
  // socket, owned from here on. `host` is the target's host, checked
  // against the certificate unless options name server_name or skip
  // verification. The handshake starts with the first WriteFrom or
  // ReadInto.
  virtual std::unique_ptr<class TlsStream> WrapClient(base::ScopedFd socket,
                                                      std::string host) = 0;
};

// One TLS connection. Loop thread only, like every ByteStream.
//
// Errors: a failed handshake is an error Status from ReadInto/WriteFrom,
// UNAVAILABLE, whose message says which failure it was in words a user can
// act on, with OpenSSL's reason after it, e.g.
//   "TLS handshake failed: server certificate is not trusted (unable to get
//    local issuer certificate)"
//   "TLS handshake failed: server certificate has expired"
//   "TLS handshake failed: server certificate does not match host
//    \"localhost\""
//   "TLS handshake failed: the peer did not speak TLS (plaintext on a TLS
//    port?)"
//   "TLS handshake failed: client certificate required"
// A peer that closes without close_notify after the handshake is an error
// (truncation), not eof.
class TlsStream : public ByteStream {
 public:
  // True once the handshake finished on both sides.
  virtual bool handshake_complete() const = 0;
  // The ALPN id agreed on; empty before the handshake or without ALPN.
  virtual std::string negotiated_protocol() const = 0;
  // Advances the handshake without reading application data, for an owner
  // that must see the ALPN id before it picks the protocol above (the
  // shared port). true: complete (application bytes the peer sent with its
  // last flight stay inside the stream for the first ReadInto); false: it
  // waits for `*resume_on`; an error Status as for ReadInto.
  virtual absl::StatusOr<bool> ContinueHandshake(Readiness* resume_on) = 0;
};

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_TLS_H_
