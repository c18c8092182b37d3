#ifndef DUALRPC_AUTH_AUTH_INTERCEPTOR_H_
#define DUALRPC_AUTH_AUTH_INTERCEPTOR_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "dualrpc/auth/token_file.h"
#include "dualrpc/rpc/interceptor.h"

namespace dualrpc::auth {

// The default of --auth_open_methods: health probes need no token.
inline constexpr char kDefaultOpenMethods[] = "/grpc.health.v1.Health/*";

struct AuthOptions {
  // The token file (token_file.h); empty means no token authentication,
  // only the mTLS principal.
  std::string tokens_file;
  // Methods callable without credentials (patterns, token_file.h).
  std::vector<std::string> open_methods = {kDefaultOpenMethods};
};

// Authentication and authorization as one interceptor of the registry's
// stage (rpc/interceptor.h), so the same on every transport. For each call:
//
//  - `authorization: Bearer <token>` (the scheme case-insensitive; at most
//    one such header): a known token makes its principal the call's
//    principal; a method outside the token's list is PERMISSION_DENIED.
//  - no token, and a verified client certificate (mTLS): its subject is the
//    principal and every method is allowed (the CA authorised it). A token,
//    when given, wins over the certificate.
//  - no credentials, or an unknown or malformed token: UNAUTHENTICATED.
//  - open methods are callable without credentials (principal empty, or the
//    token's when a valid one is given; a bad token is ignored there).
//  - without a token file: no authentication at all; the mTLS subject, if
//    any, is still the principal.
//
// Messages name the method and the principal, never a token. Tokens are
// compared in constant time: the presented token, zero-padded to the
// longest known token's length, against every known token padded the same
// way (XOR-OR over that whole width, eight bytes a step, lengths compared
// apart), so the
// time depends on the table only: neither the position of the first
// differing byte nor whether the length matched shows. (A SHA-256 digest
// per call did the same at ~0.5 µs a call, most of the bench's token cost.)
//
// Thread-safe: OnCallStart runs concurrently on any threads and never
// blocks (one atomic load); Reload may run at the same time.
class AuthInterceptor final : public rpc::ServerInterceptor {
 public:
  // Reads `options.tokens_file` (when set): fails as ReadTokenFile does.
  // INVALID_ARGUMENT for a bad open-method pattern.
  static absl::StatusOr<std::shared_ptr<AuthInterceptor>> Create(
      AuthOptions options);
  // From parsed entries; `tokens_file` (may be empty) is what Reload reads.
  // `with_tokens` false: no token authentication (entries ignored).
  AuthInterceptor(bool with_tokens, const std::vector<TokenEntry>& entries,
                  std::vector<std::string> open_methods,
                  std::string tokens_file = {});
  ~AuthInterceptor() override;

  AuthInterceptor(const AuthInterceptor&) = delete;
  AuthInterceptor& operator=(const AuthInterceptor&) = delete;

  // Re-reads the token file and swaps the new tokens in atomically for the
  // calls that start afterwards. On failure (unreadable, malformed) the old
  // tokens stay and the error is returned. FAILED_PRECONDITION without a
  // token file. Any thread (a SIGHUP handler's thread, say, not a signal
  // handler itself).
  absl::Status Reload();

  // Tokens currently known (tests, logs).
  std::size_t token_count() const;

  absl::Status OnCallStart(const rpc::Method& method,
                           rpc::ServerCallContext* context) override;

 private:
  struct Grant {
    // The token, zero-padded to TokenTable::width.
    std::string padded;
    std::size_t length = 0;
    std::string principal;
    std::vector<std::string> methods;  // empty: all
  };
  struct TokenTable {
    std::vector<Grant> grants;
    // The longest token's length rounded up to a multiple of 8 (at least
    // 8).
    std::size_t width = 8;
  };

  static std::unique_ptr<const TokenTable> MakeTable(
      const std::vector<TokenEntry>& entries);
  // The grant whose token is `token`, or nullptr; looks at every grant.
  static const Grant* FindGrant(const TokenTable& table,
                                absl::string_view token);
  bool IsOpen(absl::string_view path) const;

  const bool with_tokens_;
  const std::vector<std::string> open_methods_;
  const std::string tokens_file_;
  // The current table, read lock-free by OnCallStart. Tables replaced by
  // Reload are kept (retired_) until destruction, since a call may still be
  // reading one: reloads are rare and a table small.
  std::atomic<const TokenTable*> table_;
  absl::Mutex reload_mu_;
  std::vector<std::unique_ptr<const TokenTable>> tables_
      ABSL_GUARDED_BY(reload_mu_);
};

}  // namespace dualrpc::auth

#endif  // DUALRPC_AUTH_AUTH_INTERCEPTOR_H_
