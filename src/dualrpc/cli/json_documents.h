#ifndef DUALRPC_CLI_JSON_DOCUMENTS_H_
#define DUALRPC_CLI_JSON_DOCUMENTS_H_

#include <istream>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace dualrpc::cli {

// The request messages of a streaming `call`, as grpcurl reads -d: JSON
// documents one after another, separated by whitespace or nothing
// (`{"a":1}{"a":2}`). Each document is taken from the stream as soon as it
// is complete, so a bidi session on standard input is interactive: a
// document is returned without reading past it.
//
// Splits only: an object or array ends at its matching bracket (brackets
// inside strings, and escaped quotes, are skipped); any other value (a
// string, a number, true, ...: the JSON of some well-known types) ends at
// the next whitespace or bracket. Whether a document is valid JSON is for
// the parser of its message type to say. Not thread-safe; does not own
// `in`, which must outlive it.
class JsonDocumentReader {
 public:
  explicit JsonDocumentReader(std::istream& in) : in_(in) {}

  // The next document; nullopt at the end of the input. INVALID_ARGUMENT
  // when the input ends inside a document or has a closing bracket with no
  // document open; UNKNOWN when reading fails.
  absl::StatusOr<std::optional<std::string>> Next();

 private:
  std::istream& in_;
};

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_JSON_DOCUMENTS_H_
