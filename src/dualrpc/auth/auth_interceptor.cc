#include "dualrpc/auth/auth_interceptor.h"


#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/container/inlined_vector.h"
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
  for (const TokenEntry& entry : entries) {
    table->width = std::max(table->width, entry.token.size());
  }
  table->width = (table->width + 7) / 8 * 8;  // DifferConstantTime's steps
  table->grants.reserve(entries.size());
  for (const TokenEntry& entry : entries) {
    Grant grant;
    grant.padded = entry.token;
    grant.padded.resize(table->width, '\0');
    grant.length = entry.token.size();
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

// Whether the first `width` bytes of `a` and `b` differ, in time that
// depends on `width` only (OpenSSL's CRYPTO_memcmp's contract, eight bytes
// a step where it goes a byte at a time, which was most of the lookup's
// cost). `width` is a multiple of 8.
bool DifferConstantTime(const char* a, const char* b, std::size_t width) {
  std::uint64_t difference = 0;
  for (std::size_t i = 0; i < width; i += 8) {
    std::uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    difference |= x ^ y;
  }
  return difference != 0;
}

}  // namespace

const AuthInterceptor::Grant* AuthInterceptor::FindGrant(
    const TokenTable& table, absl::string_view token) {
  // The presented token over the table's width; a longer one cannot match
  // but is compared all the same (its first `width` bytes).
  absl::InlinedVector<char, 128> padded(table.width, '\0');
  std::memcpy(padded.data(), token.data(), std::min(token.size(), table.width));
  // Every grant is compared, whatever matched before: the time depends on
  // the table only. Tokens are unique, so at most one matches.
  const Grant* found = nullptr;
  for (const Grant& grant : table.grants) {
    // `&` on unsigned, not `&&`: both sides are always evaluated.
    const bool equal =
        (static_cast<unsigned>(!DifferConstantTime(
             grant.padded.data(), padded.data(), table.width)) &
         static_cast<unsigned>(grant.length == token.size())) != 0;
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
