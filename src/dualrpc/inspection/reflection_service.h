#ifndef DUALRPC_INSPECTION_REFLECTION_SERVICE_H_
#define DUALRPC_INSPECTION_REFLECTION_SERVICE_H_

#include "absl/status/status.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/reactor.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/rpc/stream.h"
#include "google/protobuf/descriptor.h"
#include "grpc/reflection/v1/reflection.pb.h"
#include "src/proto/grpc/reflection/v1alpha/reflection.pb.h"

namespace dualrpc::inspection {

// grpc.reflection.v1.ServerReflection/ServerReflectionInfo and
// grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo as registry
// methods, served by both transports (docs/PROTOCOL.md §10): bidi streams,
// as in grpc++, each request answered by one response, in order, on the same
// stream, until the client half-closes. The two versions share one answer
// (their messages have the same fields; v1's are converted through the
// wire format). Lookups that fail are answered, as in grpc++, with an
// error_response in the stream; the call itself still ends OK.
//
//   list_services           the services in `registry` (sorted), which
//                           include Health and both ServerReflection
//                           versions when they are registered there
//   file_by_filename,       the file and its transitive dependencies, each a
//   file_containing_symbol, serialized FileDescriptorProto, depth-first
//   file_containing_extension  from the file, each file once
//   all_extension_numbers_of_type  the extension numbers known for the type
//
// A raw 1.0 client gets the unary form (one request, its one response)
// through §7.1's rule; nothing here differs for it.
//
// Only files in `pool` can be described. Thread-safe. Does not own
// `registry` or `pool`; both must outlive every server serving this and
// every call they started.
class ReflectionService {
 public:
  static constexpr char kServiceName[] =
      "grpc.reflection.v1alpha.ServerReflection";
  static constexpr char kInfoPath[] =
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
  static constexpr char kV1ServiceName[] =
      "grpc.reflection.v1.ServerReflection";
  static constexpr char kV1InfoPath[] =
      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";

  explicit ReflectionService(
      const rpc::ServiceRegistry* registry,
      const google::protobuf::DescriptorPool* pool =
          google::protobuf::DescriptorPool::generated_pool());

  ReflectionService(const ReflectionService&) = delete;
  ReflectionService& operator=(const ReflectionService&) = delete;

  // Adds both versions' ServerReflectionInfo to `registry` (usually the
  // one it lists); fails as ServiceRegistry::AddMethods does (then neither
  // is added). This object must outlive every server that serves
  // `registry`.
  absl::Status Register(rpc::ServiceRegistry* registry);
  // Adds v1's only: for a registry served by a GrpcServer that keeps
  // grpc++'s own v1alpha reflection plugin (builtin_inspection). Loading
  // libgrpc++_reflection (where the v1alpha message classes live) registers
  // that plugin with every ServerBuilder, at static initialization
  // (static_proto_reflection_plugin_initializer in 1.51), so a second
  // v1alpha service there would be a duplicate.
  absl::Status RegisterV1(rpc::ServiceRegistry* registry);

  // The start functions of the two bidi methods: never block; answers are
  // computed on the transport's threads (in-memory descriptor lookups).
  rpc::ServerBidiReactor<::grpc::reflection::v1alpha::ServerReflectionRequest,
                         ::grpc::reflection::v1alpha::ServerReflectionResponse>*
  ServerReflectionInfo(rpc::ServerStream* stream);
  rpc::ServerBidiReactor<::grpc::reflection::v1::ServerReflectionRequest,
                         ::grpc::reflection::v1::ServerReflectionResponse>*
  ServerReflectionInfoV1(rpc::ServerStream* stream);

  // The response to one request (what ServerReflectionInfo writes for it).
  ::grpc::reflection::v1alpha::ServerReflectionResponse Answer(
      const ::grpc::reflection::v1alpha::ServerReflectionRequest& request)
      const;

 private:
  template <typename Request, typename Response>
  class InfoReactor;

  absl::Status ListServices(
      ::grpc::reflection::v1alpha::ListServiceResponse* response) const;
  absl::Status AllExtensionNumbers(
      const std::string& type_name,
      ::grpc::reflection::v1alpha::ExtensionNumberResponse* response) const;
  const google::protobuf::FileDescriptor* FindFile(
      const ::grpc::reflection::v1alpha::ServerReflectionRequest& request,
      absl::Status* status) const;

  const rpc::ServiceRegistry* const registry_;
  const google::protobuf::DescriptorPool* const pool_;
};

}  // namespace dualrpc::inspection

#endif  // DUALRPC_INSPECTION_REFLECTION_SERVICE_H_
