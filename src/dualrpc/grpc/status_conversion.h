#ifndef DUALRPC_GRPC_STATUS_CONVERSION_H_
#define DUALRPC_GRPC_STATUS_CONVERSION_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace dualrpc::grpc {

// absl::StatusCode and grpc::StatusCode share numbers (0..16), so these are
// one-to-one; unknown numbers become UNKNOWN.
::grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const ::grpc::Status& status);

}  // namespace dualrpc::grpc

#endif  // DUALRPC_GRPC_STATUS_CONVERSION_H_
