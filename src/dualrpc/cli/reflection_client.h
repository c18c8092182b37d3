#ifndef DUALRPC_CLI_REFLECTION_CLIENT_H_
#define DUALRPC_CLI_REFLECTION_CLIENT_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dualrpc/cli/descriptor_source.h"
#include "dualrpc/rpc/channel.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor_database.h"
#include "src/proto/grpc/reflection/v1alpha/reflection.pb.h"

namespace dualrpc::cli {

// The reflection methods, tried in this order (grpcurl's). Over gRPC each
// is a bidi-streaming service, called here as unary: one request,
// half-close, and the server writes exactly one response per request before
// ending the call. Over the raw protocol it is unary (docs/PROTOCOL.md §10).
// v1 is v1alpha under another package: the same messages, field for field.
inline constexpr char kServerReflectionV1InfoPath[] =
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
inline constexpr char kServerReflectionInfoPath[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

// A server's services and message types learned through server reflection,
// one request per call, over any Channel, so no .proto is needed on this
// side. Speaks grpc.reflection.v1 and, if the server answers that with
// UNIMPLEMENTED, grpc.reflection.v1alpha; the first version that answers is
// used for every later request. Descriptors the server sends accumulate in
// pool(), from which DynamicMessageFactory makes messages.
// Not thread-safe. Does not own `channel`, which must outlive this.
class ReflectionClient final : public DescriptorSource {
 public:
  // Each reflection call has `timeout` as its deadline.
  ReflectionClient(rpc::Channel* channel, absl::Duration timeout);

  ReflectionClient(const ReflectionClient&) = delete;
  ReflectionClient& operator=(const ReflectionClient&) = delete;

  // The server's services, sorted.
  absl::StatusOr<std::vector<std::string>> ListServices() override;

  // Files already loaded are not fetched again. NOT_FOUND when the server
  // does not know the symbol; a failed call's status as it came (UNIMPLEMENTED
  // if the server serves neither version); INTERNAL if the server's
  // descriptors do not build.
  absl::Status LoadSymbol(absl::string_view symbol) override;

  // Only what LoadSymbol loaded; looking something up here never calls the
  // server.
  const google::protobuf::DescriptorPool& pool() const override {
    return pool_;
  }

  // The path of the reflection method in use: empty until a server has
  // answered, then kServerReflectionV1InfoPath or kServerReflectionInfoPath.
  absl::string_view method_path() const { return method_path_; }

 private:
  using ServerReflectionRequest =
      ::grpc::reflection::v1alpha::ServerReflectionRequest;
  using ServerReflectionResponse =
      ::grpc::reflection::v1alpha::ServerReflectionResponse;

  // Adds the files of a file_descriptor_response to database_, then
  // fetches, by name, the dependencies the server left out.
  absl::Status AddFiles(const ServerReflectionResponse& response);
  // Adds the files of one file_descriptor_response that are new, naming
  // them in `added`.
  absl::Status AddFileResponse(const ServerReflectionResponse& response,
                               std::vector<std::string>* added);
  // One request on method_path_, settling it first if need be; an
  // error_response comes back as its Status.
  absl::StatusOr<ServerReflectionResponse> Ask(
      const ServerReflectionRequest& request);
  // One request on `path`, whose version's messages are wire-compatible
  // with v1alpha's. The call's status, not the error_response's.
  absl::StatusOr<ServerReflectionResponse> Call(
      absl::string_view path, const ServerReflectionRequest& request);

  // Keeps the first reason a file the server sent failed to build.
  class BuildErrors final
      : public google::protobuf::DescriptorPool::ErrorCollector {
   public:
    void AddError(const std::string& filename, const std::string& element_name,
                  const google::protobuf::Message* descriptor,
                  ErrorLocation location, const std::string& message) override;
    std::string first_error;
  };

  rpc::Channel* const channel_;
  const absl::Duration timeout_;
  absl::string_view method_path_;  // see method_path()
  // What the server sent; pool_ builds descriptors from it on demand.
  google::protobuf::SimpleDescriptorDatabase database_;
  std::set<std::string> file_names_;  // the files in database_
  BuildErrors build_errors_;
  google::protobuf::DescriptorPool pool_;
};

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_REFLECTION_CLIENT_H_
