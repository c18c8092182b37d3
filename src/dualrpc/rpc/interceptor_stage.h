#ifndef DUALRPC_RPC_INTERCEPTOR_STAGE_H_
#define DUALRPC_RPC_INTERCEPTOR_STAGE_H_

// Private to dualrpc::rpc: how ServiceRegistry puts its interceptor stage
// (rpc/interceptor.h) in front of every method. Not for transports, which
// never see it: they call the Method the registry hands out.

#include <memory>
#include <vector>

#include "dualrpc/rpc/interceptor.h"
#include "dualrpc/rpc/service_registry.h"

namespace dualrpc::rpc::internal {

// The interceptors of one registry, in order. Immutable once built; shared
// by every served method (and by copies of the registry) through a
// shared_ptr, so a call copies nothing.
struct InterceptorStage {
  std::vector<std::shared_ptr<ServerInterceptor>> interceptors;
  // Some interceptor wants OnCallEnd: only then does a call pay for a
  // CallRecord (clock reads, sizes, a wrapped done or stream).
  bool wants_call_end = false;
};

// `implementation` as served behind `stage`: the same path, kind and
// factories, with invoke / start_stream running the stage first. The
// interceptors are given `*served` as the method (where the result is
// stored: the Method the registry hands out). Does not own `implementation`
// or `served`, which must outlive the result.
Method InterceptedMethod(const Method* implementation, const Method* served,
                         std::shared_ptr<const InterceptorStage> stage);

}  // namespace dualrpc::rpc::internal

#endif  // DUALRPC_RPC_INTERCEPTOR_STAGE_H_
