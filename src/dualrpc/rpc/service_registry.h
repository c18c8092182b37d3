#ifndef DUALRPC_RPC_SERVICE_REGISTRY_H_
#define DUALRPC_RPC_SERVICE_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "dualrpc/rpc/call.h"
#include "google/protobuf/message.h"

namespace dualrpc::rpc {

// One unary method as a transport can serve it without knowing its types.
struct UnaryMethod {
  // "/package.Service/Method".
  std::string path;
  // Fresh, empty request and response messages of the method's types.
  std::function<std::unique_ptr<google::protobuf::Message>()> new_request;
  std::function<std::unique_ptr<google::protobuf::Message>()> new_response;
  // Runs the implementation. `request`, `response` and `context` stay valid
  // until `done` has run; `done` must run exactly once, on any thread.
  std::function<void(ServerCallContext* context,
                     const google::protobuf::Message* request,
                     google::protobuf::Message* response, UnaryDone done)>
      invoke;
};

// The methods a server offers, by path. Filled in by generated Register*()
// functions before the server starts; read-only (and so thread-safe) after.
// Does not own the service implementations; a copy serves the same ones
// (a server may offer another's methods plus some of its own that way).
class ServiceRegistry {
 public:
  // ALREADY_EXISTS if the path is taken; INVALID_ARGUMENT if the path is not
  // "/service/method" (both parts non-empty, no further '/') or a function
  // is missing.
  absl::Status AddMethod(UnaryMethod method);
  // Adds all of `methods` or, on the first error AddMethod would report
  // (including two of `methods` sharing a path), none of them.
  absl::Status AddMethods(std::vector<UnaryMethod> methods);
  // nullptr when no such method.
  const UnaryMethod* FindMethod(absl::string_view path) const;
  // Fully qualified names of the services that have methods here, sorted.
  std::vector<std::string> ServiceNames() const;
  // The methods of `service_name` ("package.Service"), sorted by path. The
  // pointers stay valid as long as this registry.
  std::vector<const UnaryMethod*> ServiceMethods(
      absl::string_view service_name) const;

 private:
  std::map<std::string, UnaryMethod, std::less<>> methods_;
};

// The service name of a method path: "pkg.Svc" for "/pkg.Svc/Method";
// empty when `path` is not of that form.
absl::string_view ServiceNameOfPath(absl::string_view path);

// A UnaryMethod that calls `implementation` on `service` with the concrete
// message types. Used by generated Register*() functions. Does not own
// `service`, which must outlive every server that serves the method.
template <typename Service, typename Request, typename Response>
UnaryMethod MakeUnaryMethod(std::string path, Service* service,
                            void (Service::*implementation)(ServerCallContext*,
                                                            const Request*,
                                                            Response*,
                                                            UnaryDone)) {
  static_assert(std::is_base_of_v<google::protobuf::Message, Request> &&
                    std::is_base_of_v<google::protobuf::Message, Response>,
                "methods take generated protobuf messages");
  UnaryMethod method;
  method.path = std::move(path);
  method.new_request = [] { return std::make_unique<Request>(); };
  method.new_response = [] { return std::make_unique<Response>(); };
  method.invoke = [service, implementation](
                      ServerCallContext* context,
                      const google::protobuf::Message* request,
                      google::protobuf::Message* response, UnaryDone done) {
    // The transport created both messages with new_request/new_response.
    (service->*implementation)(context, static_cast<const Request*>(request),
                               static_cast<Response*>(response),
                               std::move(done));
  };
  return method;
}

}  // namespace dualrpc::rpc

#endif  // DUALRPC_RPC_SERVICE_REGISTRY_H_
