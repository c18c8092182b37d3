#ifndef DUALRPC_RPC_STREAM_H_
#define DUALRPC_RPC_STREAM_H_

#include <cstdint>

#include "absl/status/status.h"
#include "dualrpc/rpc/call.h"
#include "google/protobuf/message.h"
#include "google/protobuf/message_lite.h"

namespace dualrpc::rpc {

// Streaming calls, transport-neutral, in the shape of grpc++'s callback API
// (grpcpp/support/server_callback.h, client_callback.h; the route_guide
// callback example): the application starts one operation at a time in each
// direction and hears of its completion through a reactor's virtual
// methods; the call ends with one status and one final OnDone.
//
// Both transports implement these interfaces: dualrpc::grpc with grpc++'s
// callback reactors, dualrpc::raw with MESSAGE frames and per-call flow
// control (docs/PROTOCOL.md §7). Generated code (protoc-gen-dualrpc) wraps
// them in typed reactors (reactor.h); applications rarely use these
// type-erased forms directly.

// The four gRPC call kinds.
enum class MethodKind : std::uint8_t {
  kUnary,            // one request, one response
  kClientStreaming,  // a stream of requests, one response
  kServerStreaming,  // one request, a stream of responses
  kBidiStreaming,    // a stream each way
};

// True if the client sends a stream of requests.
constexpr bool ClientStreams(MethodKind kind) {
  return kind == MethodKind::kClientStreaming ||
         kind == MethodKind::kBidiStreaming;
}
// True if the server sends a stream of responses.
constexpr bool ServerStreams(MethodKind kind) {
  return kind == MethodKind::kServerStreaming ||
         kind == MethodKind::kBidiStreaming;
}

// ---- Server side ----------------------------------------------------------

// What the implementation of a streaming method is told about its call. The
// implementation subclasses it (usually through reactor.h's typed bases) and
// owns it; the transport calls these methods and never deletes the reactor.
//
// Threads: callbacks run on transport threads (the raw server's event loop,
// gRPC's callback threads). OnReadDone and OnWriteDone may run concurrently
// with each other, as in grpc++; every other pair is ordered as stated.
// Callbacks must not block: blocking work (disk, locks held long) belongs on
// an executor, which may then start the next operation from its own thread.
// No callback runs before the method's start function has returned, and
// none runs inside the Start*/Finish call that causes it.
class ServerStreamReactor {
 public:
  virtual ~ServerStreamReactor() = default;

  // A ServerStream::StartRead finished. true: a request was read into the
  // message passed. false: there will be no more (the client half-closed,
  // or the call ended); the message is untouched.
  virtual void OnReadDone(bool /*ok*/) {}
  // A ServerStream::StartWrite finished. true: the message was taken within
  // the call's flow-control window and will be sent unless the call ends;
  // the next write may start. false: the call ended (cancelled, deadline,
  // connection lost); no later write will succeed.
  virtual void OnWriteDone(bool /*ok*/) {}
  // The call was cancelled: the client cancelled, its deadline passed or its
  // connection was lost. At most once, before OnDone. Operations in progress
  // and later ones complete with ok = false. The implementation must still
  // call Finish (its status is then dropped).
  virtual void OnCancel() {}
  // Last, exactly once: after Finish was called and every started operation
  // has completed. The transport never touches the reactor or the stream
  // again; the reactor may delete itself here.
  virtual void OnDone() = 0;
};

// The transport's side of one streaming call, as its implementation drives
// it; also the call's ServerCallContext. Owned by the transport; valid until
// the reactor's OnDone returns. Thread-safe: the methods may be called on
// any thread, including inside the reactor's callbacks.
class ServerStream : public ServerCallContext {
 public:
  // Reads the next request into `request`, which must stay valid until
  // OnReadDone. At most one read outstanding. Client-streaming and bidi
  // methods only (the one request of a server-streaming method is passed to
  // its start function).
  virtual void StartRead(google::protobuf::Message* request) = 0;
  // Sends `response`, serialized before this returns (the message may be
  // reused at once); OnWriteDone says when the next may start. At most one
  // write outstanding. Server-streaming and bidi methods only (the one
  // response of a client-streaming method is the start function's
  // `response`, sent with Finish).
  virtual void StartWrite(const google::protobuf::Message& response) = 0;
  // Ends the call with `status`, with the trailers added through
  // AddResponseMetadata, and (for client-streaming methods, when `status` is
  // OK) the response. Exactly once; not while a write is outstanding. A read
  // outstanding completes with ok = false. OnDone follows.
  virtual void Finish(absl::Status status) = 0;

 protected:
  ~ServerStream() override = default;
};

// ---- Client side ----------------------------------------------------------

// What the caller of a streaming method is told about its call. Owned by
// the caller; the transport never deletes it. Threads as for
// ServerStreamReactor: transport threads; OnReadDone and OnWriteDone may run
// concurrently; no callback runs before ClientStream::Start, nor inside the
// call that causes it, except that a call which cannot begin at all may run
// OnDone inside Start (Channel::NewStream).
class ClientStreamReactor {
 public:
  virtual ~ClientStreamReactor() = default;

  // A ClientStream::StartRead finished. true: a response was read into the
  // message passed. false: there will be no more (the call is ending; OnDone
  // follows with its status).
  virtual void OnReadDone(bool /*ok*/) {}
  // A ClientStream::StartWrite finished. true: the request was taken within
  // the flow-control window; the next may start. false: the call ended, no
  // later write will succeed.
  virtual void OnWriteDone(bool /*ok*/) {}
  // StartWritesDone finished: true if the half-close was taken.
  virtual void OnWritesDoneDone(bool /*ok*/) {}
  // Last, exactly once, after every started operation has completed: the
  // call's status (CallOptions::response_metadata and response_headers are
  // filled in before). The transport never touches the reactor or the
  // stream again; the reactor may delete itself here.
  virtual void OnDone(const absl::Status& status) = 0;
};

// The transport's side of one client streaming call (Channel::NewStream).
// Owned by the transport; valid until the reactor's OnDone returns.
// Thread-safe: any thread, including inside the reactor's callbacks.
class ClientStream {
 public:
  // Begins the call: sends the method and the request metadata. Exactly
  // once. Operations may be started before it (they begin with the call);
  // no reactor callback runs before it.
  virtual void Start() = 0;
  // Reads the next response into `response`, which must stay valid until
  // OnReadDone. At most one read outstanding. Every kind but unary: a
  // client-streaming call has exactly one response when it succeeds.
  virtual void StartRead(google::protobuf::MessageLite* response) = 0;
  // Sends `request`, serialized before this returns. At most one write
  // outstanding. A server-streaming call takes exactly one write, which
  // also half-closes (StartWritesDone is then not needed).
  virtual void StartWrite(const google::protobuf::MessageLite& request) = 0;
  // Half-closes: the client sends no more requests. Once; not while a write
  // is outstanding.
  virtual void StartWritesDone() = 0;
  // Cancels the call: OnDone runs with CANCELLED unless the call already
  // ended. Any number of times, at any point after Start.
  virtual void Cancel() = 0;

 protected:
  ~ClientStream() = default;
};

}  // namespace dualrpc::rpc

#endif  // DUALRPC_RPC_STREAM_H_
