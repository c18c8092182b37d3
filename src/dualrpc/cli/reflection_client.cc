#include "dualrpc/cli/reflection_client.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/client_call.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/reflection/v1/reflection.pb.h"

namespace dualrpc::cli {
namespace {

using ::google::protobuf::FileDescriptorProto;

// An error_response as a Status; a code outside the gRPC range is UNKNOWN.
absl::Status ErrorResponseStatus(
    const ::grpc::reflection::v1alpha::ErrorResponse& error) {
  const int code = error.error_code();
  const bool known = code > 0 && code <= 16;
  return absl::Status(
      known ? static_cast<absl::StatusCode>(code) : absl::StatusCode::kUnknown,
      error.error_message());
}

}  // namespace

void ReflectionClient::BuildErrors::AddError(
    const std::string& filename, const std::string& element_name,
    const google::protobuf::Message* /*descriptor*/, ErrorLocation /*location*/,
    const std::string& message) {
  if (first_error.empty()) {
    first_error = absl::StrCat(filename, ": ", element_name, ": ", message);
  }
}

ReflectionClient::ReflectionClient(rpc::Channel* channel,
                                   absl::Duration timeout)
    : channel_(channel), timeout_(timeout), pool_(&database_, &build_errors_) {}

ReflectionClient::~ReflectionClient() {
  // A finished call, not a cancelled one: the server answers the half-close
  // with its status at once.
  // Not when the session's deadline is (nearly) up: the call is ending on
  // its own then, and a half-close racing that end is left to StreamCall's
  // destructor (which cancels).
  if (session_ != nullptr &&
      absl::Now() + absl::Milliseconds(200) < session_deadline_) {
    session_->WritesDone();
    session_->Finish().IgnoreError();
  }
}

absl::StatusOr<ReflectionClient::ServerReflectionResponse>
ReflectionClient::CallOnStream(absl::string_view path,
                               const ServerReflectionRequest& request) {
  if (session_ == nullptr) {
    rpc::CallOptions options;
    options.timeout = timeout_;
    session_deadline_ = absl::Now() + timeout_;
    session_ = std::make_unique<StreamCall>(
        *channel_, path, rpc::MethodKind::kBidiStreaming, options);
  }
  ServerReflectionResponse response;
  if (session_->Write(request) && session_->Read(&response)) return response;
  absl::Status status = session_->Finish();
  session_.reset();
  if (status.ok()) {
    status = absl::InternalError(
        "the reflection stream ended without answering a request");
  }
  return status;
}

absl::StatusOr<ReflectionClient::ServerReflectionResponse>
ReflectionClient::Call(absl::string_view path, bool unary_form,
                       const ServerReflectionRequest& request) {
  if (!unary_form) return CallOnStream(path, request);
  rpc::CallOptions options;
  options.timeout = timeout_;
  if (path == kServerReflectionInfoPath) {
    return rpc::CallUnaryAndWait<ServerReflectionResponse>(*channel_, path,
                                                           request, options);
  }
  // v1's messages are v1alpha's field for field (grpc's v1 reflection.proto
  // is v1alpha's, renamed), so each converts to the other by its bytes.
  ::grpc::reflection::v1::ServerReflectionRequest v1_request;
  if (!v1_request.ParseFromString(request.SerializeAsString())) {
    return absl::InternalError("cannot convert a v1alpha request to v1");
  }
  absl::StatusOr<::grpc::reflection::v1::ServerReflectionResponse> v1_response =
      rpc::CallUnaryAndWait<::grpc::reflection::v1::ServerReflectionResponse>(
          *channel_, path, v1_request, options);
  if (!v1_response.ok()) return v1_response.status();
  ServerReflectionResponse response;
  if (!response.ParseFromString(v1_response->SerializeAsString())) {
    return absl::InternalError("cannot convert a v1 response to v1alpha");
  }
  return response;
}

absl::StatusOr<ReflectionClient::ServerReflectionResponse>
ReflectionClient::Ask(const ServerReflectionRequest& request) {
  absl::StatusOr<ServerReflectionResponse> response;
  if (!method_path_.empty()) {
    response = Call(method_path_, unary_form_, request);
  } else {
    // Only a call-level UNIMPLEMENTED (no such method, or no streams) means
    // "try the next way"; anything else, failure included, is this
    // server's answer and settles nothing until a way has answered.
    struct Way {
      absl::string_view path;
      bool unary_form;
    };
    constexpr Way kWays[] = {{kServerReflectionV1InfoPath, false},
                             {kServerReflectionInfoPath, false},
                             {kServerReflectionV1InfoPath, true},
                             {kServerReflectionInfoPath, true}};
    for (const Way& way : kWays) {
      response = Call(way.path, way.unary_form, request);
      if (response.ok()) {
        method_path_ = way.path;
        unary_form_ = way.unary_form;
      }
      if (response.status().code() != absl::StatusCode::kUnimplemented) break;
    }
  }
  if (!response.ok()) return response.status();
  if (response->has_error_response()) {
    return ErrorResponseStatus(response->error_response());
  }
  return response;
}

absl::StatusOr<std::vector<std::string>> ReflectionClient::ListServices() {
  ServerReflectionRequest request;
  request.set_list_services("");
  absl::StatusOr<ServerReflectionResponse> response = Ask(request);
  if (!response.ok()) return response.status();
  if (!response->has_list_services_response()) {
    return absl::InternalError(
        "server answered list_services with another kind of response");
  }
  std::vector<std::string> names;
  for (const auto& service : response->list_services_response().service()) {
    names.push_back(service.name());
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status ReflectionClient::LoadSymbol(absl::string_view symbol) {
  const std::string name(symbol);
  if (pool_.FindFileContainingSymbol(name) != nullptr) {
    return absl::OkStatus();
  }
  ServerReflectionRequest request;
  request.set_file_containing_symbol(name);
  absl::StatusOr<ServerReflectionResponse> response = Ask(request);
  if (!response.ok()) {
    return absl::Status(response.status().code(),
                        absl::StrCat("cannot resolve \"", name,
                                     "\": ", response.status().message()));
  }
  if (absl::Status added = AddFiles(*response); !added.ok()) return added;
  // Built now rather than on demand: a bad file fails here, with its
  // reason, and package names (which the database does not index) resolve.
  for (const std::string& file_name : file_names_) {
    if (pool_.FindFileByName(file_name) == nullptr) {
      return absl::InternalError(
          absl::StrCat("server sent descriptors that do not build: ",
                       build_errors_.first_error));
    }
  }
  if (pool_.FindFileContainingSymbol(name) == nullptr) {
    return absl::InternalError(
        absl::StrCat("server sent no descriptor defining \"", name, "\""));
  }
  return absl::OkStatus();
}

absl::Status ReflectionClient::AddFileResponse(
    const ServerReflectionResponse& response, std::vector<std::string>* added) {
  if (!response.has_file_descriptor_response()) {
    return absl::InternalError(
        "server answered a file request with another kind of response");
  }
  for (const std::string& serialized :
       response.file_descriptor_response().file_descriptor_proto()) {
    FileDescriptorProto file;
    if (!file.ParseFromString(serialized)) {
      return absl::InternalError("server sent an unparseable file descriptor");
    }
    if (file_names_.count(file.name()) != 0) continue;
    if (!database_.Add(file)) {
      return absl::InternalError(absl::StrCat(
          "server sent a file descriptor that clashes with another: ",
          file.name()));
    }
    file_names_.insert(file.name());
    added->push_back(file.name());
  }
  return absl::OkStatus();
}

absl::Status ReflectionClient::AddFiles(
    const ServerReflectionResponse& response) {
  // Files whose imports are yet to be checked.
  std::vector<std::string> unchecked;
  if (absl::Status added = AddFileResponse(response, &unchecked); !added.ok()) {
    return added;
  }
  // Servers send the transitive imports along, but need not: fetch the
  // rest by name. Each fetch adds the asked-for file or fails, so this ends.
  while (!unchecked.empty()) {
    FileDescriptorProto file;
    database_.FindFileByName(unchecked.back(), &file);
    unchecked.pop_back();
    for (const std::string& dependency : file.dependency()) {
      if (file_names_.count(dependency) != 0) continue;
      ServerReflectionRequest request;
      request.set_file_by_filename(dependency);
      absl::StatusOr<ServerReflectionResponse> fetched = Ask(request);
      if (!fetched.ok()) {
        return absl::Status(fetched.status().code(),
                            absl::StrCat("cannot fetch \"", dependency,
                                         "\": ", fetched.status().message()));
      }
      if (absl::Status added = AddFileResponse(*fetched, &unchecked);
          !added.ok()) {
        return added;
      }
      if (file_names_.count(dependency) == 0) {
        return absl::InternalError(absl::StrCat(
            "server did not send \"", dependency, "\" when asked for it"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace dualrpc::cli
