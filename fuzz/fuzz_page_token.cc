// libFuzzer target: fileservice::DecodePageToken, a token a peer sends back.
//
// Input: "<path>\n<token>" (no newline: the whole input is the token, for
// the root). Oracles: a token that decodes re-encodes to a token that
// decodes to the same cursor; every token EncodePageToken makes for the
// input's path and a name made of the input decodes to that cursor; errors
// are INVALID_ARGUMENT only.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dualrpc/fileservice/page_token.h"
#include "fuzz_check.h"

namespace {

namespace fs = dualrpc::fileservice;

constexpr std::size_t kMaxNameBytes = 255;  // NAME_MAX

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::string_view path;
  absl::string_view token = input;
  if (const std::size_t newline = input.find('\n');
      newline != absl::string_view::npos) {
    path = input.substr(0, newline);
    token = input.substr(newline + 1);
  }

  absl::StatusOr<fs::PageCursor> cursor = fs::DecodePageToken(token, path);
  if (!cursor.ok()) {
    FUZZ_CHECK(cursor.status().code() == absl::StatusCode::kInvalidArgument);
  } else {
    absl::StatusOr<fs::PageCursor> again =
        fs::DecodePageToken(fs::EncodePageToken(*cursor), path);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->path == cursor->path);
    FUZZ_CHECK(again->last_name == cursor->last_name);
  }

  // Encode -> decode for the input's own path and a name made of the token.
  if (path.size() < 4096) {
    const fs::PageCursor made{std::string(path),
                              std::string(token.substr(0, kMaxNameBytes))};
    absl::StatusOr<fs::PageCursor> decoded =
        fs::DecodePageToken(fs::EncodePageToken(made), path);
    FUZZ_CHECK(decoded.ok());
    FUZZ_CHECK(decoded->last_name == made.last_name);
    FUZZ_CHECK(decoded->path == (path.empty() ? "." : made.path));
  }
  return 0;
}
