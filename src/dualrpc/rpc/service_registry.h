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
#include "dualrpc/rpc/interceptor.h"
#include "dualrpc/rpc/reactor.h"
#include "dualrpc/rpc/stream.h"
#include "google/protobuf/message.h"

namespace dualrpc::rpc {

// One method as a transport can serve it without knowing its types.
struct Method {
  // "/package.Service/Method".
  std::string path;
  MethodKind kind = MethodKind::kUnary;
  // Fresh, empty request and response messages of the method's types.
  std::function<std::unique_ptr<google::protobuf::Message>()> new_request;
  std::function<std::unique_ptr<google::protobuf::Message>()> new_response;
  // kUnary only: runs the implementation. `request`, `response` and
  // `context` stay valid until `done` has run; `done` must run exactly once,
  // on any thread.
  std::function<void(ServerCallContext* context,
                     const google::protobuf::Message* request,
                     google::protobuf::Message* response, UnaryDone done)>
      invoke;
  // Streaming kinds only: starts the implementation of one call on
  // `stream` and returns its reactor (not owned by the transport; it
  // usually deletes itself in OnDone). `request` is the one request of a
  // kServerStreaming call (else nullptr); `response` the one response of a
  // kClientStreaming call, sent by Finish(OK) (else nullptr). Both are
  // created by the transport with new_request/new_response and stay valid
  // until OnDone. Runs on a transport thread and must not block; it may
  // start operations on `stream` before returning.
  std::function<ServerStreamReactor*(ServerStream* stream,
                                     const google::protobuf::Message* request,
                                     google::protobuf::Message* response)>
      start_stream;
};

namespace internal {
struct InterceptorStage;
}  // namespace internal

// The methods a server offers, by path. Filled in by generated Register*()
// functions before the server starts; read-only (and so thread-safe) after.
// Does not own the service implementations; a copy serves the same ones
// (a server may offer another's methods plus some of its own that way).
//
// The Methods it hands out (FindMethod, ServiceMethods) are the ones to
// serve: with interceptors added, their invoke / start_stream run the
// interceptor stage before the implementation.
class ServiceRegistry {
 public:
  ServiceRegistry();
  ~ServiceRegistry();
  // A copy has the same methods and interceptors; adding either to one
  // leaves the other as it is.
  ServiceRegistry(const ServiceRegistry& other);
  ServiceRegistry& operator=(const ServiceRegistry& other);
  ServiceRegistry(ServiceRegistry&&) noexcept;
  ServiceRegistry& operator=(ServiceRegistry&&) noexcept;

  // ALREADY_EXISTS if the path is taken; INVALID_ARGUMENT if the path is not
  // "/service/method" (both parts non-empty, no further '/') or a function
  // is missing (invoke for kUnary, start_stream for the others; never
  // both).
  absl::Status AddMethod(Method method);
  // Adds all of `methods` or, on the first error AddMethod would report
  // (including two of `methods` sharing a path), none of them.
  absl::Status AddMethods(std::vector<Method> methods);
  // nullptr when no such method.
  const Method* FindMethod(absl::string_view path) const;
  // Adds `interceptor` to the interceptor stage (rpc/interceptor.h) that
  // every call to every method of this registry passes through, whatever
  // the transport: the methods already added and those added later, in the
  // order interceptors were added. A copy of the registry carries the
  // interceptors added before the copy. Before the server starts, like
  // AddMethod. INVALID_ARGUMENT for null.
  absl::Status AddInterceptor(std::shared_ptr<ServerInterceptor> interceptor);
  // Fully qualified names of the services that have methods here, sorted.
  std::vector<std::string> ServiceNames() const;
  // The methods of `service_name` ("package.Service"), sorted by path. The
  // pointers stay valid as long as this registry.
  std::vector<const Method*> ServiceMethods(
      absl::string_view service_name) const;

 private:
  // One method as added, and as served (the stage in front of it). The map
  // is node-based: `served` refers to `implementation` and to itself by
  // address, so a copy rebuilds it (Serve) and a move keeps it.
  struct Entry {
    Method implementation;
    Method served;
  };

  // Sets entry->served for the current stage.
  void Serve(Entry* entry) const;
  void Insert(Method method);

  std::map<std::string, Entry, std::less<>> methods_;
  // Never null; no interceptors means the methods are served as added.
  std::shared_ptr<const internal::InterceptorStage> stage_;
};

// The service name of a method path: "pkg.Svc" for "/pkg.Svc/Method";
// empty when `path` is not of that form.
absl::string_view ServiceNameOfPath(absl::string_view path);

namespace internal {

// A Method of `kind` with its message factories and no function yet.
template <typename Request, typename Response>
Method StreamingMethodShell(std::string path, MethodKind kind) {
  static_assert(std::is_base_of_v<google::protobuf::Message, Request> &&
                    std::is_base_of_v<google::protobuf::Message, Response>,
                "methods take generated protobuf messages");
  Method method;
  method.path = std::move(path);
  method.kind = kind;
  method.new_request = [] { return std::make_unique<Request>(); };
  method.new_response = [] { return std::make_unique<Response>(); };
  return method;
}

}  // namespace internal

// A unary Method that calls `implementation` on `service` with the concrete
// message types. Used by generated Register*() functions. Does not own
// `service`, which must outlive every server that serves the method.
template <typename Service, typename Request, typename Response>
Method MakeUnaryMethod(std::string path, Service* service,
                       void (Service::*implementation)(ServerCallContext*,
                                                       const Request*,
                                                       Response*, UnaryDone)) {
  static_assert(std::is_base_of_v<google::protobuf::Message, Request> &&
                    std::is_base_of_v<google::protobuf::Message, Response>,
                "methods take generated protobuf messages");
  Method method;
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

// A streaming Method that calls `implementation` on `service` with the
// concrete message types and returns its typed reactor: the three shapes of
// grpc++'s callback service (client streaming gets the response, server
// streaming the request, bidi neither). Used by generated Register*()
// functions; `service` is not owned and must outlive every server that
// serves the method.
template <typename Service, typename Request, typename Response>
Method MakeClientStreamingMethod(
    std::string path, Service* service,
    ServerReadReactor<Request>* (Service::*implementation)(ServerStream*,
                                                           Response*)) {
  Method method = internal::StreamingMethodShell<Request, Response>(
      std::move(path), MethodKind::kClientStreaming);
  method.start_stream = [service, implementation](
                            ServerStream* stream,
                            const google::protobuf::Message*,
                            google::protobuf::Message* response)
      -> ServerStreamReactor* {
    // The transport created `response` with new_response.
    return (service->*implementation)(stream, static_cast<Response*>(response));
  };
  return method;
}

template <typename Service, typename Request, typename Response>
Method MakeServerStreamingMethod(
    std::string path, Service* service,
    ServerWriteReactor<Response>* (Service::*implementation)(ServerStream*,
                                                             const Request*)) {
  Method method = internal::StreamingMethodShell<Request, Response>(
      std::move(path), MethodKind::kServerStreaming);
  method.start_stream = [service, implementation](
                            ServerStream* stream,
                            const google::protobuf::Message* request,
                            google::protobuf::Message*)
      -> ServerStreamReactor* {
    // The transport created `request` with new_request.
    return (service->*implementation)(stream,
                                      static_cast<const Request*>(request));
  };
  return method;
}

template <typename Service, typename Request, typename Response>
Method MakeBidiStreamingMethod(
    std::string path, Service* service,
    ServerBidiReactor<Request, Response>* (Service::*implementation)(
        ServerStream*)) {
  Method method = internal::StreamingMethodShell<Request, Response>(
      std::move(path), MethodKind::kBidiStreaming);
  method.start_stream = [service, implementation](
                            ServerStream* stream,
                            const google::protobuf::Message*,
                            google::protobuf::Message*)
      -> ServerStreamReactor* { return (service->*implementation)(stream); };
  return method;
}

}  // namespace dualrpc::rpc

#endif  // DUALRPC_RPC_SERVICE_REGISTRY_H_
