#include "contender.h"

namespace dualrpc::bench {

absl::string_view WorkloadName(Workload::Kind kind) {
  switch (kind) {
    case Workload::Kind::kEcho:
      return "echo";
    case Workload::Kind::kList:
      return "list";
    case Workload::Kind::kEchoStream:
      return "echo-stream";
    case Workload::Kind::kStreamFlood:
      return "stream-flood";
    case Workload::Kind::kWalk:
      return "walk";
  }
  return "?";
}

absl::string_view ModeName(LoadShape::Mode mode) {
  switch (mode) {
    case LoadShape::Mode::kClosed:
      return "closed";
    case LoadShape::Mode::kPipelined:
      return "pipelined";
    case LoadShape::Mode::kOpen:
      return "open";
  }
  return "?";
}

}  // namespace dualrpc::bench
