#ifndef DUALRPC_GRPC_GRPC_FILE_SERVICE_H_
#define DUALRPC_GRPC_GRPC_FILE_SERVICE_H_

#include "core/blocking_executor.h"
#include "core/file_service.h"
#include "dualrpc/v1/file_service.grpc.pb.h"

namespace dualrpc {

// dualrpc.v1.FileService on grpc++'s callback API, delegating to the core.
// Echo finishes inline on the gRPC thread; ListDirectory is handed to the
// BlockingExecutor so that filesystem latency never occupies gRPC's threads
// (the reactor is finished from the executor thread).
// Does not own `core` or `executor`; both must outlive the grpc::Server.
class GrpcFileService final : public v1::FileService::CallbackService {
 public:
  GrpcFileService(const FileServiceCore* core, BlockingExecutor* executor)
      : core_(core), executor_(executor) {}

  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const v1::EchoRequest* request,
                                 v1::EchoResponse* response) override;

  grpc::ServerUnaryReactor* ListDirectory(
      grpc::CallbackServerContext* context,
      const v1::ListDirectoryRequest* request,
      v1::ListDirectoryResponse* response) override;

 private:
  const FileServiceCore* const core_;
  BlockingExecutor* const executor_;
};

}  // namespace dualrpc

#endif  // DUALRPC_GRPC_GRPC_FILE_SERVICE_H_
