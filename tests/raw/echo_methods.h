#ifndef DUALRPC_TESTS_RAW_ECHO_METHODS_H_
#define DUALRPC_TESTS_RAW_ECHO_METHODS_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/unary_method.h"

namespace dualrpc::raw {

// Registers the two methods raw transport tests use to see what a
// connection carries: `echo_path` answers with the request's payload,
// `peer_path` with the caller's address (ServerCallContext::peer(), i.e.
// which connection the call came on). Both take and return
// dualrpc.v1.EchoRequest / EchoResponse and complete inline.
inline void AddEchoAndPeerMethods(const std::string& echo_path,
                                  const std::string& peer_path,
                                  rpc::ServiceRegistry* registry) {
  using ::dualrpc_testing::IsOk;
  using ::dualrpc_testing::UnaryMethodFrom;
  ASSERT_THAT(
      registry->AddMethod(UnaryMethodFrom<v1::EchoRequest, v1::EchoResponse>(
          echo_path,
          [](rpc::ServerCallContext*, const v1::EchoRequest& request,
             v1::EchoResponse* response, rpc::UnaryDone done) {
            response->set_payload(request.payload());
            std::move(done)(absl::OkStatus());
          })),
      IsOk());
  ASSERT_THAT(
      registry->AddMethod(UnaryMethodFrom<v1::EchoRequest, v1::EchoResponse>(
          peer_path,
          [](rpc::ServerCallContext* context, const v1::EchoRequest&,
             v1::EchoResponse* response, rpc::UnaryDone done) {
            response->set_payload(context->peer());
            std::move(done)(absl::OkStatus());
          })),
      IsOk());
}

}  // namespace dualrpc::raw

#endif  // DUALRPC_TESTS_RAW_ECHO_METHODS_H_
