#ifndef DUALRPC_BASE_POSIX_ERROR_H_
#define DUALRPC_BASE_POSIX_ERROR_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace dualrpc::base {

// The one place errno becomes an absl::Status. `context` names the operation
// (and only what the caller may reveal to a peer); strerror text is appended.
absl::Status PosixError(absl::string_view context, int error_number);

}  // namespace dualrpc::base

#endif  // DUALRPC_BASE_POSIX_ERROR_H_
