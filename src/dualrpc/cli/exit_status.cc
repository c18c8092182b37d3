#include "dualrpc/cli/exit_status.h"

#include <utility>

#include "absl/strings/cord.h"

namespace dualrpc::cli {
namespace {

constexpr char kRpcErrorPayload[] = "type.dualrpc.dev/dualrpc.cli.RpcError";
constexpr char kNotServingPayload[] =
    "type.dualrpc.dev/dualrpc.cli.NotServing";

}  // namespace

absl::Status AsRpcError(absl::Status status) {
  if (!status.ok()) status.SetPayload(kRpcErrorPayload, absl::Cord());
  return status;
}

bool IsRpcError(const absl::Status& status) {
  return status.GetPayload(kRpcErrorPayload).has_value();
}

absl::Status AsNotServing(absl::Status status) {
  if (!status.ok()) status.SetPayload(kNotServingPayload, absl::Cord());
  return status;
}

bool IsNotServing(const absl::Status& status) {
  return status.GetPayload(kNotServingPayload).has_value();
}

int ExitStatusFor(const absl::Status& status) {
  if (status.ok()) return kExitSuccess;
  if (IsNotServing(status)) return kExitNotServing;
  if (IsRpcError(status)) {
    return kExitRpcErrorBase + static_cast<int>(status.code());
  }
  return kExitLocalError;
}

}  // namespace dualrpc::cli
