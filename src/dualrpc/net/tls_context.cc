// TlsServerContext and TlsClientContext over OpenSSL 3: one SSL_CTX each,
// configured once and then only read (SSL_CTX is safe to share between
// threads that only make SSL objects from it).

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "dualrpc/net/tls.h"
#include "dualrpc/net/tls_stream.h"

namespace dualrpc::net {
namespace {

// OpenSSL's reason for the failure just seen; drains the error queue.
std::string OpensslReason() {
  const unsigned long code = ERR_peek_last_error();
  std::string reason = "unknown OpenSSL error";
  if (code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    reason = text;
  }
  ERR_clear_error();
  return reason;
}

absl::Status FileError(absl::string_view what, const std::string& file) {
  return absl::InvalidArgumentError(
      absl::StrCat("cannot load ", what, " \"", file, "\": ", OpensslReason()));
}

// ALPN ids in the wire format (each prefixed by its length). Ids of 1 to
// 255 bytes only.
absl::StatusOr<std::string> AlpnWireFormat(
    const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& id : protocols) {
    if (id.empty() || id.size() > 255) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad ALPN protocol id \"", id, "\""));
    }
    wire.push_back(static_cast<char>(id.size()));
    wire += id;
  }
  return wire;
}

// One SSL_CTX with what its callbacks point to. Shared by the context (until
// the next Reload) and by every stream made from it.
struct SslContext {
  SSL_CTX* ctx = nullptr;
  std::string alpn_wire;  // Server: the ids it accepts, in preference order.

  ~SslContext() {
    if (ctx != nullptr) SSL_CTX_free(ctx);
  }
};

// Settings both sides share: no renegotiation (TLS 1.2), writes that may
// stop between records and resume from a moved buffer (what
// ByteStream::WriteFrom needs), buffers freed while idle, no session
// tickets or cache (nothing here resumes sessions). Read-ahead is turned
// on per stream once its handshake is done (OpensslTlsStream::Handshake).
void CommonSettings(SSL_CTX* ctx) {
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

int SelectAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_size,
               const unsigned char* offered, unsigned int offered_size,
               void* arg) {
  const auto* accepted = static_cast<const std::string*>(arg);
  unsigned char* chosen = nullptr;
  // Server first: the first of our ids that the client offers.
  if (SSL_select_next_proto(
          &chosen, out_size,
          reinterpret_cast<const unsigned char*>(accepted->data()),
          static_cast<unsigned int>(accepted->size()), offered,
          offered_size) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // no_application_protocol
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

absl::StatusOr<std::shared_ptr<const SslContext>> BuildServerContext(
    const TlsServerOptions& options) {
  ERR_clear_error();
  auto context = std::make_shared<SslContext>();
  context->ctx = SSL_CTX_new(TLS_server_method());
  if (context->ctx == nullptr) {
    return absl::InternalError(
        absl::StrCat("SSL_CTX_new: ", OpensslReason()));
  }
  SSL_CTX* ctx = context->ctx;
  CommonSettings(ctx);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_min_proto_version(ctx, options.min_version == TlsVersion::kTls12
                                         ? TLS1_2_VERSION
                                         : TLS1_3_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) !=
      1) {
    return FileError("TLS certificate chain", options.cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(),
                                  SSL_FILETYPE_PEM) != 1) {
    return FileError("TLS private key", options.key_file);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS private key \"", options.key_file,
        "\" does not match the certificate \"", options.cert_file,
        "\": ", OpensslReason()));
  }
  if (!options.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, options.client_ca_file.c_str(),
                                      nullptr) != 1) {
      return FileError("TLS client CA", options.client_ca_file);
    }
    STACK_OF(X509_NAME)* names =
        SSL_load_client_CA_file(options.client_ca_file.c_str());
    if (names == nullptr) {
      return FileError("TLS client CA", options.client_ca_file);
    }
    SSL_CTX_set_client_CA_list(ctx, names);  // Takes `names`.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       nullptr);
  }
  absl::StatusOr<std::string> alpn = AlpnWireFormat(options.alpn_protocols);
  if (!alpn.ok()) return alpn.status();
  context->alpn_wire = *std::move(alpn);
  if (!context->alpn_wire.empty()) {
    SSL_CTX_set_alpn_select_cb(ctx, SelectAlpn, &context->alpn_wire);
  }
  ERR_clear_error();
  return std::shared_ptr<const SslContext>(std::move(context));
}

class OpensslServerContext final : public TlsServerContext {
 public:
  OpensslServerContext(TlsServerOptions options,
                       std::shared_ptr<const SslContext> context)
      : options_(std::move(options)), context_(std::move(context)) {}

  absl::Status Reload() override {
    absl::StatusOr<std::shared_ptr<const SslContext>> context =
        BuildServerContext(options_);
    if (!context.ok()) return context.status();
    absl::MutexLock lock(&mu_);
    context_ = *std::move(context);
    return absl::OkStatus();
  }

  std::unique_ptr<TlsStream> WrapServer(base::ScopedFd socket) override {
    std::shared_ptr<const SslContext> context;
    {
      absl::MutexLock lock(&mu_);
      context = context_;
    }
    SSL* ssl = SSL_new(context->ctx);
    return std::make_unique<OpensslTlsStream>(
        ssl, std::move(socket), OpensslTlsStream::Role::kServer, "",
        std::move(context));
  }

 private:
  const TlsServerOptions options_;
  absl::Mutex mu_;
  std::shared_ptr<const SslContext> context_ ABSL_GUARDED_BY(mu_);
};

bool IsIpLiteral(const std::string& host) {
  unsigned char address[16];
  return ::inet_pton(AF_INET, host.c_str(), address) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), address) == 1;
}

class OpensslClientContext final : public TlsClientContext {
 public:
  OpensslClientContext(TlsClientOptions options,
                       std::shared_ptr<const SslContext> context)
      : options_(std::move(options)), context_(std::move(context)) {}

  std::unique_ptr<TlsStream> WrapClient(base::ScopedFd socket,
                                        std::string host) override {
    std::string name =
        options_.server_name.empty() ? std::move(host) : options_.server_name;
    if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
      name = name.substr(1, name.size() - 2);
    }
    if (name.empty() && !options_.insecure_skip_verify) {
      // Verifying a certificate without a name would accept any name.
      return std::make_unique<OpensslTlsStream>(
          nullptr, std::move(socket), OpensslTlsStream::Role::kClient, "",
          context_,
          absl::InvalidArgumentError(
              "TLS needs a host name to verify the server certificate "
              "against (set the server name, or skip verification)"));
    }
    ERR_clear_error();
    SSL* ssl = SSL_new(context_->ctx);
    if (ssl != nullptr) {
      const bool ip = IsIpLiteral(name);
      // SNI carries host names only (RFC 6066), never an address.
      if (!ip && !name.empty()) SSL_set_tlsext_host_name(ssl, name.c_str());
      if (!options_.insecure_skip_verify) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param,
                                        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (ip) {
          X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
        } else {
          X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
        }
      }
      ERR_clear_error();
    }
    return std::make_unique<OpensslTlsStream>(
        ssl, std::move(socket), OpensslTlsStream::Role::kClient,
        std::move(name), context_);
  }

 private:
  const TlsClientOptions options_;
  const std::shared_ptr<const SslContext> context_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<TlsServerContext>> TlsServerContext::Create(
    TlsServerOptions options) {
  if (options.cert_file.empty() || options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a TLS server needs a certificate and its key");
  }
  absl::StatusOr<std::shared_ptr<const SslContext>> context =
      BuildServerContext(options);
  if (!context.ok()) return context.status();
  return std::make_shared<OpensslServerContext>(std::move(options),
                                                *std::move(context));
}

absl::StatusOr<std::shared_ptr<TlsClientContext>> TlsClientContext::Create(
    TlsClientOptions options) {
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a TLS client certificate needs its key, and a key its certificate");
  }
  ERR_clear_error();
  auto context = std::make_shared<SslContext>();
  context->ctx = SSL_CTX_new(TLS_client_method());
  if (context->ctx == nullptr) {
    return absl::InternalError(absl::StrCat("SSL_CTX_new: ", OpensslReason()));
  }
  SSL_CTX* ctx = context->ctx;
  CommonSettings(ctx);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (!options.insecure_skip_verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (options.ca_file.empty()) {
      SSL_CTX_set_default_verify_paths(ctx);
    } else if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(),
                                             nullptr) != 1) {
      return FileError("TLS CA", options.ca_file);
    }
  }
  if (!options.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) !=
        1) {
      return FileError("TLS client certificate", options.cert_file);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(),
                                    SSL_FILETYPE_PEM) != 1) {
      return FileError("TLS client key", options.key_file);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "TLS client key \"", options.key_file,
          "\" does not match the certificate \"", options.cert_file, "\": ",
          OpensslReason()));
    }
  }
  absl::StatusOr<std::string> alpn = AlpnWireFormat(options.alpn_protocols);
  if (!alpn.ok()) return alpn.status();
  // Returns 0 on success, unlike the rest of OpenSSL.
  if (!alpn->empty() &&
      SSL_CTX_set_alpn_protos(ctx,
                              reinterpret_cast<const unsigned char*>(
                                  alpn->data()),
                              static_cast<unsigned int>(alpn->size())) != 0) {
    return absl::InternalError(
        absl::StrCat("SSL_CTX_set_alpn_protos: ", OpensslReason()));
  }
  ERR_clear_error();
  return std::make_shared<OpensslClientContext>(
      std::move(options), std::shared_ptr<const SslContext>(std::move(context)));
}

}  // namespace dualrpc::net
