#include "dualrpc/grpc/byte_buffer_codec.h"

#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include <climits>
#include <string>

#include "absl/strings/str_cat.h"

namespace dualrpc::grpc {

absl::Status SerializeToByteBuffer(const google::protobuf::MessageLite& message,
                                   ::grpc::ByteBuffer* buffer) {
  // Public API only (not grpc::GenericSerialize, an impl/codegen internal).
  const size_t size = message.ByteSizeLong();
  if (size > static_cast<size_t>(INT_MAX)) {
    return absl::InternalError(
        absl::StrCat(message.GetTypeName(), " is too large to send"));
  }
  buffer->Clear();
  ::grpc::ProtoBufferWriter writer(buffer,
                                   ::grpc::kProtoBufferWriterMaxBufferLength,
                                   static_cast<int>(size));
  if (!message.SerializeToZeroCopyStream(&writer)) {
    return absl::InternalError(
        absl::StrCat("cannot serialize ", message.GetTypeName()));
  }
  return absl::OkStatus();
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
