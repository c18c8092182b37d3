#ifndef DUALRPC_AUTH_TOKEN_FILE_H_
#define DUALRPC_AUTH_TOKEN_FILE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dualrpc::auth {

// One line of a token file: who holds `token` and what they may call.
struct TokenEntry {
  std::string token;
  std::string principal;
  // Method patterns (MethodPatternMatches); empty means every method.
  std::vector<std::string> methods;
  // 1-based, for messages.
  int line = 0;
};

// Parses a token file (`--auth_tokens`, docs/ARCHITECTURE.md "Security"):
// each non-empty line is `TOKEN PRINCIPAL [METHOD ...]`, fields separated by
// spaces or tabs; `#` at the start of a field starts a comment that runs to
// the end of the line. A token is printable ASCII without '#' at its start;
// a principal likewise. METHOD is a pattern (CheckMethodPattern).
//
// INVALID_ARGUMENT, naming `file_name` and the 1-based line, for a line with
// a token but no principal, a duplicate token, a bad method pattern, or a
// control or non-ASCII byte in a token or principal. Messages never contain
// a token.
absl::StatusOr<std::vector<TokenEntry>> ParseTokenFile(
    absl::string_view contents, absl::string_view file_name);

// Reads and parses `path`: NOT_FOUND / PERMISSION_DENIED / ... when it
// cannot be read, else as ParseTokenFile.
absl::StatusOr<std::vector<TokenEntry>> ReadTokenFile(const std::string& path);

// OK if `pattern` is a method path "/package.Service/Method" or a whole
// service "/package.Service/*"; INVALID_ARGUMENT (naming it) otherwise.
absl::Status CheckMethodPattern(absl::string_view pattern);

// True if `path` ("/package.Service/Method") is `pattern` or, for
// "/package.Service/*", one of that service's methods.
bool MethodPatternMatches(absl::string_view pattern, absl::string_view path);

// The patterns of a comma-separated list (`--auth_open_methods`); spaces
// around items are dropped, empty items skipped; INVALID_ARGUMENT for a bad
// pattern.
absl::StatusOr<std::vector<std::string>> ParseMethodPatternList(
    absl::string_view list);

}  // namespace dualrpc::auth

#endif  // DUALRPC_AUTH_TOKEN_FILE_H_
