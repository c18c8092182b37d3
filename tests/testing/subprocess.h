#ifndef DUALRPC_TESTS_TESTING_SUBPROCESS_H_
#define DUALRPC_TESTS_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace dualrpc_testing {

// Directory holding the project's binaries (ctest sets DUALRPC_BIN_DIR).
std::string BinaryPath(const std::string& name);

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  std::string stdout_text;
  std::string stderr_text;
};

// Runs argv[0] (a path) to completion with `stdin_text` on its stdin,
// collecting its output. Kills it after `timeout`.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::string& stdin_text = "",
                         absl::Duration timeout = absl::Seconds(60));

// dualrpc-server as a child process, bound to port 0 on loopback; the real
// addresses are read back from its --ready_file. Killed (SIGKILL) on
// destruction if still running.
class ServerProcess {
 public:
  // Starts build/bin/dualrpc-server --root `root` plus `extra_flags`, and
  // waits (up to 30 s) for the ready file.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::string& root, const std::vector<std::string>& extra_flags = {});
  ~ServerProcess();

  // Address by transport name in the ready file ("grpc", "raw").
  std::string address(const std::string& transport) const;

  void Signal(int signal_number) const;
  // Waits for the process to exit; returns its exit code, -1 if it was
  // killed by a signal or is still running after `timeout`.
  int WaitForExit(absl::Duration timeout = absl::Seconds(30));
  // Everything the server wrote on stderr so far.
  std::string StderrText() const;

 private:
  ServerProcess() = default;

  pid_t pid_ = -1;
  std::string work_dir_;
  std::map<std::string, std::string> addresses_;
};

}  // namespace dualrpc_testing

#endif  // DUALRPC_TESTS_TESTING_SUBPROCESS_H_
