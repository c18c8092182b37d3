#ifndef DUALRPC_GRPC_TLS_CREDENTIALS_H_
#define DUALRPC_GRPC_TLS_CREDENTIALS_H_

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

struct grpc_server_credentials;
struct grpc_ssl_server_certificate_config;

// TLS for the gRPC transport, from grpc++'s and gRPC core's public
// credential APIs.

namespace dualrpc::grpc {

// The server's certificates (--tls_cert, --tls_key, --tls_client_ca).
//
// No TLS version floor: gRPC 1.51's server credentials accept TLS 1.2 and
// 1.3, and the version range of its SSL server credentials is ignored once
// certificates come from a fetcher (what makes Reload possible; the range
// has no public setter at all). --tls_min_version 1.3 cannot be honoured on
// the gRPC port; server/main.cc says so at start.
struct GrpcServerTlsOptions {
  // PEM certificate chain (leaf first) and its private key.
  std::string cert_file;
  std::string key_file;
  // PEM CA bundle; non-empty means mTLS: a client must present a
  // certificate that verifies against it, or its handshake fails.
  std::string client_ca_file;
};

// grpc++ server credentials (TLS, ALPN h2) whose certificate and key can be
// replaced while the server runs. gRPC core asks this object for its
// certificates at the start of every TLS handshake (its
// certificate-config fetcher), so a Reload applies to the next connection
// accepted after it returns, with no delay; connections already
// established keep the certificate they were made with.
//
// Lifetime: a grpc::Server it was given to must be destroyed first (gRPC
// core calls back into this object from its handshakes).
// Thread-safe.
class ReloadableServerCredentials final : public ::grpc::ServerCredentials {
 public:
  // Reads and checks the files (a certificate chain, a key that matches its
  // leaf, a CA bundle if mTLS). INVALID_ARGUMENT naming the file and the
  // reason on any failure.
  static absl::StatusOr<std::shared_ptr<ReloadableServerCredentials>> Create(
      GrpcServerTlsOptions options);

  ~ReloadableServerCredentials() override;

  // Re-reads the files named at Create. On failure nothing changes (the
  // server keeps presenting what it had) and the error names the file.
  absl::Status Reload();

  // Token-based auth on grpc++'s AuthMetadataProcessor is not used by
  // dualrpc (auth is a registry interceptor, the same on both transports):
  // a processor given here is ignored.
  void SetAuthMetadataProcessor(
      const std::shared_ptr<::grpc::AuthMetadataProcessor>& processor) override;

 private:
  struct Material {
    std::string cert_chain_pem;
    std::string private_key_pem;
    std::string client_ca_pem;  // empty without mTLS
  };

  explicit ReloadableServerCredentials(GrpcServerTlsOptions options);

  static absl::StatusOr<Material> ReadMaterial(
      const GrpcServerTlsOptions& options);
  // gRPC core's grpc_ssl_server_certificate_config_callback.
  static grpc_ssl_certificate_config_reload_status FetchConfig(
      void* self, grpc_ssl_server_certificate_config** config);

  int AddPortToServer(const std::string& addr, grpc_server* server) override;

  const GrpcServerTlsOptions options_;
  grpc_server_credentials* c_credentials_ = nullptr;  // owned
  absl::Mutex mu_;
  Material material_ ABSL_GUARDED_BY(mu_);
  // Bumped by every successful Reload; gRPC core has fetched
  // `fetched_generation_`.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t fetched_generation_ ABSL_GUARDED_BY(mu_) = 0;
};

// What a grpcs:// channel trusts and presents (client/channel_factory.h's
// TlsChannelOptions).
struct GrpcChannelTlsOptions {
  // PEM CA bundle the server's certificate must verify against; empty: the
  // system's trust store (OpenSSL's default paths).
  std::string ca_file;
  // PEM client certificate and key (mTLS); both or neither.
  std::string cert_file;
  std::string key_file;
  // Accept any server certificate (grpcurl's -insecure); still encrypted.
  bool insecure_skip_verify = false;
  // The name the server's certificate must match, and the SNI sent, instead
  // of the channel's authority (GRPC_SSL_TARGET_NAME_OVERRIDE_ARG; the
  // channel sets it). Unused here.
  std::string server_name;
};

// Channel credentials for GrpcChannelTlsOptions. The server's certificate
// is verified by dualrpc (OpenSSL's X509_verify_cert against the CA bundle
// and the name the channel checks: server_name, else the :authority's
// host), so that a refused certificate fails the calls with UNAVAILABLE and
// a message that says why, in the raw transport's words (net/tls.h):
//   "TLS handshake failed: server certificate is not trusted (...)"
//   "TLS handshake failed: server certificate has expired"
//   "TLS handshake failed: server certificate does not match host \"H\""
// INVALID_ARGUMENT naming the file if a file cannot be read or parsed, or a
// certificate comes without its key.
absl::StatusOr<std::shared_ptr<::grpc::ChannelCredentials>>
MakeChannelCredentials(const GrpcChannelTlsOptions& options);

// A failed call's status with what gRPC 1.51's connection errors leave
// unsaid: UNAVAILABLE calls whose message shows OpenSSL's "wrong version
// number" (a TLS client answered in plaintext) or a connection the server
// closed or whose first read failed (what a plaintext client on a TLS port,
// or a TLS client without the certificate an mTLS server requires, gets:
// grpc++ closes, dualrpc's shared port sends an alert) have a hint appended,
// phrased as the likely cause, not a certainty. Any other status is
// returned as it is. `tls`: the channel is grpcs://.
absl::Status ExplainConnectionFailure(absl::Status status, bool tls);

}  // namespace dualrpc::grpc

#endif  // DUALRPC_GRPC_TLS_CREDENTIALS_H_
