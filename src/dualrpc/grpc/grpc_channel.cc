#include "dualrpc/grpc/grpc_channel.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/status.h>
#include <grpcpp/support/stub_options.h>

#include <map>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/grpc/byte_buffer_codec.h"
#include "dualrpc/grpc/status_conversion.h"
#include "dualrpc/rpc/metadata.h"

namespace dualrpc::grpc {
namespace {

// Everything one call needs until gRPC reports its end. Created by
// StartUnaryCall, destroyed in the completion callback.
struct GrpcCall {
  ::grpc::ClientContext context;
  std::string method;
  ::grpc::ByteBuffer request;
  ::grpc::ByteBuffer response;
  google::protobuf::MessageLite* response_message = nullptr;
  rpc::Metadata* response_metadata = nullptr;
  rpc::UnaryDone done;
};

void AppendMetadata(
    const std::multimap<::grpc::string_ref, ::grpc::string_ref>& from,
    rpc::Metadata* to) {
  for (const auto& [key, value] : from) {
    absl::string_view key_view(key.data(), key.size());
    if (absl::StartsWith(key_view, "grpc-")) continue;
    to->emplace_back(std::string(key_view),
                     std::string(value.data(), value.size()));
  }
}

void CompleteCall(std::unique_ptr<GrpcCall> call,
                  const ::grpc::Status& grpc_status) {
  absl::Status status = FromGrpcStatus(grpc_status);
  if (call->response_metadata != nullptr) {
    AppendMetadata(call->context.GetServerInitialMetadata(),
                   call->response_metadata);
    AppendMetadata(call->context.GetServerTrailingMetadata(),
                   call->response_metadata);
  }
  if (status.ok()) {
    absl::Status parsed =
        ParseFromByteBuffer(call->response, call->response_message);
    // As grpc++'s own stubs report an unreadable response.
    if (!parsed.ok()) status = absl::InternalError(parsed.message());
  }
  rpc::UnaryDone done = std::move(call->done);
  call.reset();
  std::move(done)(std::move(status));
}

}  // namespace

absl::StatusOr<std::shared_ptr<GrpcChannel>> GrpcChannel::Create(
    absl::string_view target, const GrpcChannelOptions& options) {
  if (target.empty()) {
    return absl::InvalidArgumentError("empty gRPC target");
  }
  if (options.channel_count < 1 ||
      options.channel_count > kMaxGrpcChannelCount) {
    return absl::InvalidArgumentError(
        absl::StrCat("channel_count ", options.channel_count, " is outside 1..",
                     kMaxGrpcChannelCount));
  }
  if (options.max_receive_message_bytes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_receive_message_bytes ",
                     options.max_receive_message_bytes, " is not positive"));
  }
  std::vector<std::unique_ptr<::grpc::GenericStub>> stubs;
  for (int index = 0; index < options.channel_count; ++index) {
    ::grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
    // Channels with equal arguments share gRPC's subchannels, and so one
    // connection; a distinct argument per channel gives each its own.
    args.SetInt(GRPC_ARG_CHANNEL_ID, index);
    stubs.push_back(
        std::make_unique<::grpc::GenericStub>(::grpc::CreateCustomChannel(
            std::string(target), ::grpc::InsecureChannelCredentials(), args)));
  }
  return std::shared_ptr<GrpcChannel>(new GrpcChannel(std::move(stubs)));
}

void GrpcChannel::StartUnaryCall(absl::string_view method,
                                 const google::protobuf::MessageLite& request,
                                 google::protobuf::MessageLite* response,
                                 const rpc::CallOptions& options, rpc::UnaryDone done) {
  // grpc++ aborts the process on metadata that gRPC core rejects.
  if (absl::Status valid = rpc::ValidateMetadata(options.metadata); !valid.ok()) {
    std::move(done)(std::move(valid));
    return;
  }
  auto call = std::make_unique<GrpcCall>();
  if (absl::Status serialized = SerializeToByteBuffer(request, &call->request);
      !serialized.ok()) {
    std::move(done)(std::move(serialized));
    return;
  }
  if (options.timeout != absl::InfiniteDuration()) {
    call->context.set_deadline(
        absl::ToChronoTime(absl::Now() + options.timeout));
  }
  for (const auto& [key, value] : options.metadata) {
    call->context.AddMetadata(key, value);
  }
  call->method = std::string(method);
  call->response_message = response;
  call->response_metadata = options.response_metadata;
  call->done = std::move(done);

  ::grpc::GenericStub& stub =
      *stubs_[next_stub_.fetch_add(1, std::memory_order_relaxed) %
              stubs_.size()];
  // Owned by the completion callback from here on.
  GrpcCall* in_flight = call.release();
  stub.UnaryCall(&in_flight->context, in_flight->method, ::grpc::StubOptions(),
                 &in_flight->request, &in_flight->response,
                 [in_flight](::grpc::Status status) {
                   CompleteCall(std::unique_ptr<GrpcCall>(in_flight), status);
                 });
}

}  // namespace dualrpc::grpc
