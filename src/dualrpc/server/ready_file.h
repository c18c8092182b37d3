#ifndef DUALRPC_SERVER_READY_FILE_H_
#define DUALRPC_SERVER_READY_FILE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace dualrpc::server {

// Writes {"name": "address", ...} to `path` atomically (temp file + rename),
// so a watcher never reads a half-written file. Tests and scripts read it to
// learn the real ports when the server was asked for port 0.
absl::Status WriteReadyFile(
    const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& addresses);

}  // namespace dualrpc::server

#endif  // DUALRPC_SERVER_READY_FILE_H_
