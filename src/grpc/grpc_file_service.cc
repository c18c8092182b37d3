#include "grpc/grpc_file_service.h"

#include "grpc/status_conversion.h"

namespace dualrpc {

grpc::ServerUnaryReactor* GrpcFileService::Echo(
    grpc::CallbackServerContext* context, const v1::EchoRequest* request,
    v1::EchoResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(core_->Echo(*request, response)));
  return reactor;
}

grpc::ServerUnaryReactor* GrpcFileService::ListDirectory(
    grpc::CallbackServerContext* context,
    const v1::ListDirectoryRequest* request,
    v1::ListDirectoryResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // request, response and context stay valid until Finish() completes, so
  // the task may use them from the executor thread.
  absl::Status submitted =
      executor_->Submit([this, context, request, response, reactor]() {
        if (context->IsCancelled()) {
          reactor->Finish(grpc::Status::CANCELLED);
          return;
        }
        reactor->Finish(ToGrpcStatus(core_->ListDirectory(*request, response)));
      });
  if (!submitted.ok()) reactor->Finish(ToGrpcStatus(submitted));
  return reactor;
}

}  // namespace dualrpc
