#ifndef DUALRPC_RPC_REACTOR_H_
#define DUALRPC_RPC_REACTOR_H_

#include <utility>

#include "absl/status/status.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/stream.h"

namespace dualrpc::rpc {

// Typed reactors over the type-erased streams of stream.h, named as in
// grpc++'s callback API. Applications subclass them and override the On*
// callbacks; generated code (protoc-gen-dualrpc) binds them to calls.
// The threading and ordering rules are stream.h's.

// ---- Server side ----------------------------------------------------------

// What the three server reactors share: the call's context and Finish.
class ServerReactor : public ServerStreamReactor {
 public:
  // The call's deadline, metadata, cancellation and peer.
  ServerCallContext* context() const { return stream_; }
  // Ends the call (ServerStream::Finish).
  void Finish(absl::Status status) { stream_->Finish(std::move(status)); }

 protected:
  // `stream` is the one the method's start function was given.
  explicit ServerReactor(ServerStream* stream) : stream_(stream) {}
  ServerStream* stream() const { return stream_; }

 private:
  ServerStream* const stream_;
};

// Client streaming: reads requests, then Finish fills in nothing more than
// the response the start function was given.
template <typename Request>
class ServerReadReactor : public ServerReactor {
 public:
  void StartRead(Request* request) { stream()->StartRead(request); }

 protected:
  using ServerReactor::ServerReactor;
};

// Server streaming: writes responses.
template <typename Response>
class ServerWriteReactor : public ServerReactor {
 public:
  void StartWrite(const Response& response) { stream()->StartWrite(response); }

 protected:
  using ServerReactor::ServerReactor;
};

// Bidirectional streaming.
template <typename Request, typename Response>
class ServerBidiReactor : public ServerReactor {
 public:
  void StartRead(Request* request) { stream()->StartRead(request); }
  void StartWrite(const Response& response) { stream()->StartWrite(response); }

 protected:
  using ServerReactor::ServerReactor;
};

// A reactor that ends its call with `status` as soon as it is created and
// deletes itself in OnDone: what a generated base class returns for a
// streaming method it does not implement (UNIMPLEMENTED). `Reactor` is one
// of the three typed server reactors above.
template <typename Reactor>
class FinishedReactor final : public Reactor {
 public:
  FinishedReactor(ServerStream* stream, absl::Status status)
      : Reactor(stream) {
    this->Finish(std::move(status));
  }
  void OnDone() override { delete this; }
};

// ---- Client side ----------------------------------------------------------

// What the three client reactors share. Generated stubs bind the reactor to
// a new call (BindStream); the application then begins it with StartCall.
class ClientReactor : public ClientStreamReactor {
 public:
  // Begins the call (ClientStream::Start). Once, after the stub bound it.
  void StartCall() { stream_->Start(); }
  // Cancels the call (ClientStream::Cancel); OnDone follows.
  void Cancel() { stream_->Cancel(); }

  // For generated stubs: the call this reactor drives. Once.
  void BindStream(ClientStream* stream) { stream_ = stream; }

 protected:
  ClientReactor() = default;
  ClientStream* stream() const { return stream_; }

 private:
  ClientStream* stream_ = nullptr;
};

// Server streaming: the stub sends the one request; the application reads.
template <typename Response>
class ClientReadReactor : public ClientReactor {
 public:
  void StartRead(Response* response) { stream()->StartRead(response); }
};

// Client streaming: the application writes, then half-closes; the stub
// reads the one response into the message it was given, which is filled in
// before OnDone(OK).
template <typename Request>
class ClientWriteReactor : public ClientReactor {
 public:
  void StartWrite(const Request& request) { stream()->StartWrite(request); }
  void StartWritesDone() { stream()->StartWritesDone(); }

  // The stub's read of the one response: not the application's business.
  void OnReadDone(bool) final {}
};

// Bidirectional streaming.
template <typename Request, typename Response>
class ClientBidiReactor : public ClientReactor {
 public:
  void StartRead(Response* response) { stream()->StartRead(response); }
  void StartWrite(const Request& request) { stream()->StartWrite(request); }
  void StartWritesDone() { stream()->StartWritesDone(); }
};

}  // namespace dualrpc::rpc

#endif  // DUALRPC_RPC_REACTOR_H_
