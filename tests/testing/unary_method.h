#ifndef DUALRPC_TESTS_TESTING_UNARY_METHOD_H_
#define DUALRPC_TESTS_TESTING_UNARY_METHOD_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "dualrpc/rpc/service_registry.h"
#include "google/protobuf/message.h"

namespace dualrpc_testing {

// The body of a test method, with the concrete message types.
template <typename Request, typename Response>
using UnaryBody = std::function<void(dualrpc::rpc::ServerCallContext* context,
                                     const Request& request, Response* response,
                                     dualrpc::rpc::UnaryDone done)>;

// An rpc::Method at `path` over Request/Response whose invoke runs
// `body` (a lambda, say) with the downcast messages. `body` is copied into
// the method and runs on whatever thread the transport invokes it; it keeps
// the contract of Method::invoke (run `done` exactly once).
//
//   registry.AddMethod(UnaryMethodFrom<BytesValue, BytesValue>(
//       "/t.S/Echo", [](auto*, const BytesValue& in, BytesValue* out,
//                       rpc::UnaryDone done) { ... }));
template <typename Request, typename Response>
dualrpc::rpc::Method UnaryMethodFrom(std::string path,
                                          UnaryBody<Request, Response> body) {
  static_assert(std::is_base_of_v<google::protobuf::Message, Request> &&
                    std::is_base_of_v<google::protobuf::Message, Response>,
                "methods take protobuf messages");
  dualrpc::rpc::Method method;
  method.path = std::move(path);
  method.new_request = [] { return std::make_unique<Request>(); };
  method.new_response = [] { return std::make_unique<Response>(); };
  method.invoke = [body = std::move(body)](
                      dualrpc::rpc::ServerCallContext* context,
                      const google::protobuf::Message* request,
                      google::protobuf::Message* response,
                      dualrpc::rpc::UnaryDone done) {
    // The transport made both messages with new_request/new_response.
    body(context, static_cast<const Request&>(*request),
         static_cast<Response*>(response), std::move(done));
  };
  return method;
}

}  // namespace dualrpc_testing

#endif  // DUALRPC_TESTS_TESTING_UNARY_METHOD_H_
