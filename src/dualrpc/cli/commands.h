#ifndef DUALRPC_CLI_COMMANDS_H_
#define DUALRPC_CLI_COMMANDS_H_

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "dualrpc/cli/file_service_client.h"
#include "dualrpc/rpc/channel.h"

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
  // `ls -R`: the whole tree beneath `path` (RunLsRecursive).
  bool recursive = false;
};

// `ls`: lists `ls.path`, writing entries to `out` as each page arrives (names
// or long lines, newline-terminated), or, with `call.json`, one
// ListDirectoryResponse holding every fetched entry, written after the last
// page (its next_page_token is empty unless pages were not followed).
// Returns the first failing call's status; output already written stays.
absl::Status RunLs(FileServiceClient& client, const CallOptions& call,
                   const LsOptions& ls, std::ostream& out, std::ostream& err);

// The method `ls -R` calls.
inline constexpr char kWalkTreePath[] = "/dualrpc.v1.FileService/WalkTree";

// `ls -R`: walks `ls.path` with one WalkTree call on `channel` (its
// deadline, `call.timeout`, covers the whole walk) and writes what GNU
// `ls -R` writes: for the walked directory and then each directory beneath
// it (depth first, in name order), a "DIR:" header, its entries one per
// line (names, or FormatLongListing lines with `ls.long_format`), and a
// blank line before every header but the first. DIR is `ls.path` ("." for
// the root) and, beneath it, each directory's path as the server sent it
// ("./" before it when walking the root). The walk arrives depth first and
// a directory's listing precedes its subdirectories', so the output is
// written after the last response. With `call.json`, each WalkTreeResponse
// instead, one JSON line each, as it arrives.
// A directory the server could not read (TreeEntry.error) gets its header
// and, on `err`, "ls: cannot open directory 'DIR': REASON" as ls writes it;
// the rest is listed and the result is then a failure (not an RPC error:
// exit 1, as GNU ls's "cannot access a subdirectory") with the first
// error's code. A failed call's status comes back as the channel gave it,
// and (but with `call.json`) nothing is written to `out`: a walk cut short
// is not a listing.
// Other LsOptions (pages) do not apply.
absl::Status RunLsRecursive(rpc::Channel& channel, const CallOptions& call,
                            const LsOptions& ls, std::ostream& out,
                            std::ostream& err);

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
