#include "dualrpc/grpc/tls_credentials.h"

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace dualrpc::grpc {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", what, " ", path));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// OpenSSL's reason for the last failure, emptying its error queue.
std::string OpenSslReason() {
  unsigned long error = ERR_get_error();
  ERR_clear_error();
  if (error == 0) return "no PEM data";
  char text[256];
  ERR_error_string_n(error, text, sizeof(text));
  return text;
}

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* x509) const { X509_free(x509); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct StoreFree {
  void operator()(X509_STORE* store) const { X509_STORE_free(store); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* ctx) const { X509_STORE_CTX_free(ctx); }
};
struct ChainFree {
  void operator()(STACK_OF(X509) * chain) const {
    sk_X509_pop_free(chain, X509_free);
  }
};
using UniqueBio = std::unique_ptr<BIO, BioFree>;
using UniqueX509 = std::unique_ptr<X509, X509Free>;
using UniqueKey = std::unique_ptr<EVP_PKEY, KeyFree>;
using UniqueStore = std::unique_ptr<X509_STORE, StoreFree>;
using UniqueChain = std::unique_ptr<STACK_OF(X509), ChainFree>;

UniqueBio MemoryBio(absl::string_view pem) {
  return UniqueBio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Every certificate in `pem`, in order; empty if there is none.
UniqueChain ParseCertificates(absl::string_view pem) {
  UniqueChain chain(sk_X509_new_null());
  UniqueBio bio = MemoryBio(pem);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(chain.get(), cert);
  }
  ERR_clear_error();  // the end of the data reads as an error
  return chain;
}

// The leaf of `cert_pem` must match `key_pem`.
absl::Status CheckKeyPair(const std::string& cert_file,
                          absl::string_view cert_pem,
                          const std::string& key_file,
                          absl::string_view key_pem) {
  UniqueBio cert_bio = MemoryBio(cert_pem);
  UniqueX509 leaf(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (leaf == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no PEM certificate in ", cert_file, ": ", OpenSslReason()));
  }
  UniqueBio key_bio = MemoryBio(key_pem);
  UniqueKey key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no PEM private key in ", key_file, ": ", OpenSslReason()));
  }
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the key in ", key_file, " does not match the certificate in ",
        cert_file, ": ", OpenSslReason()));
  }
  return absl::OkStatus();
}

// The host part of a gRPC target name ("host", "host:port", "[v6]:port").
std::string HostOf(absl::string_view name) {
  if (!name.empty() && name.front() == '[') {
    absl::string_view::size_type close = name.find(']');
    if (close != absl::string_view::npos) {
      return std::string(name.substr(1, close - 1));
    }
  }
  absl::string_view::size_type colon = name.find(':');
  if (colon != absl::string_view::npos &&
      name.find(':', colon + 1) == absl::string_view::npos) {
    return std::string(name.substr(0, colon));
  }
  return std::string(name);
}

// The server-certificate check of a grpcs:// channel: OpenSSL's chain and
// name verification, with a failure named in words (tls_credentials.h).
// gRPC core calls Verify on its handshake threads; the store is only read.
class ServerCertificateVerifier final
    : public ::grpc::experimental::ExternalCertificateVerifier {
 public:
  // `store` null: accept every certificate (-insecure).
  explicit ServerCertificateVerifier(UniqueStore store)
      : store_(std::move(store)) {}

  bool Verify(::grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(::grpc::Status)> /*callback*/,
              ::grpc::Status* sync_status) override {
    *sync_status = store_ == nullptr ? ::grpc::Status::OK : Check(*request);
    return true;
  }

  void Cancel(
      ::grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  static ::grpc::Status Failed(absl::string_view why) {
    return ::grpc::Status(::grpc::StatusCode::UNAVAILABLE,
                          absl::StrCat("TLS handshake failed: ", why));
  }

  ::grpc::Status Check(
      const ::grpc::experimental::TlsCustomVerificationCheckRequest& request)
      const {
    ::grpc::string_ref full_chain = request.peer_cert_full_chain();
    ::grpc::string_ref leaf_pem = request.peer_cert();
    UniqueChain chain = ParseCertificates(
        absl::string_view(full_chain.data(), full_chain.size()));
    UniqueChain leaf_only =
        ParseCertificates(absl::string_view(leaf_pem.data(), leaf_pem.size()));
    if (sk_X509_num(leaf_only.get()) == 0) {
      return Failed("the server presented no certificate");
    }
    X509* leaf = sk_X509_value(leaf_only.get(), 0);
    const std::string host = HostOf(absl::string_view(
        request.target_name().data(), request.target_name().size()));
    std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
    if (ctx == nullptr ||
        X509_STORE_CTX_init(ctx.get(), store_.get(), leaf, chain.get()) != 1) {
      return Failed(absl::StrCat("cannot verify: ", OpenSslReason()));
    }
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    // An IP literal is matched against the IP SANs, a name against the DNS
    // SANs (X509_VERIFY_PARAM_set1_ip_asc fails on anything but an IP).
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
      ERR_clear_error();
      X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    }
    if (X509_verify_cert(ctx.get()) == 1) return ::grpc::Status::OK;
    const int error = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    switch (error) {
      case X509_V_ERR_CERT_HAS_EXPIRED:
        return Failed("server certificate has expired");
      case X509_V_ERR_CERT_NOT_YET_VALID:
        return Failed("server certificate is not yet valid");
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return Failed(absl::StrCat("server certificate does not match host \"",
                                   host, "\""));
      default:
        return Failed(absl::StrCat("server certificate is not trusted (",
                                   X509_verify_cert_error_string(error), ")"));
    }
  }

  const UniqueStore store_;
};

absl::StatusOr<UniqueStore> TrustStore(const std::string& ca_file) {
  UniqueStore store(X509_STORE_new());
  if (ca_file.empty()) {
    if (X509_STORE_set_default_paths(store.get()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot load the system's trust store: ", OpenSslReason()));
    }
    return store;
  }
  absl::StatusOr<std::string> pem = ReadFile(ca_file, "CA file");
  if (!pem.ok()) return pem.status();
  UniqueChain cas = ParseCertificates(*pem);
  if (sk_X509_num(cas.get()) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("no PEM certificate in CA file ", ca_file));
  }
  for (int i = 0; i < sk_X509_num(cas.get()); ++i) {
    X509_STORE_add_cert(store.get(), sk_X509_value(cas.get(), i));
  }
  return store;
}

}  // namespace

absl::StatusOr<std::shared_ptr<ReloadableServerCredentials>>
ReloadableServerCredentials::Create(GrpcServerTlsOptions options) {
  if (options.cert_file.empty() || options.key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs a certificate and its key");
  }
  absl::StatusOr<Material> material = ReadMaterial(options);
  if (!material.ok()) return material.status();
  std::shared_ptr<ReloadableServerCredentials> credentials(
      new ReloadableServerCredentials(std::move(options)));
  {
    absl::MutexLock lock(&credentials->mu_);
    credentials->material_ = *std::move(material);
  }
  grpc_ssl_server_credentials_options* c_options =
      grpc_ssl_server_credentials_create_options_using_config_fetcher(
          credentials->options_.client_ca_file.empty()
              ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
              : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY,
          &ReloadableServerCredentials::FetchConfig, credentials.get());
  // Takes c_options.
  credentials->c_credentials_ =
      grpc_ssl_server_credentials_create_with_options(c_options);
  if (credentials->c_credentials_ == nullptr) {
    return absl::InternalError("gRPC refused the TLS server credentials");
  }
  return credentials;
}

ReloadableServerCredentials::ReloadableServerCredentials(
    GrpcServerTlsOptions options)
    : options_(std::move(options)) {}

ReloadableServerCredentials::~ReloadableServerCredentials() {
  if (c_credentials_ != nullptr)
    grpc_server_credentials_release(c_credentials_);
}

absl::StatusOr<ReloadableServerCredentials::Material>
ReloadableServerCredentials::ReadMaterial(const GrpcServerTlsOptions& options) {
  Material material;
  absl::StatusOr<std::string> cert = ReadFile(options.cert_file, "certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFile(options.key_file, "key");
  if (!key.ok()) return key.status();
  if (absl::Status pair =
          CheckKeyPair(options.cert_file, *cert, options.key_file, *key);
      !pair.ok()) {
    return pair;
  }
  material.cert_chain_pem = *std::move(cert);
  material.private_key_pem = *std::move(key);
  if (!options.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca =
        ReadFile(options.client_ca_file, "client CA file");
    if (!ca.ok()) return ca.status();
    if (sk_X509_num(ParseCertificates(*ca).get()) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "no PEM certificate in client CA file ", options.client_ca_file));
    }
    material.client_ca_pem = *std::move(ca);
  }
  return material;
}

absl::Status ReloadableServerCredentials::Reload() {
  absl::StatusOr<Material> material = ReadMaterial(options_);
  if (!material.ok()) return material.status();
  absl::MutexLock lock(&mu_);
  material_ = *std::move(material);
  ++generation_;
  return absl::OkStatus();
}

grpc_ssl_certificate_config_reload_status
ReloadableServerCredentials::FetchConfig(
    void* self, grpc_ssl_server_certificate_config** config) {
  auto* credentials = static_cast<ReloadableServerCredentials*>(self);
  absl::MutexLock lock(&credentials->mu_);
  if (credentials->fetched_generation_ == credentials->generation_) {
    return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;
  }
  const Material& material = credentials->material_;
  grpc_ssl_pem_key_cert_pair pair = {material.private_key_pem.c_str(),
                                     material.cert_chain_pem.c_str()};
  // Copies the strings; gRPC core owns the config. gRPC 1.51 asserts that a
  // fetched config has root certificates even when it requests no client
  // certificate; without mTLS they are never used (no CertificateRequest is
  // sent, nothing is verified), so the server's own chain stands in.
  *config = grpc_ssl_server_certificate_config_create(
      material.client_ca_pem.empty() ? material.cert_chain_pem.c_str()
                                     : material.client_ca_pem.c_str(),
      &pair, 1);
  credentials->fetched_generation_ = credentials->generation_;
  return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
}

int ReloadableServerCredentials::AddPortToServer(const std::string& addr,
                                                 grpc_server* server) {
  return grpc_server_add_http2_port(server, addr.c_str(), c_credentials_);
}

void ReloadableServerCredentials::SetAuthMetadataProcessor(
    const std::shared_ptr<::grpc::AuthMetadataProcessor>& /*processor*/) {}

absl::StatusOr<std::shared_ptr<::grpc::ChannelCredentials>>
MakeChannelCredentials(const GrpcChannelTlsOptions& options) {
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs its key, and a key its certificate");
  }
  UniqueStore store;
  if (!options.insecure_skip_verify) {
    absl::StatusOr<UniqueStore> trusted = TrustStore(options.ca_file);
    if (!trusted.ok()) return trusted.status();
    store = *std::move(trusted);
  }
  ::grpc::experimental::TlsChannelCredentialsOptions tls;
  // gRPC core's own chain and host checks say only "certificate verify
  // failed"; ServerCertificateVerifier does both and says which.
  tls.set_verify_server_certs(false);
  tls.set_check_call_host(false);
  tls.set_certificate_verifier(
      ::grpc::experimental::ExternalCertificateVerifier::Create<
          ServerCertificateVerifier>(std::move(store)));
  if (!options.cert_file.empty()) {
    absl::StatusOr<std::string> cert =
        ReadFile(options.cert_file, "client certificate");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile(options.key_file, "client key");
    if (!key.ok()) return key.status();
    if (absl::Status pair =
            CheckKeyPair(options.cert_file, *cert, options.key_file, *key);
        !pair.ok()) {
      return pair;
    }
    tls.set_certificate_provider(
        std::make_shared<::grpc::experimental::StaticDataCertificateProvider>(
            std::vector<::grpc::experimental::IdentityKeyCertPair>{
                {*std::move(key), *std::move(cert)}}));
    tls.watch_identity_key_cert_pairs();
  }
  std::shared_ptr<::grpc::ChannelCredentials> credentials =
      ::grpc::experimental::TlsCredentials(tls);
  if (credentials == nullptr) {
    return absl::InternalError("gRPC refused the TLS channel credentials");
  }
  return credentials;
}

absl::Status ExplainConnectionFailure(absl::Status status, bool tls) {
  if (!absl::IsUnavailable(status)) return status;
  const absl::string_view message = status.message();
  absl::string_view hint;
  if (tls && absl::StrContains(message, "wrong version number")) {
    hint =
        "TLS handshake failed: the peer did not speak TLS (a plaintext "
        "port? use grpc://)";
  } else if (absl::StrContains(message, "Socket closed") ||
             (tls && absl::StrContains(message, "Endpoint read failed"))) {
    // A TLS 1.3 server's "certificate required" alert arrives after the
    // client's handshake is over: grpc-core logs it and reports only the
    // failed read.
    hint = tls ? "the server closed the connection (if it requires a client "
                 "certificate: -cert and -key)"
               : "the server closed the connection (if it serves TLS: "
                 "grpcs://)";
  }
  if (hint.empty()) return status;
  return absl::UnavailableError(absl::StrCat(message, "; ", hint));
}

}  // namespace dualrpc::grpc
