#include "contender.h"

namespace dualrpc::bench {

absl::string_view WorkloadName(Workload::Kind kind) {
  return kind == Workload::Kind::kEcho ? "echo" : "list";
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
