#ifndef DUALRPC_SERVER_READY_FILE_H_
#define DUALRPC_SERVER_READY_FILE_H_

// The ready file: how a server started with port 0 tells whoever started it
// (tests, the bench, scripts/demo) the addresses it really listens on. A JSON
// object from transport name to "host:port", on one line:
//
//   {"grpc": "127.0.0.1:41234", "raw": "127.0.0.1:41235"}
//
// dualrpc-server writes "grpc" and "raw" for the transports' own ports (those
// it has), "listen" for the shared port of --listen, which serves both, and
// "metrics" for --metrics_listen's HTTP port;
// the bench's own servers write "floor" or "capnp". Readers must accept any JSON layout and
// ignore names they do not know. The file appears complete or not at all.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dualrpc::server {

// Transport name → address, in the order the file lists them.
using ReadyAddressList = std::vector<std::pair<std::string, std::string>>;
// Transport name → address, as read back.
using ReadyAddresses = std::map<std::string, std::string, std::less<>>;

// The file's text for `addresses`, in their order, followed by a newline.
// Names and addresses are JSON-escaped by protobuf's JSON printer.
// INVALID_ARGUMENT for an empty name or a name given twice.
absl::StatusOr<std::string> FormatReadyFile(const ReadyAddressList& addresses);

// Parses a ready file's text (any JSON layout). INVALID_ARGUMENT if it is
// not a JSON object whose values are all strings.
absl::StatusOr<ReadyAddresses> ParseReadyFile(absl::string_view json);

// Writes FormatReadyFile(addresses) to `path` atomically (`path`.tmp, then
// rename), so that a reader polling for `path` never sees half a file.
absl::Status WriteReadyFile(const std::string& path,
                            const ReadyAddressList& addresses);

// Reads and parses `path`. NOT_FOUND while it does not exist.
absl::StatusOr<ReadyAddresses> ReadReadyFile(const std::string& path);

}  // namespace dualrpc::server

#endif  // DUALRPC_SERVER_READY_FILE_H_
