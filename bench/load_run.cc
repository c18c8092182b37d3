#include "load_run.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "run_control.h"

namespace dualrpc::bench {

double LoadSchedule::RateAt(double seconds) const {
  double rate = start;
  switch (kind) {
    case Kind::kConst:
      break;
    case Kind::kStep: {
      const double step_seconds = absl::ToDoubleSeconds(step_duration);
      if (step_seconds > 0) rate += step * std::floor(seconds / step_seconds);
      break;
    }
    case Kind::kLine:
      rate += step * seconds;
      break;
  }
  if (end > 0) rate = step >= 0 ? std::min(rate, end) : std::max(rate, end);
  return std::max(rate, kMinRate);
}

std::string LoadSchedule::Describe() const {
  const std::string bound = end > 0 ? absl::StrFormat(" to %g/s", end) : "";
  switch (kind) {
    case Kind::kConst:
      return absl::StrFormat("const %g/s", start);
    case Kind::kStep:
      return absl::StrFormat("step %g/s %+g per %s%s", start, step,
                             absl::FormatDuration(step_duration), bound);
    case Kind::kLine:
      return absl::StrFormat("line %g/s %+g/s%s", start, step, bound);
  }
  return "";
}

namespace {

constexpr int kStatusCodes = 17;  // OK .. UNAUTHENTICATED

// What every caller records per call. Striped by thread, as RunControl's
// histograms, so that completions on several transport threads rarely meet
// on one lock; unlike RunControl it keeps failed calls' latencies, status
// codes and messages too (ghz's distributions). Thread-safe.
class LoadRecorder {
 public:
  LoadRecorder(int64_t run_start, bool keep_calls)
      : run_start_(run_start),
        keep_calls_(keep_calls),
        stripes_(new Stripe[kStripes]) {}

  // A call intended to start at `intended` (NowNanos clock) ended at `end`.
  void Record(int64_t intended, int64_t end, const absl::Status& status) {
    const int64_t latency = end - intended;
    const int64_t since_start = std::max<int64_t>(0, end - run_start_);
    const std::size_t bin = static_cast<std::size_t>(std::min<int64_t>(
        kMaxTimeBins - 1, since_start / absl::ToInt64Nanoseconds(kTimeBin)));
    const int code =
        std::clamp(static_cast<int>(status.code()), 0, kStatusCodes - 1);
    Stripe& stripe = stripes_[ThisThreadStripe()];
    absl::MutexLock lock(&stripe.mu);
    stripe.latency.Record(latency);
    ++stripe.codes[code];
    if (stripe.bins.size() <= bin) stripe.bins.resize(bin + 1);
    LoadTimeBin& b = stripe.bins[bin];
    ++b.calls;
    b.latency_sum_nanos += latency;
    b.latency_max_nanos = std::max(b.latency_max_nanos, latency);
    stripe.last_end = std::max(stripe.last_end, end);
    if (!status.ok()) {
      ++b.errors;
      ++stripe.errors[status.ToString()];
    }
    if (keep_calls_) {
      if (kept_.fetch_add(1, std::memory_order_relaxed) < kMaxKeptCalls) {
        stripe.calls.push_back({std::max<int64_t>(0, intended - run_start_),
                                latency, status.code(),
                                std::string(status.message())});
      } else {
        ++stripe.dropped;
      }
    }
  }

  // Merges the stripes into `result`. Call once every call has ended.
  void MergeInto(LoadResult* result) {
    std::array<int64_t, kStatusCodes> codes{};
    int64_t last_end = run_start_;
    for (int i = 0; i < kStripes; ++i) {
      Stripe& stripe = stripes_[i];
      absl::MutexLock lock(&stripe.mu);
      result->latency.Merge(stripe.latency);
      for (int c = 0; c < kStatusCodes; ++c) codes[c] += stripe.codes[c];
      if (result->bins.size() < stripe.bins.size())
        result->bins.resize(stripe.bins.size());
      for (std::size_t b = 0; b < stripe.bins.size(); ++b) {
        LoadTimeBin& into = result->bins[b];
        const LoadTimeBin& from = stripe.bins[b];
        into.calls += from.calls;
        into.errors += from.errors;
        into.latency_sum_nanos += from.latency_sum_nanos;
        into.latency_max_nanos =
            std::max(into.latency_max_nanos, from.latency_max_nanos);
      }
      for (auto& [error, count] : stripe.errors) result->errors[error] += count;
      std::move(stripe.calls.begin(), stripe.calls.end(),
                std::back_inserter(result->calls));
      result->calls_dropped += stripe.dropped;
      last_end = std::max(last_end, stripe.last_end);
    }
    for (int c = 0; c < kStatusCodes; ++c) {
      if (codes[c] == 0) continue;
      result->status_codes[absl::StatusCodeToString(
          static_cast<absl::StatusCode>(c))] = codes[c];
    }
    std::sort(result->calls.begin(), result->calls.end(),
              [](const LoadCallRecord& a, const LoadCallRecord& b) {
                return a.start_nanos < b.start_nanos;
              });
    result->bin_nanos = absl::ToInt64Nanoseconds(kTimeBin);
    result->total_nanos = last_end - run_start_;
  }

 private:
  static constexpr int kStripes = 16;
  struct Stripe {
    absl::Mutex mu;
    LatencyHistogram latency ABSL_GUARDED_BY(mu);
    std::array<int64_t, kStatusCodes> codes ABSL_GUARDED_BY(mu){};
    std::vector<LoadTimeBin> bins ABSL_GUARDED_BY(mu);
    absl::flat_hash_map<std::string, int64_t> errors ABSL_GUARDED_BY(mu);
    std::vector<LoadCallRecord> calls ABSL_GUARDED_BY(mu);
    int64_t dropped ABSL_GUARDED_BY(mu) = 0;
    int64_t last_end ABSL_GUARDED_BY(mu) = 0;
  };

  int ThisThreadStripe() {
    // As RunControl::ThisThreadStripe: the cache names its recorder.
    thread_local const LoadRecorder* owner = nullptr;
    thread_local int stripe = 0;
    if (owner != this) {
      owner = this;
      stripe = next_stripe_.fetch_add(1, std::memory_order_relaxed) % kStripes;
    }
    return stripe;
  }

  const int64_t run_start_;
  const bool keep_calls_;
  std::atomic<int> next_stripe_{0};
  std::atomic<int64_t> kept_{0};
  std::unique_ptr<Stripe[]> stripes_;
};

// What every caller of one run shares. Outlives every call.
struct Shared {
  const LoadSpec* spec;
  RunControl* control;
  LoadRecorder* recorder;
  // Calls still to start; meaningless when spec->total_calls == 0.
  std::atomic<int64_t> tickets;
  // Callers (closed loop) still running; the last one notifies.
  std::atomic<int> running;
  absl::Notification all_done;

  // Takes the right to start one more call.
  bool TakeTicket() {
    if (!control->running()) return false;
    if (spec->total_calls == 0) return true;
    return tickets.fetch_sub(1, std::memory_order_relaxed) > 0;
  }
};

// One closed-loop caller: starts its next call from the previous one's
// completion until the tickets or the time run out. Owned by RunLoad, which
// destroys it only after Shared::all_done.
class ClosedLoopCaller {
 public:
  explicit ClosedLoopCaller(Shared* shared)
      : shared_(shared), response_(shared->spec->new_response()) {}

  // Starts calls until one completes on another thread (which then carries
  // on) or no ticket is left. A completion inside StartUnaryCall (a channel
  // that fails at once) returns here instead of recursing, so a run of
  // immediate failures does not grow the stack.
  void Run() {
    while (shared_->TakeTicket()) {
      state_.store(kStarting, std::memory_order_relaxed);
      start_ = NowNanos();
      const LoadSpec& spec = *shared_->spec;
      spec.channel->StartUnaryCall(
          spec.method, *spec.request, response_.get(), spec.options,
          [this](absl::Status status) { Completed(status); });
      // kDone already: the call completed inline; loop. Else the completion
      // will continue from its thread.
      if (state_.exchange(kReturned, std::memory_order_acq_rel) != kDone) {
        return;
      }
    }
    Finish();
  }

 private:
  enum State { kStarting, kReturned, kDone };

  void Completed(const absl::Status& status) {
    shared_->recorder->Record(start_, NowNanos(), status);
    if (state_.exchange(kDone, std::memory_order_acq_rel) == kStarting) {
      return;  // Run() is still inside StartUnaryCall and continues
    }
    Run();
  }

  void Finish() {
    // Nothing of `this` is touched after the last caller's notification.
    if (shared_->running.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      shared_->all_done.Notify();
    }
  }

  Shared* const shared_;
  const std::unique_ptr<google::protobuf::MessageLite> response_;
  std::atomic<State> state_{kReturned};
  int64_t start_ = 0;
};

// One open-loop call, measured from its intended start; deletes itself.
class PacedCall {
 public:
  PacedCall(Shared* shared, OpenLoopPacer* pacer, int64_t intended)
      : shared_(shared),
        pacer_(pacer),
        intended_(intended),
        response_(shared->spec->new_response()) {}

  void Start() {
    const LoadSpec& spec = *shared_->spec;
    spec.channel->StartUnaryCall(spec.method, *spec.request, response_.get(),
                                 spec.options, [this](absl::Status status) {
                                   shared_->recorder->Record(
                                       intended_, NowNanos(), status);
                                   OpenLoopPacer* pacer = pacer_;
                                   delete this;
                                   pacer->CallEnded();
                                 });
  }

 private:
  Shared* const shared_;
  OpenLoopPacer* const pacer_;
  const int64_t intended_;
  const std::unique_ptr<google::protobuf::MessageLite> response_;
};

absl::Status Validate(const LoadSpec& spec) {
  if (spec.channel == nullptr || spec.request == nullptr ||
      !spec.new_response) {
    return absl::InvalidArgumentError("a load needs a channel and messages");
  }
  if (spec.concurrency < 1) {
    return absl::InvalidArgumentError("concurrency must be at least 1");
  }
  if (spec.total_calls < 0) {
    return absl::InvalidArgumentError("the call count must not be negative");
  }
  if (spec.total_calls == 0 && spec.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "a load needs a call count or a duration");
  }
  if (spec.open_loop && spec.schedule.start <= 0) {
    return absl::InvalidArgumentError("the start rate must be positive");
  }
  return absl::OkStatus();
}

std::string NowRfc3339() {
  return absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<LoadResult> RunLoad(const LoadSpec& spec) {
  if (absl::Status valid = Validate(spec); !valid.ok()) return valid;
  LoadResult result;
  result.method = spec.method;
  result.concurrency = spec.concurrency;
  result.schedule = spec.open_loop ? spec.schedule.Describe() : "closed loop";
  result.date = NowRfc3339();

  RunControl control;
  control.SetPhase(Phase::kMeasure);
  const int64_t run_start = NowNanos();
  LoadRecorder recorder(run_start, spec.keep_calls);
  Shared shared{&spec, &control, &recorder, {spec.total_calls}, {0}, {}};
  std::vector<std::unique_ptr<ClosedLoopCaller>> callers;
  std::unique_ptr<OpenLoopPacer> pacer;
  std::thread pacer_thread;

  if (spec.open_loop) {
    const LoadSchedule schedule = spec.schedule;
    pacer = std::make_unique<OpenLoopPacer>(
        [schedule](int64_t elapsed) {
          return schedule.RateAt(static_cast<double>(elapsed) / 1e9);
        },
        spec.concurrency);
    pacer_thread = std::thread([&]() {
      pacer->Run(control, [&](int64_t intended) {
        if (!shared.TakeTicket()) {
          // The count is reached: give the slot back and stop the pacer.
          control.SetPhase(Phase::kStop);
          pacer->CallEnded();
          return;
        }
        (new PacedCall(&shared, pacer.get(), intended))->Start();
      });
      shared.all_done.Notify();
    });
  } else {
    shared.running.store(spec.concurrency, std::memory_order_relaxed);
    for (int i = 0; i < spec.concurrency; ++i)
      callers.push_back(std::make_unique<ClosedLoopCaller>(&shared));
    for (auto& caller : callers) caller->Run();
  }

  if (spec.duration > absl::ZeroDuration()) {
    shared.all_done.WaitForNotificationWithTimeout(spec.duration);
    control.SetPhase(Phase::kStop);
  }
  shared.all_done.WaitForNotification();
  if (pacer_thread.joinable()) pacer_thread.join();
  recorder.MergeInto(&result);
  return result;
}

}  // namespace dualrpc::bench
