#include "dualrpc/base/blocking_executor.h"

#include <atomic>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace dualrpc::fileservice {
namespace {

TEST(BlockingExecutorTest, RunsEveryTask) {
  constexpr int kTasks = 200;
  base::BlockingExecutor executor({/*threads=*/4, /*max_queued=*/kTasks});
  std::atomic<int> ran{0};
  absl::BlockingCounter done(kTasks);
  for (int i = 0; i < kTasks; ++i) {
    ASSERT_TRUE(executor
                    .Submit([&] {
                      ran.fetch_add(1);
                      done.DecrementCount();
                    })
                    .ok());
  }
  done.Wait();
  EXPECT_EQ(ran.load(), kTasks);
}

TEST(BlockingExecutorTest, RunsTasksOnSeveralThreadsAtOnce) {
  constexpr int kThreads = 3;
  base::BlockingExecutor executor({kThreads, /*max_queued=*/16});
  // Each task waits until all of them are running: this only finishes if the
  // pool really runs kThreads tasks concurrently.
  absl::BlockingCounter all_running(kThreads);
  absl::Notification release;
  absl::BlockingCounter done(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(executor
                    .Submit([&] {
                      all_running.DecrementCount();
                      release.WaitForNotification();
                      done.DecrementCount();
                    })
                    .ok());
  }
  all_running.Wait();
  release.Notify();
  done.Wait();
}

TEST(BlockingExecutorTest, RejectsWhenQueueIsFull) {
  constexpr std::size_t kMaxQueued = 3;
  std::atomic<int> ran{0};
  absl::Notification release;
  {
    base::BlockingExecutor executor({/*threads=*/1, kMaxQueued});
    absl::Notification blocker_started;
    ASSERT_TRUE(executor
                    .Submit([&] {
                      blocker_started.Notify();
                      release.WaitForNotification();
                    })
                    .ok());
    // The only worker holds the blocker, so the queue is empty and stays so.
    blocker_started.WaitForNotification();
    for (std::size_t i = 0; i < kMaxQueued; ++i) {
      ASSERT_TRUE(executor.Submit([&] { ran.fetch_add(1); }).ok()) << i;
    }
    const absl::Status rejected = executor.Submit([&] { ran.fetch_add(100); });
    EXPECT_EQ(rejected.code(), absl::StatusCode::kResourceExhausted)
        << rejected;
    release.Notify();
  }
  EXPECT_EQ(ran.load(), static_cast<int>(kMaxQueued));
}

TEST(BlockingExecutorTest, DestructorRunsQueuedTasksAndRefusesNewOnes) {
  constexpr int kQueued = 5;
  std::atomic<int> ran{0};
  absl::Notification blocker_started;
  absl::Notification release;
  auto executor = std::make_unique<base::BlockingExecutor>(
      base::BlockingExecutor::Options{/*threads=*/1, /*max_queued=*/64});
  ASSERT_TRUE(executor
                  ->Submit([&] {
                    blocker_started.Notify();
                    release.WaitForNotification();
                  })
                  .ok());
  blocker_started.WaitForNotification();
  for (int i = 0; i < kQueued; ++i) {
    ASSERT_TRUE(executor->Submit([&] { ran.fetch_add(1); }).ok());
  }

  base::BlockingExecutor* const raw = executor.get();
  std::thread destroyer([&] { executor.reset(); });
  // The destructor cannot finish while the blocker holds the only worker, so
  // `raw` stays valid until release. Wait until it has begun: from then on
  // Submit says UNAVAILABLE. Until then a probe may be accepted (and run).
  std::atomic<int> probes_run{0};
  int probes_accepted = 0;
  absl::Status probe;
  do {
    probe = raw->Submit([&] { probes_run.fetch_add(1); });
    if (probe.ok()) ++probes_accepted;
    std::this_thread::yield();
  } while (probe.code() != absl::StatusCode::kUnavailable);
  release.Notify();
  destroyer.join();

  EXPECT_EQ(ran.load(), kQueued);
  EXPECT_EQ(probes_run.load(), probes_accepted);
}

TEST(BlockingExecutorTest, TreatsZeroThreadsAndQueueAsOne) {
  base::BlockingExecutor executor({/*threads=*/0, /*max_queued=*/0});
  absl::Notification done;
  ASSERT_TRUE(executor.Submit([&] { done.Notify(); }).ok());
  done.WaitForNotification();
}

}  // namespace
}  // namespace dualrpc::fileservice
