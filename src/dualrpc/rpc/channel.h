#ifndef DUALRPC_RPC_CHANNEL_H_
#define DUALRPC_RPC_CHANNEL_H_

#include "absl/strings/string_view.h"
#include "dualrpc/rpc/call.h"
#include "google/protobuf/message_lite.h"

namespace dualrpc::rpc {

// A transport-neutral way to call methods on one server. Generated clients
// (protoc-gen-dualrpc) are written against this interface only; the gRPC
// channel and the raw channel implement it. Thread-safe: many calls may
// run at once from many threads.
//
// Destruction (every implementation keeps all of this):
// - A Channel may be destroyed on any thread, including inside one of its
//   own done callbacks, and with calls in flight.
// - Destruction cancels the calls in flight. Each call's done still runs
//   exactly once: with the call's own result if that arrived first, else
//   with CANCELLED (or UNAVAILABLE if the connection was lost first).
// - Destroyed outside its dones, a Channel has run every call's done by the
//   time its destructor returns (the destructor may wait for dones that are
//   running on the transport's threads). Destroyed inside one of its dones,
//   it cannot wait for the transport's other threads: other calls' dones may
//   then run after the destructor returns, on those threads.
// - A done must not use the Channel being destroyed, and no call may be
//   started on a Channel once its destruction has begun.
class Channel {
 public:
  // See "Destruction" above.
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
