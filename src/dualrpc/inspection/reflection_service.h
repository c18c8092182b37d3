#ifndef DUALRPC_INSPECTION_REFLECTION_SERVICE_H_
#define DUALRPC_INSPECTION_REFLECTION_SERVICE_H_

#include "absl/status/status.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/service_registry.h"
#include "google/protobuf/descriptor.h"
#include "src/proto/grpc/reflection/v1alpha/reflection.pb.h"

namespace dualrpc::inspection {

// grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo for
// transports that serve a ServiceRegistry (the raw transport), as a unary
// call: one ServerReflectionRequest in, and out exactly the
// ServerReflectionResponse that grpc++'s bidi-streaming reflection service
// writes for that request (docs/PROTOCOL.md §10). Lookups that fail are
// answered, as there, with an error_response in an OK call.
//
//   list_services           the services in `registry` (sorted), which
//                           include Health and ServerReflection when they
//                           are registered there
//   file_by_filename,       the file and its transitive dependencies, each a
//   file_containing_symbol, serialized FileDescriptorProto, depth-first
//   file_containing_extension  from the file, each file once
//   all_extension_numbers_of_type  the extension numbers known for the type
//
// Only files in `pool` can be described. Thread-safe. Does not own
// `registry` or `pool`; both must outlive every server serving this.
class ReflectionService {
 public:
  static constexpr char kServiceName[] =
      "grpc.reflection.v1alpha.ServerReflection";
  static constexpr char kInfoPath[] =
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

  explicit ReflectionService(
      const rpc::ServiceRegistry* registry,
      const google::protobuf::DescriptorPool* pool =
          google::protobuf::DescriptorPool::generated_pool());

  ReflectionService(const ReflectionService&) = delete;
  ReflectionService& operator=(const ReflectionService&) = delete;

  // Adds ServerReflectionInfo to `registry` (usually the one it lists);
  // fails as ServiceRegistry::AddMethod does. This object must outlive every
  // server that serves `registry`.
  absl::Status Register(rpc::ServiceRegistry* registry);

  // Completes inline.
  void ServerReflectionInfo(
      rpc::ServerCallContext* context,
      const ::grpc::reflection::v1alpha::ServerReflectionRequest* request,
      ::grpc::reflection::v1alpha::ServerReflectionResponse* response,
      rpc::UnaryDone done);

  // The response to one request (what ServerReflectionInfo sends).
  ::grpc::reflection::v1alpha::ServerReflectionResponse Answer(
      const ::grpc::reflection::v1alpha::ServerReflectionRequest& request)
      const;

 private:
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
