#ifndef DUALRPC_BENCH_RUN_CONTROL_H_
#define DUALRPC_BENCH_RUN_CONTROL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "histogram.h"

namespace dualrpc::bench {

// Monotonic nanoseconds (CLOCK_MONOTONIC), the one clock of every latency.
inline int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The phases of one measured run, set by the harness thread and read by
// load threads.
enum class Phase { kWarmup, kMeasure, kStop };

// What the harness and one contender's load generator share for one run:
// the phase and the record of completed calls. Thread-safe.
class RunControl {
 public:
  RunControl();

  Phase phase() const { return phase_.load(std::memory_order_acquire); }
  // Load generators start no call once this is false.
  bool running() const { return phase() != Phase::kStop; }
  void SetPhase(Phase phase) { phase_.store(phase, std::memory_order_release); }

  // The generator is connected and its load is running: warm-up begins.
  void MarkStarted() { started_.Notify(); }
  bool WaitStarted(absl::Duration timeout) {
    return started_.WaitForNotificationWithTimeout(timeout);
  }

  // One call (or one whole listing) ended after `latency_nanos`, measured
  // from its start (open loop: from its intended start). Failures count in
  // every phase; successes only while measuring.
  void RecordCall(int64_t latency_nanos, bool ok);

  // Keeps the first failure's description for the report. Any thread.
  void NoteError(const std::string& description);
  std::string first_error() const;

  int64_t measured_calls() const {
    return measured_calls_.load(std::memory_order_relaxed);
  }
  int64_t errors() const { return errors_.load(std::memory_order_relaxed); }
  // Every latency recorded while measuring.
  LatencyHistogram MergedHistogram() const;

 private:
  // Histograms are striped by thread so that completions on several
  // threads rarely meet on one lock.
  static constexpr int kStripes = 16;
  struct Stripe {
    absl::Mutex mu;
    LatencyHistogram histogram ABSL_GUARDED_BY(mu);
  };

  // Spreads threads over the stripes in the order they first record.
  int ThisThreadStripe();

  std::atomic<Phase> phase_{Phase::kWarmup};
  std::atomic<int> next_stripe_{0};
  absl::Notification started_;
  std::atomic<int64_t> measured_calls_{0};
  std::atomic<int64_t> errors_{0};
  std::unique_ptr<Stripe[]> stripes_;
  mutable absl::Mutex error_mu_;
  std::string first_error_ ABSL_GUARDED_BY(error_mu_);
};

// Paces an open loop: starts calls at fixed intended times (rate per
// second) from the calling thread until the run stops, with at most
// `max_in_flight` outstanding (beyond that, it waits: the wait shows in the
// latency, which is measured from the intended time — wrk2's correction for
// coordinated omission).
class OpenLoopPacer {
 public:
  // The rate (calls per second, > 0) at `elapsed_nanos` after Run began;
  // consulted once per call, for the gap to the next intended start.
  using RateAt = std::function<double(int64_t elapsed_nanos)>;

  OpenLoopPacer(double rate, int max_in_flight);
  // A rate that changes over the run (load ramps).
  OpenLoopPacer(RateAt rate_at, int max_in_flight);

  // Calls start(intended_nanos) for every due call; returns after the stop,
  // once every started call has reported CallEnded().
  void Run(const RunControl& control, absl::FunctionRef<void(int64_t)> start);
  // A call started by Run has ended. Any thread.
  void CallEnded();

 private:
  // Waits for room under max_in_flight; false if the run stopped meanwhile.
  bool TakeSlot(const RunControl& control);

  // Nanoseconds from the call intended at `elapsed_nanos` to the next.
  int64_t IntervalAt(int64_t elapsed_nanos) const;

  const RateAt rate_at_;
  const int max_in_flight_;
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_RUN_CONTROL_H_
