#ifndef DUALRPC_FILESERVICE_DIRECTORY_ENTRIES_H_
#define DUALRPC_FILESERVICE_DIRECTORY_ENTRIES_H_

// How the service core reads directories and describes their entries: the
// one readdir loop, the one lstat-to-DirectoryEntry conversion and the UTF-8
// rule for names, shared by ListDirectory and WalkTree. Internal to
// dualrpc::fileservice. Blocking filesystem calls: never on a transport
// thread.

#include <dirent.h>
#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dualrpc/v1/file_service.pb.h"

namespace dualrpc::fileservice {

// A peer-supplied path or a name from the served tree, safe to put in a
// message: quoted, non-printable bytes escaped.
std::string Quote(absl::string_view bytes);

// Stores `raw` in the proto string field `*text`, replacing each maximal
// ill-formed UTF-8 subpart with U+FFFD (the W3C/Unicode "best practice").
// When any replacement happened, also stores the exact bytes in
// `*raw_bytes` (which is otherwise left as it is).
void SetTextField(absl::string_view raw, std::string* text,
                  std::string* raw_bytes);

v1::DirectoryEntry::Type TypeOf(mode_t mode);

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};
// Owns a directory stream (and, after fdopendir, its descriptor).
using DirStream = std::unique_ptr<DIR, DirCloser>;

// Calls `visit` with every name in `dir` except "." and "..", until it
// returns false. `request_path` only names the directory in errors.
absl::Status ForEachName(DIR* dir, absl::string_view request_path,
                         absl::FunctionRef<bool(absl::string_view)> visit);

// Describes `name` in `dir_fd` (lstat'ed: a symlink is reported, not
// followed) in `*entry`, which is cleared first. false when the entry
// vanished since readdir (not an error); `*entry` is then unspecified.
absl::StatusOr<bool> StatEntry(int dir_fd, const std::string& name,
                               absl::string_view request_path,
                               v1::DirectoryEntry* entry);

}  // namespace dualrpc::fileservice

#endif  // DUALRPC_FILESERVICE_DIRECTORY_ENTRIES_H_
