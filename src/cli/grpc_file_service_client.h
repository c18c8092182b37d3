#ifndef DUALRPC_CLI_GRPC_FILE_SERVICE_CLIENT_H_
#define DUALRPC_CLI_GRPC_FILE_SERVICE_CLIENT_H_

#include <memory>
#include <string>

#include "cli/file_service_client.h"

namespace dualrpc::cli {

// Largest response the client accepts. gRPC's default (4 MiB) is below what
// a full ListDirectory page (10000 entries with long symlink targets) or a
// large echo can legitimately reach.
inline constexpr int kDefaultMaxResponseBytes = 64 * 1024 * 1024;

// A FileServiceClient over an insecure gRPC channel to `host_port`
// ("host:port", IPv6 literals in brackets). The channel connects lazily and
// fails fast: a call to an unreachable server returns UNAVAILABLE rather than
// waiting out its timeout.
std::unique_ptr<FileServiceClient> MakeGrpcFileServiceClient(
    const std::string& host_port,
    int max_response_bytes = kDefaultMaxResponseBytes);

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_GRPC_FILE_SERVICE_CLIENT_H_
