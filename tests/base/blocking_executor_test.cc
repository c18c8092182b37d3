#include "dualrpc/base/blocking_executor.h"

#include <atomic>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/wait.h"

namespace dualrpc::base {
namespace {

using ::dualrpc_testing::Countdown;
using ::dualrpc_testing::Eventually;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::kWaitTimeout;
using ::dualrpc_testing::StatusIs;

TEST(BlockingExecutorTest, RunsEveryTask) {
  constexpr int kTasks = 200;
  BlockingExecutor executor({/*threads=*/4, /*max_queued=*/kTasks});
  std::atomic<int> ran{0};
  Countdown done(kTasks);
  for (int i = 0; i < kTasks; ++i) {
    ASSERT_THAT(executor.Submit([&] {
      ran.fetch_add(1);
      done.CountDown();
    }),
                IsOk());
  }
  ASSERT_TRUE(done.WaitForZero());
  EXPECT_EQ(ran.load(), kTasks);
}

TEST(BlockingExecutorTest, RunsTasksOnSeveralThreadsAtOnce) {
  constexpr int kThreads = 3;
  BlockingExecutor executor({kThreads, /*max_queued=*/16});
  // Each task holds its thread until release: all_running reaches zero only
  // if the pool really runs kThreads tasks concurrently.
  Countdown all_running(kThreads);
  absl::Notification release;
  Countdown done(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_THAT(executor.Submit([&] {
      all_running.CountDown();
      release.WaitForNotificationWithTimeout(kWaitTimeout);
      done.CountDown();
    }),
                IsOk());
  }
  const bool all_ran_at_once = all_running.WaitForZero();
  release.Notify();
  EXPECT_TRUE(all_ran_at_once)
      << "fewer than " << kThreads << " tasks ran at once";
  ASSERT_TRUE(done.WaitForZero());
}

TEST(BlockingExecutorTest, RejectsWhenQueueIsFull) {
  constexpr std::size_t kMaxQueued = 3;
  std::atomic<int> ran{0};
  absl::Notification release;
  {
    BlockingExecutor executor({/*threads=*/1, kMaxQueued});
    absl::Notification blocker_started;
    ASSERT_THAT(executor.Submit([&] {
      blocker_started.Notify();
      release.WaitForNotificationWithTimeout(kWaitTimeout);
    }),
                IsOk());
    // The only worker holds the blocker, so the queue is empty and stays so.
    ASSERT_TRUE(blocker_started.WaitForNotificationWithTimeout(kWaitTimeout));
    for (std::size_t i = 0; i < kMaxQueued; ++i) {
      ASSERT_THAT(executor.Submit([&] { ran.fetch_add(1); }), IsOk()) << i;
    }
    EXPECT_THAT(executor.Submit([&] { ran.fetch_add(100); }),
                StatusIs(absl::StatusCode::kResourceExhausted));
    release.Notify();
  }
  EXPECT_EQ(ran.load(), static_cast<int>(kMaxQueued));
}

TEST(BlockingExecutorTest, DestructorRunsQueuedTasksAndRefusesNewOnes) {
  constexpr int kQueued = 5;
  std::atomic<int> ran{0};
  absl::Notification blocker_started;
  absl::Notification release;
  auto executor = std::make_unique<BlockingExecutor>(
      BlockingExecutor::Options{/*threads=*/1, /*max_queued=*/64});
  ASSERT_TRUE(executor
                  ->Submit([&] {
                    blocker_started.Notify();
                    release.WaitForNotificationWithTimeout(kWaitTimeout);
                  })
                  .ok());
  ASSERT_TRUE(blocker_started.WaitForNotificationWithTimeout(kWaitTimeout));
  for (int i = 0; i < kQueued; ++i) {
    ASSERT_THAT(executor->Submit([&] { ran.fetch_add(1); }), IsOk());
  }

  BlockingExecutor* const raw = executor.get();
  std::thread destroyer([&] { executor.reset(); });
  // The destructor cannot finish while the blocker holds the only worker, so
  // `raw` stays valid until release. Wait until it has begun: from then on
  // Submit says UNAVAILABLE. Until then a probe may be accepted (and run).
  std::atomic<int> probes_run{0};
  int probes_accepted = 0;
  absl::Status probe;
  const absl::Time give_up = absl::Now() + kWaitTimeout;
  do {
    probe = raw->Submit([&] { probes_run.fetch_add(1); });
    if (probe.ok()) ++probes_accepted;
  } while (probe.code() != absl::StatusCode::kUnavailable &&
           absl::Now() < give_up);
  release.Notify();
  destroyer.join();
  ASSERT_THAT(probe, StatusIs(absl::StatusCode::kUnavailable))
      << "Submit still accepted work while the destructor ran";

  EXPECT_EQ(ran.load(), kQueued);
  EXPECT_EQ(probes_run.load(), probes_accepted);
}

TEST(BlockingExecutorTest, TreatsZeroThreadsAndQueueAsOne) {
  BlockingExecutor executor({/*threads=*/0, /*max_queued=*/0});
  absl::Notification done;
  ASSERT_THAT(executor.Submit([&] { done.Notify(); }), IsOk());
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(kWaitTimeout));
}

// The figures metrics read: a task is queued, then busy, then completed;
// only a full queue's refusal counts as rejected.
TEST(BlockingExecutorTest, StatsFollowQueuedBusyRejectedAndCompleted) {
  constexpr std::size_t kMaxQueued = 2;
  BlockingExecutor executor({/*threads=*/1, kMaxQueued});
  auto stats = [&] { return executor.GetStats(); };
  EXPECT_EQ(stats().queued, 0);
  EXPECT_EQ(stats().busy_threads, 0);
  EXPECT_EQ(stats().rejected_total, 0);
  EXPECT_EQ(stats().completed_total, 0);

  absl::Notification blocker_started;
  absl::Notification release;
  ASSERT_THAT(executor.Submit([&] {
    blocker_started.Notify();
    release.WaitForNotificationWithTimeout(kWaitTimeout);
  }),
              IsOk());
  ASSERT_TRUE(blocker_started.WaitForNotificationWithTimeout(kWaitTimeout));
  EXPECT_EQ(stats().busy_threads, 1);
  EXPECT_EQ(stats().queued, 0);

  Countdown done(static_cast<int>(kMaxQueued));
  for (std::size_t i = 0; i < kMaxQueued; ++i) {
    ASSERT_THAT(executor.Submit([&] { done.CountDown(); }), IsOk()) << i;
  }
  EXPECT_EQ(stats().queued, static_cast<std::int64_t>(kMaxQueued));
  EXPECT_THAT(executor.Submit([] {}),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(executor.Submit([] {}),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(stats().rejected_total, 2);
  EXPECT_EQ(stats().completed_total, 0);

  release.Notify();
  ASSERT_TRUE(done.WaitForZero());
  // The last task's count lands just after it returns.
  EXPECT_TRUE(Eventually([&] {
    return stats().completed_total == static_cast<std::int64_t>(kMaxQueued) + 1;
  })) << stats().completed_total;
  EXPECT_TRUE(Eventually([&] { return stats().busy_threads == 0; }));
  EXPECT_EQ(stats().queued, 0);
  EXPECT_EQ(stats().rejected_total, 2);
}

}  // namespace
}  // namespace dualrpc::base
