#ifndef DUALRPC_CLI_EXIT_STATUS_H_
#define DUALRPC_CLI_EXIT_STATUS_H_

#include "absl/status/status.h"

namespace dualrpc::cli {

// The `dualrpc` command's exit status, grpcurl's convention:
//   0        success
//   1        a local error: bad request JSON, an unknown method or symbol, a
//            failed reflection or schema lookup, an unreadable -d file
//   2        a usage error: bad flag, command, argument count or target
//   4        a health check answered, and not SERVING (grpc_health_probe's
//            "unhealthy" code): `health`, and `call` of Health/Check
//   64 + N   the RPC itself failed with gRPC status code N (NOT_FOUND 69,
//            PERMISSION_DENIED 71, UNIMPLEMENTED 76, DEADLINE_EXCEEDED 68)
inline constexpr int kExitSuccess = 0;
inline constexpr int kExitLocalError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotServing = 4;
inline constexpr int kExitRpcErrorBase = 64;

// `status` marked as the failure of the command's RPC (not of a lookup that
// prepares it), so that ExitStatusFor gives 64 + its code. The mark is a
// payload: code and message are unchanged. OK stays OK.
absl::Status AsRpcError(absl::Status status);

// Whether AsRpcError marked `status`.
bool IsRpcError(const absl::Status& status);

// `status` (not OK) marked as a health answer other than SERVING: the call
// succeeded, the service is not serving, and ExitStatusFor gives
// kExitNotServing. Code and message are unchanged. OK stays OK.
absl::Status AsNotServing(absl::Status status);

// Whether AsNotServing marked `status`.
bool IsNotServing(const absl::Status& status);

// kExitSuccess for OK, kExitNotServing for a status AsNotServing marked,
// kExitRpcErrorBase + code for one AsRpcError marked, kExitLocalError for
// any other failure.
int ExitStatusFor(const absl::Status& status);

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_EXIT_STATUS_H_
