#include "dualrpc/grpc/byte_buffer_codec.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "dualrpc/grpc/status_conversion.h"

namespace dualrpc::grpc {

absl::Status SerializeToByteBuffer(const google::protobuf::MessageLite& message,
                                   ::grpc::ByteBuffer* buffer) {
  bool own_buffer = false;
  return FromGrpcStatus(::grpc::GenericSerialize<::grpc::ProtoBufferWriter,
                                               google::protobuf::MessageLite>(
      message, buffer, &own_buffer));
}

absl::Status ParseFromByteBuffer(const ::grpc::ByteBuffer& buffer,
                                 google::protobuf::MessageLite* message) {
  if (!buffer.Valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no ", message->GetTypeName(), " message"));
  }
  // The reader needs a mutable buffer; the copy shares the slices.
  ::grpc::ByteBuffer shared(buffer);
  ::grpc::ProtoBufferReader reader(&shared);
  if (!reader.status().ok() || !message->ParseFromZeroCopyStream(&reader)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot parse the message as ", message->GetTypeName()));
  }
  return absl::OkStatus();
}

}  // namespace dualrpc::grpc
