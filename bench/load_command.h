#ifndef DUALRPC_BENCH_LOAD_COMMAND_H_
#define DUALRPC_BENCH_LOAD_COMMAND_H_

namespace dualrpc::bench {

// `dualrpc-bench load ...`: ghz's load test against any server, on either
// transport (docs/BENCHMARKS.md, "The load tool"). `argv[0]` is "load".
// Parses its own flags (absl flags defined in load_command.cc, with ghz's
// names; "--load-start" is read as --load_start, and -H may repeat), loads
// the method's descriptors through server reflection or --protoset, runs
// the load and writes the report (-O, -o). Returns the process's exit code:
// 0 when the run completed (failed calls are part of a report, not an exit
// code), 1 when it could not run, 2 for a usage error.
int RunLoadCommand(int argc, char** argv);

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_LOAD_COMMAND_H_
