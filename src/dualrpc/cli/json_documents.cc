#include "dualrpc/cli/json_documents.h"

#include <string>

#include "absl/status/status.h"

namespace dualrpc::cli {
namespace {

bool IsSpace(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsOpen(int c) { return c == '{' || c == '['; }
bool IsClose(int c) { return c == '}' || c == ']'; }

}  // namespace

absl::StatusOr<std::optional<std::string>> JsonDocumentReader::Next() {
  using Traits = std::istream::traits_type;
  int c = in_.get();
  while (c != Traits::eof() && IsSpace(c)) c = in_.get();
  if (c == Traits::eof()) {
    if (in_.bad()) return absl::UnknownError("cannot read the requests");
    return std::nullopt;
  }
  if (IsClose(c)) {
    return absl::InvalidArgumentError(
        "request JSON has a closing bracket with no document open");
  }
  std::string document(1, static_cast<char>(c));
  if (!IsOpen(c) && c != '"') {
    // A bare scalar: up to whitespace or a bracket, which is left unread.
    while (in_.peek() != Traits::eof() && !IsSpace(in_.peek()) &&
           !IsOpen(in_.peek()) && !IsClose(in_.peek())) {
      document += static_cast<char>(in_.get());
    }
    return document;
  }
  int depth = IsOpen(c) ? 1 : 0;
  bool in_string = c == '"';
  bool escaped = false;
  while (depth > 0 || in_string) {
    c = in_.get();
    if (c == Traits::eof()) {
      if (in_.bad()) return absl::UnknownError("cannot read the requests");
      return absl::InvalidArgumentError("request JSON ends inside a document");
    }
    document += static_cast<char>(c);
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (IsOpen(c)) {
      ++depth;
    } else if (IsClose(c)) {
      --depth;
    }
  }
  return document;
}

}  // namespace dualrpc::cli
