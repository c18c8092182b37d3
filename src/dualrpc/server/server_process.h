#ifndef DUALRPC_SERVER_SERVER_PROCESS_H_
#define DUALRPC_SERVER_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dualrpc/server/ready_file.h"

namespace dualrpc::server {

// How ServerProcess::Start runs a server. Every default is safe for a test.
struct ServerProcessOptions {
  // Names the files in `work_dir`: <name>.ready and <name>.log.
  std::string name = "server";
  // Where the ready file and the stderr log go. Empty: a fresh directory
  // under $TMPDIR (or /tmp), removed with both files on destruction; a given
  // directory is left as it is (the bench keeps its logs).
  std::string work_dir;
  // How long Start waits for the ready file.
  absl::Duration ready_timeout = absl::Seconds(30);
  // Stop() sends SIGTERM, then SIGKILL once this has passed. Zero: SIGKILL
  // at once.
  absl::Duration stop_grace = absl::Seconds(5);
};

// A server as a child process that announces its addresses in a ready file
// (dualrpc/server/ready_file.h): dualrpc-server itself, or the bench's
// contenders. The one launcher that tests and the bench share.
//
// The child runs in its own process group (so that stopping it also stops
// whatever a wrapper such as strace started), dies with the thread that
// started it (PR_SET_PDEATHSIG: start it from a thread that outlives it),
// reads /dev/null and writes stdout there and stderr to <name>.log.
//
// Owned by whoever started it; the destructor runs Stop(). Not thread-safe:
// one thread uses it at a time.
class ServerProcess {
 public:
  // Runs `argv` (argv[0] is the program, searched in PATH if it has no
  // slash) with "--ready_file=<work_dir>/<name>.ready" appended, and returns
  // once that file is there and parses. UNAVAILABLE (with the log's tail) if
  // the child exits first, DEADLINE_EXCEEDED (the child killed) if the file
  // does not appear within `ready_timeout`; INVALID_ARGUMENT if it does not
  // parse.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      std::vector<std::string> argv, ServerProcessOptions options = {});

  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  const std::string& name() const { return options_.name; }
  // The child's pid (and process group id); stays valid until it is reaped.
  pid_t pid() const { return pid_; }
  // What the ready file said.
  const ReadyAddresses& addresses() const { return addresses_; }
  // The ready file's value for `transport` ("grpc", "raw", ...); NOT_FOUND
  // if it has none.
  absl::StatusOr<std::string> Address(absl::string_view transport) const;

  // Sends `signal_number` to the child's process group; FAILED_PRECONDITION
  // once it has been reaped.
  absl::Status Signal(int signal_number) const;
  // Waits up to `timeout` for the child to exit and reaps it: its exit code,
  // or -1 if a signal killed it. DEADLINE_EXCEEDED if it is still running;
  // FAILED_PRECONDITION if it was already reaped.
  absl::StatusOr<int> WaitForExit(absl::Duration timeout);
  // SIGTERM to the group, SIGKILL after `stop_grace`, then reaps the child.
  // Idempotent.
  void Stop();
  // Not yet reaped and still there.
  bool Alive() const;

  // Path of the stderr log, and all of it so far.
  const std::string& log_path() const { return log_path_; }
  std::string StderrText() const;

 private:
  ServerProcess(ServerProcessOptions options, bool owns_work_dir, pid_t pid,
                std::string ready_path, std::string log_path)
      : options_(std::move(options)),
        owns_work_dir_(owns_work_dir),
        pid_(pid),
        ready_path_(std::move(ready_path)),
        log_path_(std::move(log_path)) {}

  const ServerProcessOptions options_;
  const bool owns_work_dir_;
  pid_t pid_;  // -1 once reaped
  const std::string ready_path_;
  const std::string log_path_;
  ReadyAddresses addresses_;
};

}  // namespace dualrpc::server

#endif  // DUALRPC_SERVER_SERVER_PROCESS_H_
