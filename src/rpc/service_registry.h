#ifndef DUALRPC_RPC_SERVICE_REGISTRY_H_
#define DUALRPC_RPC_SERVICE_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "rpc/call.h"

namespace dualrpc {

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
// Does not own the service implementations.
class ServiceRegistry {
 public:
  // ALREADY_EXISTS if the path is taken.
  absl::Status AddMethod(UnaryMethod method);
  // nullptr when no such method.
  const UnaryMethod* FindMethod(absl::string_view path) const;
  // Fully qualified names of the services that have methods here.
  std::vector<std::string> ServiceNames() const;

 private:
  std::map<std::string, UnaryMethod, std::less<>> methods_;
};

}  // namespace dualrpc

#endif  // DUALRPC_RPC_SERVICE_REGISTRY_H_
