#ifndef DUALRPC_TESTS_TESTING_WAIT_H_
#define DUALRPC_TESTS_TESTING_WAIT_H_

// Bounded waits for tests: a test waits with a timeout and then asserts, so
// that a bug fails one test with a message instead of hanging the run.
//
//   ASSERT_TRUE(done.WaitForNotificationWithTimeout(dualrpc_testing::kWaitTimeout));
//   ASSERT_TRUE(all_running.WaitForZero());

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace dualrpc_testing {

// How long a test waits for something that should happen promptly (well
// under the per-test ctest TIMEOUT of 60 s, so the assertion reports first).
inline constexpr absl::Duration kWaitTimeout = absl::Seconds(20);

// Polls `condition` every millisecond for up to `timeout`; true once it
// holds. Only for state that nothing notifies (ServerCallContext::IsCancelled,
// a refused connect, a queue length); anything with a notification waits on
// it instead.
template <typename Condition>
bool Eventually(Condition condition, absl::Duration timeout = kWaitTimeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

// absl::BlockingCounter with a bounded wait: counts down from `count`;
// WaitForZero returns once the count is zero or the timeout has passed.
// Thread-safe; must outlive every thread that may still call CountDown.
class Countdown {
 public:
  explicit Countdown(int count) : count_(count) {}
  Countdown(const Countdown&) = delete;
  Countdown& operator=(const Countdown&) = delete;

  void CountDown() {
    absl::MutexLock lock(&mu_);
    --count_;
  }
  // True if the count reached zero within `timeout`.
  bool WaitForZero(absl::Duration timeout = kWaitTimeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(this, &Countdown::IsZero),
                                timeout);
  }

 private:
  bool IsZero() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return count_ <= 0; }

  absl::Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dualrpc_testing

#endif  // DUALRPC_TESTS_TESTING_WAIT_H_
