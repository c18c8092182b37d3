#include "dualrpc/rpc/metadata.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace dualrpc::rpc {
namespace {

constexpr absl::string_view kReservedKeyPrefix = "grpc-";

bool IsKeyChar(char c) {
  return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'z') || c == '_' ||
         c == '.' || c == '-';
}

bool IsValidKey(absl::string_view key) {
  if (key.empty() || absl::StartsWith(key, kReservedKeyPrefix)) return false;
  for (char c : key) {
    if (!IsKeyChar(c)) return false;
  }
  return true;
}

bool IsValidTextValue(absl::string_view value) {
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

bool IsBinaryMetadataKey(absl::string_view key) {
  return absl::EndsWith(key, "-bin");
}

absl::Status ValidateMetadata(const Metadata& metadata) {
  for (const auto& [key, value] : metadata) {
    if (!IsValidKey(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid metadata key \"", absl::CHexEscape(key),
                       "\": want [0-9a-z_.-]+, not starting with grpc-"));
    }
    if (!IsBinaryMetadataKey(key) && !IsValidTextValue(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata \"", key,
                       "\" has a non-printable value; binary values need a "
                       "key ending in -bin"));
    }
  }
  return absl::OkStatus();
}

}  // namespace dualrpc::rpc
