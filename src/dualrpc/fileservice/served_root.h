#ifndef DUALRPC_FILESERVICE_SERVED_ROOT_H_
#define DUALRPC_FILESERVICE_SERVED_ROOT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dualrpc/base/scoped_fd.h"

namespace dualrpc::fileservice {

// The directory tree a server exposes. The root is opened once; every later
// lookup is resolved *beneath* that descriptor with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS), so `..` escapes, absolute paths and symlinks that
// leave the tree fail in the kernel (EXDEV) instead of in string checks.
// Renaming or replacing the root directory after Open() does not change what
// is served. Thread-safe: all methods are const and only use the fd.
class ServedRoot {
 public:
  // Opens `directory` (a host path, trusted: it comes from the operator).
  static absl::StatusOr<ServedRoot> Open(const std::string& directory);

  ServedRoot(ServedRoot&&) = default;
  ServedRoot& operator=(ServedRoot&&) = default;

  // Opens `relative_path` (untrusted, from a peer) as a directory for reading.
  // "" and "." mean the root. Errors never mention host paths:
  //   NUL byte, absolute path, over-long path   -> INVALID_ARGUMENT
  //   escapes the root (.., symlink out)        -> PERMISSION_DENIED
  //   missing                                   -> NOT_FOUND
  //   not a directory, symlink loop             -> FAILED_PRECONDITION
  //   unreadable                                -> PERMISSION_DENIED
  absl::StatusOr<base::ScopedFd> OpenDirectory(
      absl::string_view relative_path) const;

 private:
  explicit ServedRoot(base::ScopedFd root_fd) : root_fd_(std::move(root_fd)) {}

  base::ScopedFd root_fd_;
};

}  // namespace dualrpc::fileservice

#endif  // DUALRPC_FILESERVICE_SERVED_ROOT_H_
