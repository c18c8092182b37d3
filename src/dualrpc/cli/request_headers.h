#ifndef DUALRPC_CLI_REQUEST_HEADERS_H_
#define DUALRPC_CLI_REQUEST_HEADERS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dualrpc/rpc/call.h"

namespace dualrpc::cli {

// Request metadata from grpcurl-style header flags (-H, -rpc-header,
// -reflect-header), in order: each "name: value" (split at the first ':';
// without one the value is empty), the name lower-cased, name and value
// trimmed of surrounding whitespace. The value of a "-bin" name is base64,
// standard or URL-safe, padded or not, and is decoded. INVALID_ARGUMENT for
// a -bin value that is not base64 (grpcurl would send it as it is) and for
// anything rpc::ValidateMetadata refuses.
absl::StatusOr<rpc::Metadata> ParseRequestHeaders(
    absl::Span<const std::string> headers);

// `value` of metadata `key` as grpcurl shows it: base64 (standard, padded)
// for a "-bin" key, else as it is.
std::string DisplayMetadataValue(const std::string& key,
                                 const std::string& value);

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_REQUEST_HEADERS_H_
