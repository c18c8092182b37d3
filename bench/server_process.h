#ifndef DUALRPC_BENCH_SERVER_PROCESS_H_
#define DUALRPC_BENCH_SERVER_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dualrpc/server/server_process.h"
#include "pinning.h"

namespace dualrpc::bench {

// One contender's server: the shared launcher (dualrpc/server/
// server_process.h: a child in its own process group, started with a
// --ready_file, stopped with SIGTERM to the group, then SIGKILL after a grace
// period, when this object is destroyed) plus what the bench measures
// through /proc and its CPU pinning.
class ServerProcess {
 public:
  // Runs `argv` (argv[0] is the program, searched in PATH if it has no
  // slash) with
  // "--ready_file=<work_dir>/<name>.ready" appended and stderr going to
  // <work_dir>/<name>.log; returns once the ready file exists.
  // DEADLINE_EXCEEDED (with the log's tail) if it does not appear within
  // `timeout`, or if the child exits first.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      std::string name, std::vector<std::string> argv,
      const std::string& work_dir, absl::Duration timeout = absl::Seconds(20));

  ~ServerProcess() = default;  // stops the server (see above)
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  const std::string& name() const { return process_->name(); }
  pid_t pid() const { return process_->pid(); }
  // The ready file's "key" value, e.g. "grpc" → "127.0.0.1:40123".
  absl::StatusOr<std::string> Address(const std::string& key) const;

  // utime + stime of every thread so far (/proc/PID/stat), in seconds.
  absl::StatusOr<double> CpuSeconds() const;
  // VmHWM: peak resident set since start or the last ResetPeakRss().
  absl::StatusOr<int64_t> PeakRssBytes() const;
  // Starts a new VmHWM period (writes 5 to /proc/PID/clear_refs).
  absl::Status ResetPeakRss() const;
  // Pins every thread of the server (see PinProcess).
  absl::Status Pin(const cpu_set_t& cpus) const {
    return PinProcess(pid(), cpus);
  }
  // Still running?
  bool Alive() const;

 private:
  explicit ServerProcess(std::unique_ptr<server::ServerProcess> process)
      : process_(std::move(process)) {}

  const std::unique_ptr<server::ServerProcess> process_;
};

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_SERVER_PROCESS_H_
