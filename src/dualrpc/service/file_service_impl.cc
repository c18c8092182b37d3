#include "dualrpc/service/file_service_impl.h"

#include <memory>
#include <utility>

namespace dualrpc::service {

void FileServiceImpl::Echo(rpc::ServerCallContext* /*context*/,
                           const v1::EchoRequest* request,
                           v1::EchoResponse* response, rpc::UnaryDone done) {
  std::move(done)(core_->Echo(*request, response));
}

void FileServiceImpl::ListDirectory(rpc::ServerCallContext* context,
                                    const v1::ListDirectoryRequest* request,
                                    v1::ListDirectoryResponse* response,
                                    rpc::UnaryDone done) {
  // `done` must run exactly once whether or not the executor takes the
  // task, so it is shared between the task and the refusal path.
  auto shared_done = std::make_shared<rpc::UnaryDone>(std::move(done));
  absl::Status submitted =
      executor_->Submit([this, context, request, response, shared_done]() {
        if (context->IsCancelled()) {
          std::move (*shared_done)(absl::CancelledError("call cancelled"));
          return;
        }
        std::move (*shared_done)(core_->ListDirectory(*request, response));
      });
  if (!submitted.ok()) std::move (*shared_done)(submitted);
}

}  // namespace dualrpc::service
