#ifndef DUALRPC_RPC_CHANNEL_H_
#define DUALRPC_RPC_CHANNEL_H_

#include "absl/strings/string_view.h"
#include "google/protobuf/message_lite.h"
#include "dualrpc/rpc/call.h"

namespace dualrpc::rpc {

// A transport-neutral way to call methods on one server. Generated clients
// (protoc-gen-dualrpc) are written against this interface only; the gRPC
// channel and the framed channel implement it. Thread-safe: many calls may
// run at once from many threads.
class Channel {
 public:
  virtual ~Channel() = default;

  // Starts a unary call of `method`, a gRPC path such as
  // "/dualrpc.v1.FileService/Echo". `request` is serialized before this
  // returns. `response` is filled in before `done` runs with OK, and must
  // stay valid until then. Failures (including transport failures, mapped
  // to gRPC codes: UNAVAILABLE for a lost connection, DEADLINE_EXCEEDED at
  // the deadline) are reported through `done`, never thrown.
  virtual void StartUnaryCall(absl::string_view method,
                              const google::protobuf::MessageLite& request,
                              google::protobuf::MessageLite* response,
                              const CallOptions& options, UnaryDone done) = 0;
};

}  // namespace dualrpc::rpc

#endif  // DUALRPC_RPC_CHANNEL_H_
