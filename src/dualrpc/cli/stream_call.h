#ifndef DUALRPC_CLI_STREAM_CALL_H_
#define DUALRPC_CLI_STREAM_CALL_H_

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/channel.h"
#include "dualrpc/rpc/stream.h"
#include "google/protobuf/message_lite.h"

namespace dualrpc::cli {

// One streaming call (any kind but unary) driven from ordinary threads,
// blocking, in the shape of grpc++'s sync ClientReaderWriter, over the
// type-erased messages of rpc/stream.h: what the CLI's commands (call,
// ls -R, reflection) use. The call is created and started by the
// constructor.
//
// Threads: any ordinary thread, never a transport thread (every method but
// Cancel waits for the transport). Read may run on one thread while Write
// or WritesDone runs on another (one operation per direction at a time, as
// rpc::ClientStream requires); Cancel and Finish from any thread. Every
// wait ends by the call's end at the latest, which its deadline
// (CallOptions::timeout) bounds.
//
// Lifetime: the rpc::ClientStream is used only while the call has not
// ended, under mu_, so OnDone (which takes mu_) cannot end it under a
// Start* in progress; the transport must not hold its own locks across
// reactor callbacks, as rpc::ClientStream's "callable inside callbacks"
// already requires.
class StreamCall final : private rpc::ClientStreamReactor {
 public:
  // `options`' response_headers and response_metadata pointers must stay
  // valid until Finish returns (or this is destroyed). `channel` is used
  // in the constructor only.
  StreamCall(rpc::Channel& channel, absl::string_view method,
             rpc::MethodKind kind, const rpc::CallOptions& options);
  // Cancels the call if it has not ended, and waits for its end.
  ~StreamCall() override;

  StreamCall(const StreamCall&) = delete;
  StreamCall& operator=(const StreamCall&) = delete;

  // Sends `request` (serialized before the transport takes it) and waits
  // until it was taken. False once the call has ended or a write failed:
  // then Finish tells why.
  bool Write(const google::protobuf::MessageLite& request);
  // Half-closes and waits for it to be taken. False as Write.
  bool WritesDone();
  // Waits for the next response and parses it into `response`. False at the
  // end of the response stream (then Finish).
  bool Read(google::protobuf::MessageLite* response);
  // Ends the call with CANCELLED unless it has ended. Does not wait.
  void Cancel();
  // Waits for the call's end and returns its status. Any number of times.
  absl::Status Finish();

 private:
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnWritesDoneDone(bool ok) override;
  void OnDone(const absl::Status& status) override;

  absl::Mutex mu_;
  // Valid while !done_.
  rpc::ClientStream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  bool read_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool read_ok_ ABSL_GUARDED_BY(mu_) = false;
  bool write_pending_ ABSL_GUARDED_BY(mu_) = false;
  // False once a write or the half-close failed: no later one can succeed.
  bool write_ok_ ABSL_GUARDED_BY(mu_) = true;
};

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_STREAM_CALL_H_
