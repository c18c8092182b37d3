#ifndef DUALRPC_TESTS_TESTING_SUBPROCESS_H_
#define DUALRPC_TESTS_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dualrpc/server/server_process.h"

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

// A server child process: the launcher shared with the bench.
using ServerProcess = ::dualrpc::server::ServerProcess;

// Starts build/bin/dualrpc-server --root=`root` on 127.0.0.1 port 0 for
// both transports, plus `extra_flags`, and waits (up to 30 s) for its ready
// file: then Address("grpc") and Address("raw") hold the bound addresses.
// Killed with SIGKILL when the returned object is destroyed (a test that
// wants a clean stop signals it and waits itself).
absl::StatusOr<std::unique_ptr<ServerProcess>> StartServer(
    const std::string& root, const std::vector<std::string>& extra_flags = {});

}  // namespace dualrpc_testing

#endif  // DUALRPC_TESTS_TESTING_SUBPROCESS_H_
