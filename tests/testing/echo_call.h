#ifndef DUALRPC_TESTS_TESTING_ECHO_CALL_H_
#define DUALRPC_TESTS_TESTING_ECHO_CALL_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "dualrpc/rpc/channel.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gtest/gtest.h"
#include "testing/wait.h"

namespace dualrpc_testing {

inline constexpr char kEchoMethod[] = "/dualrpc.v1.FileService/Echo";

// One unary call of `method` (Echo's message types: EchoRequest with
// `payload`, EchoResponse) on `channel` with `timeout` as its deadline: the
// response's payload, or the call's status. Fails the test if the done does
// not run within kWaitTimeout (and then returns INTERNAL). The messages
// live until the done has run, even if that is after a failed wait.
// Header-only: tests that use it link dualrpc::proto_dualrpc already.
inline absl::StatusOr<std::string> EchoCall(
    dualrpc::rpc::Channel& channel, const std::string& payload,
    const char* method = kEchoMethod,
    absl::Duration timeout = absl::Seconds(10)) {
  struct Shared {
    dualrpc::v1::EchoRequest request;
    dualrpc::v1::EchoResponse response;
    absl::Status status;
    absl::Notification done;
  };
  auto shared = std::make_shared<Shared>();
  shared->request.set_payload(payload);
  dualrpc::rpc::CallOptions options;
  options.timeout = timeout;
  channel.StartUnaryCall(method, shared->request, &shared->response, options,
                         [shared](absl::Status status) {
                           shared->status = std::move(status);
                           shared->done.Notify();
                         });
  if (!shared->done.WaitForNotificationWithTimeout(kWaitTimeout)) {
    ADD_FAILURE() << method << ": done did not run within " << kWaitTimeout;
    return absl::InternalError("done did not run in time");
  }
  if (!shared->status.ok()) return shared->status;
  return shared->response.payload();
}

}  // namespace dualrpc_testing

#endif  // DUALRPC_TESTS_TESTING_ECHO_CALL_H_
