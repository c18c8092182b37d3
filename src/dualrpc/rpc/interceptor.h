#ifndef DUALRPC_RPC_INTERCEPTOR_H_
#define DUALRPC_RPC_INTERCEPTOR_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "dualrpc/rpc/call.h"

namespace dualrpc::rpc {

struct Method;

// What the interceptor stage reports of one finished call.
struct CallRecord {
  const Method* method = nullptr;
  // The call's context; valid only during OnCallEnd.
  const ServerCallContext* context = nullptr;
  // The status the client is sent: the implementation's, or the rejection
  // of an interceptor's OnCallStart.
  absl::Status status;
  // From the moment the stage saw the call to the end.
  absl::Time start;
  absl::Duration duration;
  // Messages and their serialized sizes (ByteSizeLong, not transport
  // framing), each way.
  std::int64_t request_messages = 0;
  std::int64_t request_bytes = 0;
  std::int64_t response_messages = 0;
  std::int64_t response_bytes = 0;
};

// One server-side interceptor: authentication now; metrics and access logs
// (issue 13) later. Every call on every transport passes through the
// registry's stage (ServiceRegistry::AddInterceptor), in the order the
// interceptors were added; transports know nothing of it.
//
// Threads: OnCallStart runs on the transport's thread before the
// implementation (an event loop for raw): it must not block. OnCallEnd runs
// on whatever thread ended the call. Both may run concurrently for
// different calls: implementations are thread-safe.
class ServerInterceptor {
 public:
  virtual ~ServerInterceptor() = default;

  // Before the implementation. A non-OK status fails the call with it (its
  // message goes to the client): the implementation never runs and the
  // interceptors after this one are not asked. May set the principal on
  // `context`.
  virtual absl::Status OnCallStart(const Method& method,
                                   ServerCallContext* context) = 0;

  // After the call ended (its status is decided), for every call this
  // interceptor's OnCallStart saw, rejected or not. Called only when
  // wants_call_end(); the stage skips its bookkeeping (timing, sizes) when
  // no interceptor wants it.
  virtual void OnCallEnd(const CallRecord& record) { (void)record; }
  virtual bool wants_call_end() const { return false; }
};

}  // namespace dualrpc::rpc

#endif  // DUALRPC_RPC_INTERCEPTOR_H_
