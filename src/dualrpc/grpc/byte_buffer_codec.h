#ifndef DUALRPC_GRPC_BYTE_BUFFER_CODEC_H_
#define DUALRPC_GRPC_BYTE_BUFFER_CODEC_H_

#include <grpcpp/support/byte_buffer.h>

#include "absl/status/status.h"
#include "google/protobuf/message_lite.h"

namespace dualrpc::grpc {

// Protobuf messages to and from grpc::ByteBuffer without an intermediate
// string (large messages are written into slices in place).

// Replaces `buffer`'s contents with `message`'s encoding. INTERNAL if the
// message cannot be serialized.
absl::Status SerializeToByteBuffer(const google::protobuf::MessageLite& message,
                                   ::grpc::ByteBuffer* buffer);

// Replaces `message` with the message encoded in `buffer`. INVALID_ARGUMENT
// if `buffer` holds no message or not a valid encoding of `message`'s type.
absl::Status ParseFromByteBuffer(const ::grpc::ByteBuffer& buffer,
                                 google::protobuf::MessageLite* message);

}  // namespace dualrpc::grpc

#endif  // DUALRPC_GRPC_BYTE_BUFFER_CODEC_H_
