#ifndef DUALRPC_RPC_METADATA_H_
#define DUALRPC_RPC_METADATA_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "dualrpc/rpc/call.h"

namespace dualrpc::rpc {

// gRPC's rules for custom metadata, which every transport enforces so that a
// call that works on one works on all (grpc/grpc doc/PROTOCOL-HTTP2.md).

// Keys ending in "-bin" carry arbitrary bytes; others printable ASCII.
bool IsBinaryMetadataKey(absl::string_view key);

// OK, or INVALID_ARGUMENT naming the first bad entry: a key that is empty,
// has a character outside [0-9a-z_.-] or starts with the reserved "grpc-",
// or a value under a non-binary key with a byte outside 0x20-0x7E.
absl::Status ValidateMetadata(const Metadata& metadata);

}  // namespace dualrpc::rpc

#endif  // DUALRPC_RPC_METADATA_H_
