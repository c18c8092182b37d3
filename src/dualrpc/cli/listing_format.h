#ifndef DUALRPC_CLI_LISTING_FORMAT_H_
#define DUALRPC_CLI_LISTING_FORMAT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "dualrpc/v1/file_service.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace dualrpc::cli {

// The mode column of `ls -l`: a type character (d directory, - file,
// l symlink, ? anything else) and nine permission characters, with the
// set-uid, set-gid and sticky bits shown as s/S, s/S and t/T. Bits of `mode`
// above 07777 are ignored.
std::string FormatMode(v1::DirectoryEntry::Type type, uint32_t mode);

// UTC, ISO 8601, to the second (sub-second digits are truncated):
// "2026-11-25T19:56:00Z".
std::string FormatModifyTime(const google::protobuf::Timestamp& time);

// The entry's name as the server's filesystem stores it: `raw_name` when the
// server sent one (the name is not UTF-8), else `name`.
absl::string_view DisplayName(const v1::DirectoryEntry& entry);

// One `ls -l` line, without the newline, fields separated by one space:
//   MODE SIZE MTIME NAME[ -> SYMLINK_TARGET]
// MTIME is "-" when the entry carries no modify_time. The arrow appears for
// symlinks only, with the target's exact bytes like DisplayName.
std::string FormatLongListing(const v1::DirectoryEntry& entry);

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_LISTING_FORMAT_H_
