#ifndef DUALRPC_RPC_CHANNEL_H_
#define DUALRPC_RPC_CHANNEL_H_

#include "absl/strings/string_view.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/stream.h"
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

  // Creates a streaming call of `method` (`kind` is not kUnary), to be begun
  // with ClientStream::Start. Never fails here: a call that cannot be made
  // (the transport is shutting down, the server does not speak streaming)
  // ends with that status in `reactor`'s OnDone, which may then run inside
  // Start. `options.metadata` is sent with the call; its response_metadata
  // and response_headers pointers must stay valid until OnDone. `reactor`
  // is not owned and must stay valid until its OnDone has returned; so is
  // the returned stream valid until then, and no longer. The destruction
  // contract above covers streams: destroying the Channel cancels them, and
  // each reactor's OnDone runs exactly once.
  virtual ClientStream* NewStream(absl::string_view method, MethodKind kind,
                                  const CallOptions& options,
                                  ClientStreamReactor* reactor) = 0;
};

// A ClientStream whose Start ends the call at once with `status` (never OK)
// and deletes the stream: what a Channel returns for a call it cannot make.
// Operations started on it complete with ok = false before OnDone.
ClientStream* NewFailedStream(ClientStreamReactor* reactor,
                              absl::Status status);

}  // namespace dualrpc::rpc

#endif  // DUALRPC_RPC_CHANNEL_H_
