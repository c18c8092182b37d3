#include "dualrpc/base/fd_limit.h"

#include <sys/resource.h>

#include <cerrno>

#include "dualrpc/base/posix_error.h"

namespace dualrpc::base {

absl::StatusOr<OpenFileLimit> RaiseOpenFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return PosixError("getrlimit(RLIMIT_NOFILE)", errno);
  }
  OpenFileLimit result;
  result.before = static_cast<std::int64_t>(limit.rlim_cur);
  // An unlimited hard limit still stops at the kernel's fs.nr_open, whose
  // default this is.
  const rlim_t target =
      limit.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : limit.rlim_max;
  if (limit.rlim_cur < target) {
    limit.rlim_cur = target;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      return PosixError("setrlimit(RLIMIT_NOFILE)", errno);
    }
  }
  result.now = static_cast<std::int64_t>(limit.rlim_cur);
  return result;
}

}  // namespace dualrpc::base
