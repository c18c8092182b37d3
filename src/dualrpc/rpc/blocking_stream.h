#ifndef DUALRPC_RPC_BLOCKING_STREAM_H_
#define DUALRPC_RPC_BLOCKING_STREAM_H_

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/channel.h"
#include "dualrpc/rpc/stream.h"
#include "google/protobuf/message_lite.h"

namespace dualrpc::rpc {

// Blocking streaming calls over any Channel, in the shape of grpc++'s sync
// ClientReader / ClientWriter / ClientReaderWriter; what the blocking forms
// of generated streaming methods return.
//
// Waits: every method blocks until the transport completes the operation;
// the only bound is the call's own deadline (CallOptions::timeout), which
// the transport enforces, and Cancel. Without a deadline, a Read waits as
// long as the server sends nothing and keeps the call open.
//
// Threads: use these from ordinary threads, never on a transport thread
// (inside a reactor callback or a unary done): a wait there could stop the
// transport from completing the very operation waited for. One thread may
// Read while another Writes; Cancel may be called from any thread at any
// time; everything else from one thread at a time.
//
// Destruction: on any ordinary thread, at any point. Destroying a call that
// has not ended cancels it and waits for the transport to end it (OnDone),
// so nothing leaks and no callback runs after the destructor returns.

namespace internal {

// The type-erased core of the three helpers: one streaming call's
// ClientStreamReactor, turning each completion into the end of a wait.
class BlockingStreamCore final : public ClientStreamReactor {
 public:
  BlockingStreamCore() = default;
  BlockingStreamCore(const BlockingStreamCore&) = delete;
  BlockingStreamCore& operator=(const BlockingStreamCore&) = delete;
  // Cancels the call unless it ended, and waits for OnDone.
  ~BlockingStreamCore() override;

  // Creates the call on `channel`, starts `first_write` (server streaming:
  // the one request) and `first_read` (client streaming: the one response,
  // which must stay valid until Finish returns) when not null, then begins
  // the call. Once, before anything else.
  void Begin(Channel& channel, absl::string_view method, MethodKind kind,
             const CallOptions& options,
             const google::protobuf::MessageLite* first_write,
             google::protobuf::MessageLite* first_read);

  // False at the end of the stream (or once the call ended); `response` is
  // then unspecified.
  bool Read(google::protobuf::MessageLite* response);
  // False once the call ended (or half-closed): no later write succeeds.
  bool Write(const google::protobuf::MessageLite& request);
  // Half-closes. False if the call ended first or a half-close was already
  // made.
  bool WritesDone();
  // Waits for the call's status. Half-closes first when `half_close` and no
  // half-close was made; reads and drops the responses left when
  // `drain` (not null: a scratch message of the response type).
  absl::Status Finish(bool half_close, google::protobuf::MessageLite* drain);
  void Cancel();

  // ClientStreamReactor; on transport threads.
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnWritesDoneDone(bool ok) override;
  void OnDone(const absl::Status& status) override;

 private:
  // Runs `op` on stream_ unless the call ended; OnDone waits for it to
  // return, so the stream stays valid during `op`. False if it ended.
  template <typename Op>
  bool CallStream(Op op) ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex mu_;
  // The call; nullptr from OnDone on (the transport may then free it).
  ClientStream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Stream methods being called outside mu_ right now (CallStream).
  int calls_in_stream_ ABSL_GUARDED_BY(mu_) = 0;
  bool read_outstanding_ ABSL_GUARDED_BY(mu_) = false;
  bool read_ok_ ABSL_GUARDED_BY(mu_) = false;
  // A read returned false: there will be no more responses.
  bool reads_ended_ ABSL_GUARDED_BY(mu_) = false;
  bool write_outstanding_ ABSL_GUARDED_BY(mu_) = false;
  bool write_ok_ ABSL_GUARDED_BY(mu_) = false;
  // A write failed or the half-close was started: no more writes.
  bool writes_ended_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_started_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_outstanding_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_ok_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal

// Server streaming: reads the responses, then Finish.
template <typename Response>
class ClientReader {
 public:
  // Calls `method` with `request` (sent before this returns).
  ClientReader(Channel& channel, absl::string_view method,
               const google::protobuf::MessageLite& request,
               const CallOptions& options) {
    core_.Begin(channel, method, MethodKind::kServerStreaming, options,
                &request, nullptr);
  }
  ClientReader(const ClientReader&) = delete;
  ClientReader& operator=(const ClientReader&) = delete;

  // The next response; false at the end of the stream (Finish tells why).
  bool Read(Response* response) { return core_.Read(response); }
  // The call's status. Responses not read yet are read and dropped, so a
  // stream that does not end by itself (a watch) needs Cancel first, or
  // this waits for the deadline. Once.
  absl::Status Finish() {
    Response drain;
    return core_.Finish(/*half_close=*/false, &drain);
  }
  // Ends the call with CANCELLED unless it already ended.
  void Cancel() { core_.Cancel(); }

 private:
  internal::BlockingStreamCore core_;
};

// Client streaming: writes the requests, then Finish, which half-closes
// (unless WritesDone did) and waits for the one response and the status.
template <typename Request>
class ClientWriter {
 public:
  // Calls `method`; `*response` (not owned) is filled in when Finish
  // returns OK, and must stay valid until Finish returns or this is
  // destroyed.
  ClientWriter(Channel& channel, absl::string_view method,
               google::protobuf::MessageLite* response,
               const CallOptions& options) {
    core_.Begin(channel, method, MethodKind::kClientStreaming, options,
                nullptr, response);
  }
  ClientWriter(const ClientWriter&) = delete;
  ClientWriter& operator=(const ClientWriter&) = delete;

  // Sends `request` (flow control may make this wait); false once the call
  // ended: Finish tells why.
  bool Write(const Request& request) { return core_.Write(request); }
  // Half-closes: no more writes. False if the call already ended.
  bool WritesDone() { return core_.WritesDone(); }
  // The call's status, at any point (half-closes first). Once.
  absl::Status Finish() { return core_.Finish(/*half_close=*/true, nullptr); }
  void Cancel() { core_.Cancel(); }

 private:
  internal::BlockingStreamCore core_;
};

// Bidirectional streaming.
template <typename Request, typename Response>
class ClientReaderWriter {
 public:
  ClientReaderWriter(Channel& channel, absl::string_view method,
                     const CallOptions& options) {
    core_.Begin(channel, method, MethodKind::kBidiStreaming, options, nullptr,
                nullptr);
  }
  ClientReaderWriter(const ClientReaderWriter&) = delete;
  ClientReaderWriter& operator=(const ClientReaderWriter&) = delete;

  bool Read(Response* response) { return core_.Read(response); }
  bool Write(const Request& request) { return core_.Write(request); }
  bool WritesDone() { return core_.WritesDone(); }
  // The call's status: half-closes unless WritesDone did, reads and drops
  // the responses not read yet (see ClientReader::Finish), and waits for
  // the end. Once.
  absl::Status Finish() {
    Response drain;
    return core_.Finish(/*half_close=*/true, &drain);
  }
  void Cancel() { core_.Cancel(); }

 private:
  internal::BlockingStreamCore core_;
};

}  // namespace dualrpc::rpc

#endif  // DUALRPC_RPC_BLOCKING_STREAM_H_
