#include "dualrpc/cli/request_headers.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "dualrpc/rpc/metadata.h"

namespace dualrpc::cli {

absl::StatusOr<rpc::Metadata> ParseRequestHeaders(
    absl::Span<const std::string> headers) {
  rpc::Metadata metadata;
  for (const std::string& header : headers) {
    const absl::string_view text = header;
    const size_t colon = text.find(':');
    std::string key = absl::AsciiStrToLower(
        absl::StripAsciiWhitespace(text.substr(0, colon)));
    std::string value =
        colon == absl::string_view::npos
            ? std::string()
            : std::string(absl::StripAsciiWhitespace(text.substr(colon + 1)));
    if (rpc::IsBinaryMetadataKey(key)) {
      std::string decoded;
      if (!absl::Base64Unescape(value, &decoded) &&
          !absl::WebSafeBase64Unescape(value, &decoded)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "header \"", header, "\": the value of a -bin key must be base64"));
      }
      value = std::move(decoded);
    }
    metadata.emplace_back(std::move(key), std::move(value));
  }
  if (absl::Status valid = rpc::ValidateMetadata(metadata); !valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad header: ", valid.message()));
  }
  return metadata;
}

std::string DisplayMetadataValue(const std::string& key,
                                 const std::string& value) {
  if (!rpc::IsBinaryMetadataKey(key)) return value;
  return absl::Base64Escape(value);
}

}  // namespace dualrpc::cli
