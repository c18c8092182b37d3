#include "dualrpc/auth/auth_interceptor.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "dualrpc/rpc/service_registry.h"

namespace dualrpc::auth {
namespace {

constexpr absl::string_view kAuthorizationKey = "authorization";
constexpr absl::string_view kBearerScheme = "bearer";

// The token of "Bearer <token>" (scheme case-insensitive, one or more
// spaces), or empty when `value` is not of that form.
absl::string_view BearerToken(absl::string_view value) {
  if (value.size() <= kBearerScheme.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kBearerScheme.size()),
                              kBearerScheme) ||
      value[kBearerScheme.size()] != ' ') {
    return {};
  }
  return absl::StripAsciiWhitespace(value.substr(kBearerScheme.size()));
}

std::string PrincipalForMessage(absl::string_view principal) {
  return principal.empty() ? "an anonymous caller"
                           : absl::StrCat("principal \"", principal, "\"");
}

}  // namespace

absl::StatusOr<std::shared_ptr<AuthInterceptor>> AuthInterceptor::Create(
    AuthOptions options) {
  for (const std::string& pattern : options.open_methods) {
    if (absl::Status valid = CheckMethodPattern(pattern); !valid.ok()) {
      return valid;
    }
  }
  std::vector<TokenEntry> entries;
  const bool with_tokens = !options.tokens_file.empty();
  if (with_tokens) {
    absl::StatusOr<std::vector<TokenEntry>> read =
        ReadTokenFile(options.tokens_file);
    if (!read.ok()) return read.status();
    entries = *std::move(read);
  }
  return std::make_shared<AuthInterceptor>(with_tokens, entries,
                                           std::move(options.open_methods),
                                           std::move(options.tokens_file));
}

AuthInterceptor::AuthInterceptor(bool with_tokens,
                                 const std::vector<TokenEntry>& entries,
                                 std::vector<std::string> open_methods,
                                 std::string tokens_file)
    : with_tokens_(with_tokens),
      open_methods_(std::move(open_methods)),
      tokens_file_(std::move(tokens_file)) {
  std::unique_ptr<const TokenTable> table = MakeTable(entries);
  table_.store(table.get(), std::memory_order_release);
  absl::MutexLock lock(&reload_mu_);
  tables_.push_back(std::move(table));
}

AuthInterceptor::~AuthInterceptor() = default;

std::unique_ptr<const AuthInterceptor::TokenTable> AuthInterceptor::MakeTable(
    const std::vector<TokenEntry>& entries) {
  auto table = std::make_unique<TokenTable>();
  table->grants.reserve(entries.size());
  for (const TokenEntry& entry : entries) {
    Grant grant;
    SHA256(reinterpret_cast<const unsigned char*>(entry.token.data()),
           entry.token.size(), grant.digest.data());
    grant.principal = entry.principal;
    grant.methods = entry.methods;
    table->grants.push_back(std::move(grant));
  }
  return table;
}

absl::Status AuthInterceptor::Reload() {
  if (!with_tokens_ || tokens_file_.empty()) {
    return absl::FailedPreconditionError("no token file to reload");
  }
  absl::StatusOr<std::vector<TokenEntry>> entries = ReadTokenFile(tokens_file_);
  if (!entries.ok()) return entries.status();
  std::unique_ptr<const TokenTable> table = MakeTable(*entries);
  absl::MutexLock lock(&reload_mu_);
  table_.store(table.get(), std::memory_order_release);
  tables_.push_back(std::move(table));
  return absl::OkStatus();
}

std::size_t AuthInterceptor::token_count() const {
  return table_.load(std::memory_order_acquire)->grants.size();
}

namespace {

// SHA-256 of `token` into `digest`. OpenSSL 3's one-shot SHA256() fetches
// the algorithm from the provider on every call (a lock and a lookup: most
// of a microsecond, measured by the bench's auth group); the algorithm is
// fetched once here and each thread keeps its own context.
void Sha256(absl::string_view token, unsigned char* digest) {
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct Context {
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    ~Context() { EVP_MD_CTX_free(context); }
  };
  thread_local Context local;
  unsigned int size = 0;
  if (kSha256 == nullptr || local.context == nullptr ||
      EVP_DigestInit_ex2(local.context, kSha256, nullptr) != 1 ||
      EVP_DigestUpdate(local.context, token.data(), token.size()) != 1 ||
      EVP_DigestFinal_ex(local.context, digest, &size) != 1) {
    // Not expected; the one-shot form gives the same digest.
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
           digest);
  }
}

}  // namespace

const AuthInterceptor::Grant* AuthInterceptor::FindGrant(
    const TokenTable& table, absl::string_view token) {
  Digest digest;
  Sha256(token, digest.data());
  // Every grant is compared, whatever matched before: the time depends on
  // the number of tokens only. Tokens are unique, so at most one matches.
  const Grant* found = nullptr;
  for (const Grant& grant : table.grants) {
    const bool equal =
        CRYPTO_memcmp(grant.digest.data(), digest.data(), digest.size()) == 0;
    found = equal ? &grant : found;
  }
  return found;
}

bool AuthInterceptor::IsOpen(absl::string_view path) const {
  for (const std::string& pattern : open_methods_) {
    if (MethodPatternMatches(pattern, path)) return true;
  }
  return false;
}

absl::Status AuthInterceptor::OnCallStart(const rpc::Method& method,
                                          rpc::ServerCallContext* context) {
  const rpc::Metadata& metadata = context->request_metadata();
  const std::string* authorization = nullptr;
  for (const auto& [key, value] : metadata) {
    if (key != kAuthorizationKey) continue;
    if (authorization != nullptr) {
      return absl::UnauthenticatedError(absl::StrCat(
          "more than one authorization header for ", method.path));
    }
    authorization = &value;
  }

  if (!with_tokens_) {
    std::string subject = context->peer_certificate_subject();
    if (!subject.empty()) context->set_principal(std::move(subject));
    return absl::OkStatus();
  }

  const bool open = IsOpen(method.path);
  if (authorization != nullptr) {
    absl::string_view token = BearerToken(*authorization);
    const Grant* grant =
        token.empty()
            ? nullptr
            : FindGrant(*table_.load(std::memory_order_acquire), token);
    if (grant == nullptr) {
      if (open) return absl::OkStatus();
      return absl::UnauthenticatedError(absl::StrCat(
          token.empty() ? "authorization is not \"Bearer <token>\""
                        : "unknown bearer token",
          " for ", method.path));
    }
    bool allowed = grant->methods.empty() || open;
    for (const std::string& pattern : grant->methods) {
      allowed = allowed || MethodPatternMatches(pattern, method.path);
    }
    if (!allowed) {
      return absl::PermissionDeniedError(
          absl::StrCat(PrincipalForMessage(grant->principal),
                       " may not call ", method.path));
    }
    context->set_principal(grant->principal);
    return absl::OkStatus();
  }

  std::string subject = context->peer_certificate_subject();
  if (!subject.empty()) {
    context->set_principal(std::move(subject));
    return absl::OkStatus();
  }
  if (open) return absl::OkStatus();
  return absl::UnauthenticatedError(absl::StrCat(
      "missing credentials for ", method.path,
      ": want metadata \"authorization: Bearer <token>\""));
}

}  // namespace dualrpc::auth
