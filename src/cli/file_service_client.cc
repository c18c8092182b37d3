#include "cli/file_service_client.h"

#include <memory>

#include "absl/status/status.h"
#include "cli/grpc_file_service_client.h"
#include "cli/target.h"

namespace dualrpc::cli {

absl::StatusOr<std::unique_ptr<FileServiceClient>> MakeClient(
    absl::string_view target) {
  absl::StatusOr<Target> parsed = ParseTarget(target);
  if (!parsed.ok()) return parsed.status();
  switch (parsed->scheme) {
    case TransportScheme::kGrpc:
      return MakeGrpcFileServiceClient(parsed->HostPort());
    case TransportScheme::kRaw:
      return absl::UnimplementedError(
          "raw:// targets are not supported by this client yet");
  }
  return absl::InternalError("unhandled transport scheme");
}

}  // namespace dualrpc::cli
