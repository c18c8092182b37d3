#ifndef DUALRPC_CLI_CHANNEL_FILE_SERVICE_CLIENT_H_
#define DUALRPC_CLI_CHANNEL_FILE_SERVICE_CLIENT_H_

#include <memory>

#include "dualrpc/cli/file_service_client.h"
#include "dualrpc/rpc/channel.h"

namespace dualrpc::cli {

// A FileServiceClient over the generated v1::FileServiceClient, hence over
// any transport: each call blocks on the generated synchronous method, with
// the timeout as the call's deadline. Shares `channel`; must not be called
// from one of the channel's own completion threads.
std::unique_ptr<FileServiceClient> MakeChannelFileServiceClient(
    std::shared_ptr<rpc::Channel> channel);

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_CHANNEL_FILE_SERVICE_CLIENT_H_
