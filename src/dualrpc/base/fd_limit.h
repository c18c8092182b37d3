#ifndef DUALRPC_BASE_FD_LIMIT_H_
#define DUALRPC_BASE_FD_LIMIT_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace dualrpc::base {

// The process's open-file limit (RLIMIT_NOFILE) before and after
// RaiseOpenFileLimit.
struct OpenFileLimit {
  std::int64_t before = 0;
  std::int64_t now = 0;
};

// Raises the soft open-file limit to the hard one, as servers that hold many
// connections do (Go's runtime does it for every program since 1.19).
// Why: the soft limit is often 1024 (systemd's default, a login shell's),
// far below --raw_max_connections' 10,000, and every connection, listing
// and log file takes a descriptor: past it, accepts and openat fail with
// EMFILE for every client at once. The hard limit is what the operator (or
// the unit's LimitNOFILE=) allows. Process-wide: for a program's main.
absl::StatusOr<OpenFileLimit> RaiseOpenFileLimit();

}  // namespace dualrpc::base

#endif  // DUALRPC_BASE_FD_LIMIT_H_
