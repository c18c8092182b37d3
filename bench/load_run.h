#ifndef DUALRPC_BENCH_LOAD_RUN_H_
#define DUALRPC_BENCH_LOAD_RUN_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/channel.h"
#include "google/protobuf/message_lite.h"
#include "load_report.h"

namespace dualrpc::bench {

// How the call rate of an open loop changes over the run, as ghz's
// --load-schedule: the rate at `t` seconds after the start is
//   const  start
//   step   start + step * floor(t / step_duration)
//   line   start + step * t
// bounded by `end` when end > 0 (from above for a rising ramp, from below
// for a falling one), and never below kMinRate.
struct LoadSchedule {
  enum class Kind { kConst, kStep, kLine };
  // Slowest rate a ramp may reach: a ramp to zero would stop the pacer for
  // ever.
  static constexpr double kMinRate = 1.0;

  Kind kind = Kind::kConst;
  double start = 0;  // calls per second
  double end = 0;    // 0: no bound
  double step = 0;
  absl::Duration step_duration = absl::Seconds(1);

  double RateAt(double seconds) const;
  // "const 200/s", "step 100/s +50 per 1s to 400/s", "line 10/s +5/s".
  std::string Describe() const;
};

// The width of one bin of the timeline (the charts over time), by the time
// a call ended. At most kMaxTimeBins bins; later calls land in the last.
inline constexpr absl::Duration kTimeBin = absl::Milliseconds(100);
inline constexpr int kMaxTimeBins = 36000;  // one hour of 100 ms bins
// Most calls kept for the per-call CSV (about 60 bytes each); later ones are
// counted in LoadResult::calls_dropped.
inline constexpr int64_t kMaxKeptCalls = 5'000'000;

// One load run: `concurrency` callers calling `method` on `channel` with the
// same request bytes.
struct LoadSpec {
  rpc::Channel* channel = nullptr;  // not owned; outlives RunLoad
  std::string method;               // "/pkg.Svc/Method"
  // Sent by every call; shared by all callers, so immutable (see
  // PreserializedMessage). Not owned.
  const google::protobuf::MessageLite* request = nullptr;
  // Makes a response message: one per closed-loop caller, reused, or one
  // per open-loop call. Called from the run's threads, one at a time per
  // caller; must be thread-safe.
  std::function<std::unique_ptr<google::protobuf::MessageLite>()> new_response;
  // Every call's timeout and metadata.
  rpc::CallOptions options;

  // Closed loop: callers each keep one call in flight. Open loop (rate or a
  // ramp): at most this many calls in flight; a call due beyond that waits,
  // and the wait counts in its latency.
  int concurrency = 50;
  // Calls to start in all; 0 for no count (then `duration` must be set).
  int64_t total_calls = 200;
  // Wall time after which no call starts; zero for none. Calls in flight
  // then finish and are counted.
  absl::Duration duration = absl::ZeroDuration();
  // Open loop when set (calls start at intended times and are measured
  // from them); closed loop when not.
  bool open_loop = false;
  LoadSchedule schedule;
  // Keep every call for the CSV.
  bool keep_calls = false;
};

// Runs `spec` to its end (count reached, duration over, and every started
// call completed) and returns what it measured. Calls that fail are counted
// (status and error distributions) and the run goes on, as ghz's.
// INVALID_ARGUMENT for a spec that cannot run. Blocks the calling thread.
absl::StatusOr<LoadResult> RunLoad(const LoadSpec& spec);

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_LOAD_RUN_H_
