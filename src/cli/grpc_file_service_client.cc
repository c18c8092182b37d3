#include "cli/grpc_file_service_client.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/v1/file_service.grpc.pb.h"
#include "grpc/status_conversion.h"

namespace dualrpc::cli {
namespace {

class GrpcFileServiceClient final : public FileServiceClient {
 public:
  explicit GrpcFileServiceClient(std::shared_ptr<grpc::Channel> channel)
      : stub_(v1::FileService::NewStub(std::move(channel))) {}

  absl::StatusOr<v1::EchoResponse> Echo(const v1::EchoRequest& request,
                                        absl::Duration timeout) override {
    return CallWithTimeout<v1::EchoResponse>(
        timeout, [&](grpc::ClientContext* context, v1::EchoResponse* response) {
          return stub_->Echo(context, request, response);
        });
  }

  absl::StatusOr<v1::ListDirectoryResponse> ListDirectory(
      const v1::ListDirectoryRequest& request,
      absl::Duration timeout) override {
    return CallWithTimeout<v1::ListDirectoryResponse>(
        timeout,
        [&](grpc::ClientContext* context, v1::ListDirectoryResponse* response) {
          return stub_->ListDirectory(context, request, response);
        });
  }

 private:
  // Runs one blocking unary call, `invoke(context, response)`, under a
  // deadline `timeout` from now.
  template <typename Response, typename Invoke>
  static absl::StatusOr<Response> CallWithTimeout(absl::Duration timeout,
                                                  Invoke invoke) {
    grpc::ClientContext context;
    if (timeout != absl::InfiniteDuration()) {
      context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    }
    Response response;
    const grpc::Status status = invoke(&context, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  const std::unique_ptr<v1::FileService::Stub> stub_;
};

}  // namespace

std::unique_ptr<FileServiceClient> MakeGrpcFileServiceClient(
    const std::string& host_port, int max_response_bytes) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(max_response_bytes);
  return std::make_unique<GrpcFileServiceClient>(grpc::CreateCustomChannel(
      host_port, grpc::InsecureChannelCredentials(), arguments));
}

}  // namespace dualrpc::cli
