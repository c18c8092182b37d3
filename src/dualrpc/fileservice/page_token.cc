#include "dualrpc/fileservice/page_token.h"

#include <climits>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"

namespace dualrpc::fileservice {
namespace {

// Token layout before base64url (no padding):
//   version (1 byte) = kTokenVersion
//   path length (2 bytes, big-endian), path bytes
//   last_name length (2 bytes, big-endian), last_name bytes
// Nothing may follow. The token is a cursor, not a credential: a peer that
// forges one can only skip ahead in a directory it may list anyway.
constexpr uint8_t kTokenVersion = 1;
constexpr std::size_t kMaxPathBytes = PATH_MAX - 1;
constexpr std::size_t kMaxNameBytes = NAME_MAX;
// Longest well-formed token, in base64 characters, with slack; longer input is
// rejected before decoding it.
constexpr std::size_t kMaxTokenChars =
    (1 + 2 + kMaxPathBytes + 2 + kMaxNameBytes) * 4 / 3 + 4;

// "" and "." both name the served root; tokens bind to the "." spelling.
absl::string_view CanonicalPath(absl::string_view path) {
  return path.empty() ? absl::string_view(".") : path;
}

void AppendLengthPrefixed(absl::string_view bytes, std::string* out) {
  out->push_back(static_cast<char>((bytes.size() >> 8) & 0xff));
  out->push_back(static_cast<char>(bytes.size() & 0xff));
  out->append(bytes.data(), bytes.size());
}

// Consumes one length-prefixed field of at most `max_bytes` from the front of
// `*in`. False if `*in` is too short or the field too long.
bool ConsumeLengthPrefixed(absl::string_view* in, std::size_t max_bytes,
                           std::string* out) {
  if (in->size() < 2) return false;
  const std::size_t length =
      (static_cast<uint8_t>((*in)[0]) << 8) | static_cast<uint8_t>((*in)[1]);
  in->remove_prefix(2);
  if (length > max_bytes || in->size() < length) return false;
  out->assign(in->data(), length);
  in->remove_prefix(length);
  return true;
}

absl::Status Malformed() {
  return absl::InvalidArgumentError("page_token is malformed");
}

}  // namespace

std::string EncodePageToken(const PageCursor& cursor) {
  const absl::string_view path = CanonicalPath(cursor.path);
  std::string raw;
  raw.reserve(1 + 2 + path.size() + 2 + cursor.last_name.size());
  raw.push_back(static_cast<char>(kTokenVersion));
  AppendLengthPrefixed(path, &raw);
  AppendLengthPrefixed(cursor.last_name, &raw);
  return absl::WebSafeBase64Escape(raw);
}

std::size_t EncodedPageTokenSize(absl::string_view path,
                                 absl::string_view last_name) {
  const std::size_t raw = 1 + 2 + CanonicalPath(path).size() + 2 +
                          last_name.size();
  // base64url without padding: 4 characters per 3 bytes, and 2 or 3 for a
  // remainder of 1 or 2 bytes.
  return raw / 3 * 4 + (raw % 3 == 0 ? 0 : raw % 3 + 1);
}

absl::StatusOr<PageCursor> DecodePageToken(absl::string_view token,
                                           absl::string_view path) {
  if (token.size() > kMaxTokenChars) return Malformed();
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) return Malformed();

  absl::string_view in = raw;
  if (in.empty() || static_cast<uint8_t>(in.front()) != kTokenVersion) {
    return Malformed();
  }
  in.remove_prefix(1);
  PageCursor cursor;
  if (!ConsumeLengthPrefixed(&in, kMaxPathBytes, &cursor.path) ||
      !ConsumeLengthPrefixed(&in, kMaxNameBytes, &cursor.last_name) ||
      !in.empty()) {
    return Malformed();
  }
  if (cursor.path != CanonicalPath(path)) {
    return absl::InvalidArgumentError(
        "page_token was issued for a different path");
  }
  return cursor;
}

}  // namespace dualrpc::fileservice
