#include "dualrpc/grpc/status_conversion.h"

#include <string>

namespace dualrpc::grpc {
namespace {

constexpr int kMaxStatusCode = 16;

}  // namespace

::grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return ::grpc::Status::OK;
  int code = static_cast<int>(status.code());
  if (code < 0 || code > kMaxStatusCode) code = ::grpc::StatusCode::UNKNOWN;
  return ::grpc::Status(static_cast<::grpc::StatusCode>(code),
                        std::string(status.message()));
}

absl::Status FromGrpcStatus(const ::grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  int code = static_cast<int>(status.error_code());
  if (code < 0 || code > kMaxStatusCode) code = ::grpc::StatusCode::UNKNOWN;
  return absl::Status(static_cast<absl::StatusCode>(code),
                      status.error_message());
}

}  // namespace dualrpc::grpc
