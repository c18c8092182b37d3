#include "dualrpc/rpc/metadata.h"

#include <array>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace dualrpc::rpc {
namespace {

constexpr absl::string_view kReservedKeyPrefix = "grpc-";

// [0-9a-z_.-], as a table: every request's metadata passes here (an
// authorization header on every call), so one load per byte.
constexpr std::array<bool, 256> MakeKeyChars() {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  table['_'] = table['.'] = table['-'] = true;
  return table;
}
constexpr std::array<bool, 256> kKeyChars = MakeKeyChars();

bool IsValidKey(absl::string_view key) {
  if (key.empty() || absl::StartsWith(key, kReservedKeyPrefix)) return false;
  bool valid = true;
  for (char c : key) valid &= kKeyChars[static_cast<unsigned char>(c)];
  return valid;
}

// Printable ASCII, 0x20..0x7e: one compare per byte, no early exit (values
// are short, and a branch-free loop vectorises).
bool IsValidTextValue(absl::string_view value) {
  bool valid = true;
  for (char c : value) {
    valid &= static_cast<unsigned char>(static_cast<unsigned char>(c) - 0x20) <
             0x5f;
  }
  return valid;
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
