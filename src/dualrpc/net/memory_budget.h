#ifndef DUALRPC_NET_MEMORY_BUDGET_H_
#define DUALRPC_NET_MEMORY_BUDGET_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>

#include "absl/types/span.h"

namespace dualrpc::net {

// A byte budget shared by the connections of one server, on any number of
// loops: each TcpConnection adds what its buffers hold (Add, with the
// change since its last report) and stops reading while the budget is over
// (reading_paused()). Lock-free: one relaxed fetch_add per report, and a
// connection reports only when its buffers' storage changed size, which
// steady traffic does not do.
//
// Hysteresis: reading pauses once the total goes over `limit` and resumes
// once it is back under `low_water`. `on_change(paused)` is told of each
// flip, exactly once per flip, on the thread whose Add caused it (any loop
// thread): the owner reacts there (ServerLoop posts to every loop: shed the
// largest connections; read again). Thread-safe. Outlives every connection
// that reports to it.
class MemoryBudget {
 public:
  MemoryBudget(std::int64_t limit, std::int64_t low_water,
               std::function<void(bool paused)> on_change)
      : limit_(limit), low_water_(low_water), on_change_(std::move(on_change)) {}

  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // `delta` may be negative (buffers freed).
  void Add(std::int64_t delta) {
    const std::int64_t total =
        total_.fetch_add(delta, std::memory_order_relaxed) + delta;
    bool paused = paused_.load(std::memory_order_relaxed);
    if (!paused && total > limit_) {
      if (paused_.compare_exchange_strong(paused, true)) on_change_(true);
    } else if (paused && total < low_water_) {
      if (paused_.compare_exchange_strong(paused, false)) on_change_(false);
    }
  }

  // Over the limit and not yet back under the low-water mark.
  bool reading_paused() const {
    return paused_.load(std::memory_order_relaxed);
  }
  std::int64_t total() const { return total_.load(std::memory_order_relaxed); }
  std::int64_t limit() const { return limit_; }
  std::int64_t low_water() const { return low_water_; }

 private:
  const std::int64_t limit_;
  const std::int64_t low_water_;
  const std::function<void(bool paused)> on_change_;
  std::atomic<std::int64_t> total_{0};
  std::atomic<bool> paused_{false};
};

// Which of several loops sharing one budget closes a connection next.
// Each loop publishes the bytes of its largest sheddable connection (0 if
// it has none) when it last looked; a loop asked to shed looks at its own
// (`mine`, just measured) and at the loops' figures (`others`, any of them
// stale; its own may be among them, equal to `mine`). Returns the index into
// `others` of the loop to ask instead, when one's figure is larger than
// `mine` (it then looks again, publishes its
// true figure and asks back if it was stale); nullopt when this loop
// should shed its own (if `mine` is 0, nobody has anything to shed).
// A loop with nothing to shed must still ask: its figure is corrected to 0,
// but the loop holding the offenders may be waiting for it to shed.
inline std::optional<std::size_t> LoopToAskToShed(
    std::int64_t mine, absl::Span<const std::int64_t> others) {
  std::optional<std::size_t> larger;
  std::int64_t larger_bytes = mine;
  for (std::size_t i = 0; i < others.size(); ++i) {
    if (others[i] > larger_bytes) {
      larger = i;
      larger_bytes = others[i];
    }
  }
  return larger;
}

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_MEMORY_BUDGET_H_
