#ifndef DUALRPC_TESTS_TESTING_TRANSPORT_STATS_H_
#define DUALRPC_TESTS_TESTING_TRANSPORT_STATS_H_

// Reading rpc::TransportStats in tests.

#include <cstdint>
#include <string_view>

#include "dualrpc/rpc/transport_stats.h"

namespace dualrpc_testing {

// The count of `reason` in stats.refused_total; 0 if it is left out (a
// reason with a zero count may be).
inline std::int64_t RefusedCount(const dualrpc::rpc::TransportStats& stats,
                                 std::string_view reason) {
  for (const auto& [name, count] : stats.refused_total) {
    if (name == reason) return count;
  }
  return 0;
}

// Every refusal of `stats`, whatever the reason.
inline std::int64_t RefusedTotal(const dualrpc::rpc::TransportStats& stats) {
  std::int64_t total = 0;
  for (const auto& [name, count] : stats.refused_total) total += count;
  return total;
}

}  // namespace dualrpc_testing

#endif  // DUALRPC_TESTS_TESTING_TRANSPORT_STATS_H_
