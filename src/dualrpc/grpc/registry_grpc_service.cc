#include "dualrpc/grpc/registry_grpc_service.h"

// gRPC INTERNALS, confined to this file: the rest of dualrpc uses the public
// grpc++ API only, and no header of ours includes grpcpp/impl/codegen.
//
// What: ::grpc::internal::RpcServiceMethod (grpcpp/impl/rpc_service_method.h)
// and ::grpc::internal::CallbackUnaryHandler<ByteBuffer, ByteBuffer>
// (grpcpp/impl/codegen/server_callback_handlers.h), registered through the
// protected grpc::Service::AddMethod / MarkMethodRawCallback — the same calls
// protoc's generated *_grpc.pb.h code makes.
// Why: a registry's methods must be served as one named grpc::Service per
// protobuf service, so that the server reflection and health services (and
// grpc::Server's per-service bookkeeping) see "dualrpc.v1.FileService" like
// any generated service. The public alternative, grpc::CallbackGenericService,
// serves every path through one anonymous handler that reflection cannot
// describe.
// Known to work with: gRPC 1.51 (Debian bookworm's libgrpc++-dev 1.51.1).
// When it breaks (later releases move the impl/codegen headers to grpcpp/impl/
// and grpcpp/support/, first leaving forwarding headers, then none): include
// the header that then defines CallbackUnaryHandler, keep the
// AddMethod/MarkMethodRawCallback calls as generated code of that version
// makes them, and run tests/rpc (grpc_glue_test, plugin_transports_test) and
// tests/inspection, which exercise reflection and health over these services.
#include <grpcpp/impl/codegen/server_callback_handlers.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dualrpc/grpc/byte_buffer_codec.h"
#include "dualrpc/grpc/status_conversion.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/metadata.h"

namespace dualrpc::grpc {
namespace {

using ByteBufferHandler =
    ::grpc::internal::CallbackUnaryHandler<::grpc::ByteBuffer,
                                           ::grpc::ByteBuffer>;

absl::Time DeadlineOf(const ::grpc::CallbackServerContext& context) {
  std::chrono::system_clock::time_point deadline = context.deadline();
  // grpc++ reports "no deadline" as the largest time_point.
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

// The client's custom metadata, without gRPC's reserved "grpc-" keys.
rpc::Metadata RequestMetadataOf(const ::grpc::CallbackServerContext& context) {
  rpc::Metadata metadata;
  for (const auto& [key, value] : context.client_metadata()) {
    absl::string_view key_view(key.data(), key.size());
    if (absl::StartsWith(key_view, "grpc-")) continue;
    metadata.emplace_back(std::string(key_view),
                          std::string(value.data(), value.size()));
  }
  return metadata;
}

// One call in progress: the ServerCallContext the implementation sees, and
// the request and response it works on. Created on the gRPC thread that
// receives the call; destroyed by Finish, just before the gRPC call is
// finished, since the CallbackServerContext may be gone right after.
class GrpcServerCall final : public rpc::ServerCallContext {
 public:
  GrpcServerCall(const rpc::Method& method,
                 ::grpc::CallbackServerContext* context,
                 ::grpc::ByteBuffer* response_buffer)
      : context_(context),
        reactor_(context->DefaultReactor()),
        response_buffer_(response_buffer),
        deadline_(DeadlineOf(*context)),
        request_metadata_(RequestMetadataOf(*context)),
        request_(method.new_request()),
        response_(method.new_response()) {}

  absl::Time deadline() const override { return deadline_; }
  bool IsCancelled() const override { return context_->IsCancelled(); }
  const rpc::Metadata& request_metadata() const override {
    return request_metadata_;
  }
  void AddResponseMetadata(std::string key, std::string value) override {
    absl::MutexLock lock(&mutex_);
    response_metadata_.emplace_back(std::move(key), std::move(value));
  }
  std::string peer() const override { return context_->peer(); }

  ::grpc::ServerUnaryReactor* reactor() const { return reactor_; }
  google::protobuf::Message* request() { return request_.get(); }
  google::protobuf::Message* response() { return response_.get(); }

  // Ends the call with `status` (the response is sent only if it is OK) and
  // destroys `call`. Runs once per call, on any thread.
  static void Finish(std::unique_ptr<GrpcServerCall> call,
                     absl::Status status) {
    ::grpc::ServerUnaryReactor* reactor = call->reactor_;
    ::grpc::Status result = call->PrepareResult(std::move(status));
    call.reset();
    reactor->Finish(result);
  }

 private:
  // Attaches the trailers and serializes the response; the status to finish
  // the call with.
  ::grpc::Status PrepareResult(absl::Status status) {
    rpc::Metadata trailers;
    {
      absl::MutexLock lock(&mutex_);
      trailers = std::move(response_metadata_);
    }
    if (absl::Status valid = rpc::ValidateMetadata(trailers); !valid.ok()) {
      return ToGrpcStatus(absl::InternalError(absl::StrCat(
          "the server set bad response metadata: ", valid.message())));
    }
    for (const auto& [key, value] : trailers) {
      context_->AddTrailingMetadata(key, value);
    }
    if (status.ok())
      status = SerializeToByteBuffer(*response_, response_buffer_);
    return ToGrpcStatus(status);
  }

  ::grpc::CallbackServerContext* const context_;
  ::grpc::ServerUnaryReactor* const reactor_;
  ::grpc::ByteBuffer* const response_buffer_;
  const absl::Time deadline_;
  const rpc::Metadata request_metadata_;
  const std::unique_ptr<google::protobuf::Message> request_;
  const std::unique_ptr<google::protobuf::Message> response_;
  absl::Mutex mutex_;
  rpc::Metadata response_metadata_ ABSL_GUARDED_BY(mutex_);
};

// The UnaryDone handed to the implementation. Finishes the call when run,
// and with INTERNAL when destroyed without having run, so that a lost done
// cannot leave the call (and the server's shutdown) hanging.
class CallCompleter {
 public:
  explicit CallCompleter(std::unique_ptr<GrpcServerCall> call)
      : call_(std::move(call)) {}
  CallCompleter(CallCompleter&&) = default;
  CallCompleter& operator=(CallCompleter&&) = default;
  ~CallCompleter() {
    if (call_ != nullptr) {
      GrpcServerCall::Finish(
          std::move(call_),
          absl::InternalError(
              "the method dropped its done without running it"));
    }
  }

  void operator()(absl::Status status) && {
    GrpcServerCall::Finish(std::move(call_), std::move(status));
  }

 private:
  std::unique_ptr<GrpcServerCall> call_;
};

::grpc::ServerUnaryReactor* ServeCall(const rpc::Method& method,
                                      ::grpc::CallbackServerContext* context,
                                      const ::grpc::ByteBuffer* request_buffer,
                                      ::grpc::ByteBuffer* response_buffer) {
  auto call =
      std::make_unique<GrpcServerCall>(method, context, response_buffer);
  ::grpc::ServerUnaryReactor* reactor = call->reactor();
  if (absl::Status parsed =
          ParseFromByteBuffer(*request_buffer, call->request());
      !parsed.ok()) {
    GrpcServerCall::Finish(std::move(call), std::move(parsed));
    return reactor;
  }
  rpc::ServerCallContext* call_context = call.get();
  const google::protobuf::Message* request = call->request();
  google::protobuf::Message* response = call->response();
  method.invoke(call_context, request, response,
                CallCompleter(std::move(call)));
  return reactor;
}

// The grpc::Service for one service name. grpc::Server takes the service
// name from the method paths.
class RegistryGrpcService final : public ::grpc::Service {
 public:
  explicit RegistryGrpcService(
      const std::vector<const rpc::Method*>& methods) {
    for (size_t index = 0; index < methods.size(); ++index) {
      const rpc::Method* method = methods[index];
      // The path's storage is the registry's, which outlives this service.
      AddMethod(new ::grpc::internal::RpcServiceMethod(
          method->path.c_str(), ::grpc::internal::RpcMethod::NORMAL_RPC,
          /*handler=*/nullptr));
      MarkMethodRawCallback(
          static_cast<int>(index),
          new ByteBufferHandler([method](::grpc::CallbackServerContext* context,
                                         const ::grpc::ByteBuffer* request,
                                         ::grpc::ByteBuffer* response) {
            return ServeCall(*method, context, request, response);
          }));
    }
  }
};

}  // namespace

absl::StatusOr<std::vector<std::unique_ptr<::grpc::Service>>> MakeGrpcServices(
    const rpc::ServiceRegistry& registry) {
  std::vector<std::unique_ptr<::grpc::Service>> services;
  for (const std::string& name : registry.ServiceNames()) {
    std::vector<const rpc::Method*> methods =
        registry.ServiceMethods(name);
    if (methods.empty()) {
      return absl::InternalError(
          absl::StrCat("registry lists service ", name, " without methods"));
    }
    services.push_back(std::make_unique<RegistryGrpcService>(methods));
  }
  return services;
}

}  // namespace dualrpc::grpc
