#include "run_control.h"

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <utility>

namespace dualrpc::bench {
namespace {

void SleepUntilNanos(int64_t deadline) {
  timespec when;
  when.tv_sec = deadline / 1000000000;
  when.tv_nsec = deadline % 1000000000;
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &when, nullptr) !=
         0) {
  }
}

}  // namespace

RunControl::RunControl() : stripes_(new Stripe[kStripes]) {}

void RunControl::RecordCall(int64_t latency_nanos, bool ok) {
  if (!ok) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (phase() != Phase::kMeasure) return;
  Stripe& stripe = stripes_[ThisThreadStripe()];
  {
    absl::MutexLock lock(&stripe.mu);
    stripe.histogram.Record(latency_nanos);
  }
  measured_calls_.fetch_add(1, std::memory_order_relaxed);
}

int RunControl::ThisThreadStripe() {
  // Threads outlive runs (gRPC's pool), so the cache names its control; a
  // control at a reused address keeps a stripe that is still valid.
  thread_local const RunControl* owner = nullptr;
  thread_local int stripe = 0;
  if (owner != this) {
    owner = this;
    stripe = next_stripe_.fetch_add(1, std::memory_order_relaxed) % kStripes;
  }
  return stripe;
}

void RunControl::NoteError(const std::string& description) {
  absl::MutexLock lock(&error_mu_);
  if (first_error_.empty()) first_error_ = description;
}

std::string RunControl::first_error() const {
  absl::MutexLock lock(&error_mu_);
  return first_error_;
}

LatencyHistogram RunControl::MergedHistogram() const {
  LatencyHistogram merged;
  for (int i = 0; i < kStripes; ++i) {
    absl::MutexLock lock(&stripes_[i].mu);
    merged.Merge(stripes_[i].histogram);
  }
  return merged;
}

OpenLoopPacer::OpenLoopPacer(double rate, int max_in_flight)
    : OpenLoopPacer([rate](int64_t) { return rate; }, max_in_flight) {}

OpenLoopPacer::OpenLoopPacer(RateAt rate_at, int max_in_flight)
    : rate_at_(std::move(rate_at)), max_in_flight_(max_in_flight) {}

int64_t OpenLoopPacer::IntervalAt(int64_t elapsed_nanos) const {
  return std::max<int64_t>(1, std::llround(1e9 / rate_at_(elapsed_nanos)));
}

void OpenLoopPacer::Run(const RunControl& control,
                        absl::FunctionRef<void(int64_t)> start) {
  // The default 50 µs timer slack would bunch sends at these rates.
  ::prctl(PR_SET_TIMERSLACK, 1);
  const int64_t begin = NowNanos();
  int64_t intended = begin;
  while (control.running()) {
    SleepUntilNanos(intended);
    // Late wakeups send every call that is due at once, each still timed
    // from its own intended start.
    const int64_t now = NowNanos();
    while (intended <= now && control.running()) {
      if (!TakeSlot(control)) break;
      start(intended);
      intended += IntervalAt(intended - begin);
    }
  }
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* in_flight) { return *in_flight == 0; }, &in_flight_));
}

bool OpenLoopPacer::TakeSlot(const RunControl& control) {
  absl::MutexLock lock(&mu_);
  const absl::Condition has_room(
      +[](OpenLoopPacer* pacer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pacer->mu_) {
        return pacer->in_flight_ < pacer->max_in_flight_;
      },
      this);
  // Rechecks the stop now and then: calls may never come back.
  while (!mu_.AwaitWithTimeout(has_room, absl::Milliseconds(10))) {
    if (!control.running()) return false;
  }
  ++in_flight_;
  return true;
}

void OpenLoopPacer::CallEnded() {
  absl::MutexLock lock(&mu_);
  --in_flight_;
}

}  // namespace dualrpc::bench
