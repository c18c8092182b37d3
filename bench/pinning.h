#ifndef DUALRPC_BENCH_PINNING_H_
#define DUALRPC_BENCH_PINNING_H_

#include <sched.h>
#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dualrpc::bench {

// Where client and server run (docs/BENCHMARKS.md, "Pinning"):
//   same-core   client threads and server process on one CPU;
//   cross-core  client on one CPU, server on another;
//   unpinned    both may run on every CPU the bench was given.
enum class Pinning { kSameCore, kCrossCore, kUnpinned };

absl::string_view PinningName(Pinning pinning);
absl::StatusOr<Pinning> ParsePinning(absl::string_view name);

struct CpuPlan {
  cpu_set_t client;
  cpu_set_t server;
};

// The CPU sets for `pinning` out of `available` (the bench's own affinity at
// start): the first allowed CPU for the client, the second for a cross-core
// server. FAILED_PRECONDITION for cross-core on one CPU.
absl::StatusOr<CpuPlan> PlanCpus(Pinning pinning, const cpu_set_t& available);

// Sets the affinity of every thread of process `pid` (0: this process).
// Threads the process creates later inherit it from their creator.
absl::Status PinProcess(pid_t pid, const cpu_set_t& cpus);

// "0", "0-1", "0,2" — for the report.
std::string CpuSetString(const cpu_set_t& cpus);

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_PINNING_H_
