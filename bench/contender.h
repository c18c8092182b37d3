#ifndef DUALRPC_BENCH_CONTENDER_H_
#define DUALRPC_BENCH_CONTENDER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "run_control.h"
#include "server_process.h"

namespace dualrpc::bench {

// What each call does.
//   kEcho        one Echo call.
//   kEchoStream  one message of an EchoStream ping-pong: each caller is a
//                stream with one message in flight (grpc's streaming
//                ping-pong point); latency per round trip.
//   kStreamFlood one message of an EchoStream whose caller writes as fast
//                as flow control lets it (the window as the only limit)
//                while it reads; latency from each message's write to its
//                echo. The floor runs it as its pipelined echo.
//   kList        one whole listing of `list_path` (every page).
//   kWalk        one whole WalkTree of `list_path`.
struct Workload {
  enum class Kind { kEcho, kList, kEchoStream, kStreamFlood, kWalk };
  Kind kind = Kind::kEcho;
  // Echo kinds: request and response payload size.
  int payload_bytes = 0;
  // List and Walk: one "call" is a whole listing of `list_path` (for List
  // every page, each asking for `page_size` entries), which must yield
  // `entries` entries.
  int entries = 0;
  std::string list_path;
  int page_size = 0;
};

absl::string_view WorkloadName(Workload::Kind kind);

// True for the echo kinds: a call is one message, labelled by its payload.
// False for List and Walk, where a call is a whole listing.
constexpr bool IsMessageWorkload(Workload::Kind kind) {
  return kind == Workload::Kind::kEcho || kind == Workload::Kind::kEchoStream ||
         kind == Workload::Kind::kStreamFlood;
}

// How calls are offered.
//   kClosed     `concurrency` callers, each with one call in flight, spread
//               over `connections` connections.
//   kPipelined  `in_flight_per_connection` calls kept in flight on each of
//               `connections` connections (concurrency = their product).
//   kOpen       calls started at `rate` per second whatever the responses,
//               over `connections` connections; latency from each call's
//               intended start.
// Closed and pipelined run the same way (every completion starts the next
// call); they differ in depth per connection.
struct LoadShape {
  enum class Mode { kClosed, kPipelined, kOpen };
  Mode mode = Mode::kClosed;
  int connections = 1;
  int concurrency = 1;
  int in_flight_per_connection = 1;
  double rate = 0;
};

absl::string_view ModeName(LoadShape::Mode mode);

// Most calls an open loop keeps outstanding (beyond: its pacer waits, and
// the wait counts as latency).
inline constexpr int kOpenLoopMaxInFlight = 4096;

// One contender: a transport's client, and the server process it calls
// (which the harness measures and pins).
class Contender {
 public:
  virtual ~Contender() = default;

  // "floor", "raw", "grpc", "capnp" or "local".
  virtual absl::string_view transport() const = 0;
  virtual bool Supports(const Workload& workload) const = 0;
  // The server measured alongside the client; nullptr when there is none.
  virtual const ServerProcess* server() const = 0;

  // Connects, calls control->MarkStarted(), then offers `shape` load of
  // `workload` until control->running() turns false; returns once every
  // call it started has ended and everything it created is torn down.
  // Runs on a harness thread; every latency and failure goes to `control`.
  // A caller whose call fails stops (the failure is counted).
  virtual absl::Status Run(const Workload& workload, const LoadShape& shape,
                           RunControl* control) = 0;
};

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_CONTENDER_H_
