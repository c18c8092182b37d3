#include "dualrpc/fileservice/served_root.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "dualrpc/base/posix_error.h"

namespace dualrpc::fileservice {
namespace {

// openat2 with RESOLVE_BENEATH fails with EAGAIN when a rename or mount races
// with the lookup; the kernel asks us to retry. Bounded so that a peer cannot
// pin a thread by racing renames.
constexpr int kMaxOpenAttempts = 4;

// A request path the peer sent, safe to put in a message: quoted and with
// non-printable bytes escaped. Never a host path.
std::string QuotePath(absl::string_view relative_path) {
  return absl::StrCat("\"", absl::CHexEscape(relative_path), "\"");
}

// Maps an openat2 errno onto the contract in served_root.h. Differs from
// PosixError only where RESOLVE_BENEATH gives an errno a new meaning.
absl::Status OpenError(absl::string_view relative_path, int error_number) {
  switch (error_number) {
    case EXDEV:
      return absl::PermissionDeniedError(absl::StrCat(
          "path escapes the served root: ", QuotePath(relative_path)));
    case ELOOP:
      return absl::FailedPreconditionError(
          absl::StrCat("too many levels of symbolic links (or a magic link): ",
                       QuotePath(relative_path)));
    case ENOTDIR:
      return absl::FailedPreconditionError(
          absl::StrCat("not a directory: ", QuotePath(relative_path)));
    default:
      return base::PosixError(absl::StrCat("open ", QuotePath(relative_path)),
                              error_number);
  }
}

}  // namespace

absl::StatusOr<ServedRoot> ServedRoot::Open(const std::string& directory) {
  // O_PATH: the root fd is only ever a lookup anchor, never read.
  const int fd = ::open(directory.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    // The operator named this directory, so the message may name it too.
    return base::PosixError(
        absl::StrCat("open served root \"", directory, "\""), errno);
  }
  return ServedRoot(base::ScopedFd(fd));
}

absl::StatusOr<base::ScopedFd> ServedRoot::OpenDirectory(
    absl::string_view relative_path) const {
  if (relative_path.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("path contains a NUL byte");
  }
  if (relative_path.size() >= PATH_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("path is longer than ", PATH_MAX - 1, " bytes"));
  }
  if (!relative_path.empty() && relative_path.front() == '/') {
    return absl::InvalidArgumentError(
        "path must be relative to the served root");
  }
  // NUL-terminated copy for the syscall; checked above to hold no NUL.
  const std::string path =
      relative_path.empty() ? std::string(".") : std::string(relative_path);

  struct open_how how = {};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;

  int error_number = 0;
  for (int attempt = 0; attempt < kMaxOpenAttempts; ++attempt) {
    const long fd =
        ::syscall(SYS_openat2, root_fd_.get(), path.c_str(), &how, sizeof(how));
    if (fd >= 0) return base::ScopedFd(static_cast<int>(fd));
    error_number = errno;
    if (error_number != EINTR && error_number != EAGAIN) break;
  }
  return OpenError(relative_path, error_number);
}

}  // namespace dualrpc::fileservice
