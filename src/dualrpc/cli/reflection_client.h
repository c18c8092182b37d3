#ifndef DUALRPC_CLI_REFLECTION_CLIENT_H_
#define DUALRPC_CLI_REFLECTION_CLIENT_H_

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dualrpc/cli/descriptor_source.h"
#include "dualrpc/cli/stream_call.h"
#include "dualrpc/rpc/channel.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor_database.h"
#include "src/proto/grpc/reflection/v1alpha/reflection.pb.h"

namespace dualrpc::cli {

// The reflection methods, tried in this order (grpcurl's). Each is a
// bidi-streaming method: one response per request, in order, on one stream
// (docs/PROTOCOL.md §10 on the raw wire). A server that cannot stream (a
// raw 1.0 server, a channel without streams) is asked the 1.0 way: each
// request a unary call. v1 is v1alpha under another package: the same
// messages, field for field, so v1alpha's messages are sent on both.
inline constexpr char kServerReflectionV1InfoPath[] =
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
inline constexpr char kServerReflectionInfoPath[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

// A server's services and message types learned through server reflection
// over any Channel, so no .proto is needed on this side. Asks every question
// on one bidi stream, opened at the first question and kept for the
// client's life (as grpcurl does): grpc.reflection.v1 first and, if the
// call ends with UNIMPLEMENTED before answering, grpc.reflection.v1alpha;
// if streams of both are UNIMPLEMENTED, the same two as unary calls (the
// raw protocol 1.0 form). The first that answers is used for every later
// request. Descriptors the server sends accumulate in pool(), from which
// DynamicMessageFactory makes messages.
// Not thread-safe. Does not own `channel`, which must outlive this.
// Destruction ends the stream as grpcurl does: a half-close, then the
// server's status (bounded by the stream's deadline).
class ReflectionClient final : public DescriptorSource {
 public:
  // The stream (or, in the unary form, each call) has `timeout` as its
  // deadline.
  ReflectionClient(rpc::Channel* channel, absl::Duration timeout);
  ~ReflectionClient() override;

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
  // Whether the method in use is called in the unary form (one call per
  // request) rather than on one stream. Meaningful once method_path() is
  // set.
  bool unary_form() const { return unary_form_; }

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
  // with v1alpha's, on the session stream (opened on `path` if there is
  // none) or, with `unary_form`, as a unary call. The call's status, not
  // the error_response's; a stream that failed is closed, so that the next
  // request opens another.
  absl::StatusOr<ServerReflectionResponse> Call(
      absl::string_view path, bool unary_form,
      const ServerReflectionRequest& request);
  absl::StatusOr<ServerReflectionResponse> CallOnStream(
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
  bool unary_form_ = false;        // see unary_form()
  // The session stream, on method_path_ once settled; null until the first
  // question and after a failure.
  std::unique_ptr<StreamCall> session_;
  absl::Time session_deadline_ = absl::InfinitePast();
  // What the server sent; pool_ builds descriptors from it on demand.
  google::protobuf::SimpleDescriptorDatabase database_;
  std::set<std::string> file_names_;  // the files in database_
  BuildErrors build_errors_;
  google::protobuf::DescriptorPool pool_;
};

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_REFLECTION_CLIENT_H_
