#ifndef DUALRPC_CLI_COMMANDS_H_
#define DUALRPC_CLI_COMMANDS_H_

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "dualrpc/cli/file_service_client.h"

namespace dualrpc::cli {

// Deadline of each call the CLI makes (each page of a listing gets its own).
inline constexpr absl::Duration kDefaultCallTimeout = absl::Seconds(10);

// Options every command shares.
struct CallOptions {
  absl::Duration timeout = kDefaultCallTimeout;
  // Print responses as proto3 JSON (one line) instead of text.
  bool json = false;
};

struct LsOptions {
  std::string path;
  // Passed through unchanged; 0 lets the server choose.
  int32_t page_size = 0;
  // Fetch every page. When false only the first page is fetched and its
  // next_page_token, if any, is written to `err` as
  // "next_page_token: TOKEN".
  bool follow_pages = true;
  // One FormatLongListing line per entry instead of the bare name.
  bool long_format = false;
};

// `ls`: lists `ls.path`, writing entries to `out` as each page arrives (names
// or long lines, newline-terminated), or, with `call.json`, one
// ListDirectoryResponse holding every fetched entry, written after the last
// page (its next_page_token is empty unless pages were not followed).
// Returns the first failing call's status; output already written stays.
absl::Status RunLs(FileServiceClient& client, const CallOptions& call,
                   const LsOptions& ls, std::ostream& out, std::ostream& err);

struct EchoOptions {
  // The payload. Without it the payload is all of `in`, up to EOF.
  std::optional<std::string> text;
};

// `echo`: writes the echoed payload's bytes to `out`, followed by a newline
// only when the payload came from `echo.text`; with `call.json`, the
// EchoResponse as JSON instead.
absl::Status RunEcho(FileServiceClient& client, const CallOptions& call,
                     const EchoOptions& echo, std::istream& in,
                     std::ostream& out);

// How the CLI reports a failed call on stderr: "NOT_FOUND: message".
std::string FormatStatusForCli(const absl::Status& status);

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_COMMANDS_H_
