#ifndef DUALRPC_CLI_FILE_SERVICE_CLIENT_H_
#define DUALRPC_CLI_FILE_SERVICE_CLIENT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dualrpc/v1/file_service.pb.h"

namespace dualrpc::cli {

// dualrpc.v1.FileService as the CLI sees it, whatever the transport. Each
// call blocks until it completes or `timeout` (measured from the call;
// absl::InfiniteDuration() for none) expires, and returns the server's status
// code and message unchanged. Not required to be thread-safe.
class FileServiceClient {
 public:
  virtual ~FileServiceClient() = default;

  virtual absl::StatusOr<v1::EchoResponse> Echo(const v1::EchoRequest& request,
                                                absl::Duration timeout) = 0;
  virtual absl::StatusOr<v1::ListDirectoryResponse> ListDirectory(
      const v1::ListDirectoryRequest& request, absl::Duration timeout) = 0;
};

// The one place a --target value becomes a client. Connection happens on the
// first call, so a reachable server is not needed here. Bad targets are
// INVALID_ARGUMENT; raw:// is UNIMPLEMENTED until that transport's client
// exists.
absl::StatusOr<std::unique_ptr<FileServiceClient>> MakeClient(
    absl::string_view target);

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_FILE_SERVICE_CLIENT_H_
