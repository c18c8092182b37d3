#ifndef DUALRPC_FILESERVICE_PAGE_TOKEN_H_
#define DUALRPC_FILESERVICE_PAGE_TOKEN_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dualrpc::fileservice {

// Where the next page of a listing starts: after `last_name` (raw name bytes),
// in the directory named `path`. Encoded as an opaque, URL-safe token; the
// encoding is private to the server and may change between versions.
struct PageCursor {
  std::string path;
  std::string last_name;
};

std::string EncodePageToken(const PageCursor& cursor);

// EncodePageToken({path, last_name}).size(), without building the token (a
// page measures the token after each entry it considers).
std::size_t EncodedPageTokenSize(absl::string_view path,
                                 absl::string_view last_name);

// Decodes `token` and checks it was issued for `path`. Malformed tokens and
// tokens for another path are INVALID_ARGUMENT. Paths compare as strings,
// except that "" and "." (both the root) are the same path; the returned
// cursor spells the root ".".
absl::StatusOr<PageCursor> DecodePageToken(absl::string_view token,
                                           absl::string_view path);

}  // namespace dualrpc::fileservice

#endif  // DUALRPC_FILESERVICE_PAGE_TOKEN_H_
