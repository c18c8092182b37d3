#ifndef DUALRPC_BENCH_SERVER_PROCESS_H_
#define DUALRPC_BENCH_SERVER_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pinning.h"

namespace dualrpc::bench {

// One contender's server, a child process of the bench in its own process
// group: started with a --ready_file, measured through /proc, stopped
// (SIGTERM to the group, then SIGKILL after a grace period) when this object
// is destroyed.
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

  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }
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
    return PinProcess(pid_, cpus);
  }
  // Still running?
  bool Alive() const;

 private:
  ServerProcess(std::string name, pid_t pid, std::string ready_json,
                std::string log_path)
      : name_(std::move(name)),
        pid_(pid),
        ready_json_(std::move(ready_json)),
        log_path_(std::move(log_path)) {}

  const std::string name_;
  const pid_t pid_;
  const std::string ready_json_;
  const std::string log_path_;
};

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_SERVER_PROCESS_H_
