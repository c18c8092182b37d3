#include "dualrpc/inspection/reflection_service.h"

#include <string>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "google/protobuf/descriptor.pb.h"

namespace dualrpc::inspection {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::FileDescriptorProto;
using ::grpc::reflection::v1alpha::ExtensionNumberResponse;
using ::grpc::reflection::v1alpha::FileDescriptorResponse;
using ::grpc::reflection::v1alpha::ListServiceResponse;
using ::grpc::reflection::v1alpha::ServerReflectionRequest;
using ::grpc::reflection::v1alpha::ServerReflectionResponse;

// `file`, then its dependencies depth-first, each file once: the order and
// the encoding (FileDescriptor::CopyTo, so no source info and no json_name)
// of grpc++'s reflection service, which clients may rely on.
void AddFileWithDependencies(const FileDescriptor* file,
                             std::unordered_set<std::string>* seen,
                             FileDescriptorResponse* response) {
  if (!seen->insert(file->name()).second) return;
  FileDescriptorProto proto;
  file->CopyTo(&proto);
  proto.SerializeToString(response->add_file_descriptor_proto());
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddFileWithDependencies(file->dependency(i), seen, response);
  }
}

}  // namespace

ReflectionService::ReflectionService(
    const rpc::ServiceRegistry* registry,
    const google::protobuf::DescriptorPool* pool)
    : registry_(registry), pool_(pool) {}

// One ServerReflectionInfo call of either version: read a request, write
// its answer, read the next, until the client half-closes. One read or one
// write outstanding at a time, never both, so the callbacks never overlap.
// `Request`/`Response` are v1alpha's messages or v1's, which have the same
// fields: v1's are answered through v1alpha's by way of the wire format.
template <typename Request, typename Response>
class ReflectionService::InfoReactor final
    : public rpc::ServerBidiReactor<Request, Response> {
 public:
  InfoReactor(rpc::ServerStream* stream, const ReflectionService* service)
      : rpc::ServerBidiReactor<Request, Response>(stream), service_(service) {
    this->StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // Half-closed (or the call ended: the status is dropped).
      this->Finish(absl::OkStatus());
      return;
    }
    if constexpr (std::is_same_v<Request, ServerReflectionRequest>) {
      response_ = service_->Answer(request_);
    } else {
      ServerReflectionRequest request;
      if (!request.ParseFromString(request_.SerializeAsString()) ||
          !response_.ParseFromString(
              service_->Answer(request).SerializeAsString())) {
        this->Finish(absl::InternalError("reflection message conversion"));
        return;
      }
    }
    this->StartWrite(response_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      this->Finish(absl::CancelledError("call ended"));
      return;
    }
    this->StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  const ReflectionService* const service_;
  Request request_;
  Response response_;
};

absl::Status ReflectionService::Register(rpc::ServiceRegistry* registry) {
  std::vector<rpc::Method> methods;
  methods.push_back(
      rpc::MakeBidiStreamingMethod<ReflectionService, ServerReflectionRequest,
                                   ServerReflectionResponse>(
          kInfoPath, this, &ReflectionService::ServerReflectionInfo));
  methods.push_back(
      rpc::MakeBidiStreamingMethod<
          ReflectionService, ::grpc::reflection::v1::ServerReflectionRequest,
          ::grpc::reflection::v1::ServerReflectionResponse>(
          kV1InfoPath, this, &ReflectionService::ServerReflectionInfoV1));
  return registry->AddMethods(std::move(methods));
}

absl::Status ReflectionService::RegisterV1(rpc::ServiceRegistry* registry) {
  return registry->AddMethod(
      rpc::MakeBidiStreamingMethod<
          ReflectionService, ::grpc::reflection::v1::ServerReflectionRequest,
          ::grpc::reflection::v1::ServerReflectionResponse>(
          kV1InfoPath, this, &ReflectionService::ServerReflectionInfoV1));
}

rpc::ServerBidiReactor<ServerReflectionRequest, ServerReflectionResponse>*
ReflectionService::ServerReflectionInfo(rpc::ServerStream* stream) {
  return new InfoReactor<ServerReflectionRequest, ServerReflectionResponse>(
      stream, this);
}

rpc::ServerBidiReactor<::grpc::reflection::v1::ServerReflectionRequest,
                       ::grpc::reflection::v1::ServerReflectionResponse>*
ReflectionService::ServerReflectionInfoV1(rpc::ServerStream* stream) {
  return new InfoReactor<::grpc::reflection::v1::ServerReflectionRequest,
                         ::grpc::reflection::v1::ServerReflectionResponse>(
      stream, this);
}

ServerReflectionResponse ReflectionService::Answer(
    const ServerReflectionRequest& request) const {
  ServerReflectionResponse response;
  absl::Status status;
  switch (request.message_request_case()) {
    case ServerReflectionRequest::kFileByFilename:
    case ServerReflectionRequest::kFileContainingSymbol:
    case ServerReflectionRequest::kFileContainingExtension:
      if (const FileDescriptor* file = FindFile(request, &status)) {
        std::unordered_set<std::string> seen;
        AddFileWithDependencies(file, &seen,
                                response.mutable_file_descriptor_response());
      }
      break;
    case ServerReflectionRequest::kAllExtensionNumbersOfType:
      status = AllExtensionNumbers(
          request.all_extension_numbers_of_type(),
          response.mutable_all_extension_numbers_response());
      break;
    case ServerReflectionRequest::kListServices:
      status = ListServices(response.mutable_list_services_response());
      break;
    case ServerReflectionRequest::MESSAGE_REQUEST_NOT_SET:
      status = absl::UnimplementedError("");
      break;
  }
  if (!status.ok()) {
    // Replaces whatever the oneof held, as in grpc++.
    response.mutable_error_response()->set_error_code(
        static_cast<int>(status.code()));
    response.mutable_error_response()->set_error_message(
        std::string(status.message()));
  }
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  return response;
}

absl::Status ReflectionService::ListServices(
    ListServiceResponse* response) const {
  for (const std::string& name : registry_->ServiceNames()) {
    response->add_service()->set_name(name);
  }
  return absl::OkStatus();
}

absl::Status ReflectionService::AllExtensionNumbers(
    const std::string& type_name, ExtensionNumberResponse* response) const {
  const Descriptor* type = pool_->FindMessageTypeByName(type_name);
  if (type == nullptr) return absl::NotFoundError("Type not found.");
  std::vector<const FieldDescriptor*> extensions;
  pool_->FindAllExtensions(type, &extensions);
  for (const FieldDescriptor* extension : extensions) {
    response->add_extension_number(extension->number());
  }
  response->set_base_type_name(type_name);
  return absl::OkStatus();
}

// The NOT_FOUND messages are grpc++'s, word for word.
const FileDescriptor* ReflectionService::FindFile(
    const ServerReflectionRequest& request, absl::Status* status) const {
  switch (request.message_request_case()) {
    case ServerReflectionRequest::kFileByFilename:
      if (const FileDescriptor* file =
              pool_->FindFileByName(request.file_by_filename())) {
        return file;
      }
      *status = absl::NotFoundError("File not found.");
      return nullptr;
    case ServerReflectionRequest::kFileContainingSymbol:
      if (const FileDescriptor* file = pool_->FindFileContainingSymbol(
              request.file_containing_symbol())) {
        return file;
      }
      *status = absl::NotFoundError("Symbol not found.");
      return nullptr;
    case ServerReflectionRequest::kFileContainingExtension: {
      const Descriptor* type = pool_->FindMessageTypeByName(
          request.file_containing_extension().containing_type());
      if (type == nullptr) {
        *status = absl::NotFoundError("Type not found.");
        return nullptr;
      }
      const FieldDescriptor* extension = pool_->FindExtensionByNumber(
          type, request.file_containing_extension().extension_number());
      if (extension == nullptr) {
        *status = absl::NotFoundError("Extension not found.");
        return nullptr;
      }
      return extension->file();
    }
    default:
      *status = absl::InternalError("not a file request");
      return nullptr;
  }
}

}  // namespace dualrpc::inspection
