#include "dualrpc/base/blocking_executor.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
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
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// Holds the only thread of a one-thread executor until destroyed, so that
// what is submitted meanwhile queues and the order it runs in is the
// queue's alone.
class ThreadBlocker {
 public:
  explicit ThreadBlocker(BlockingExecutor* executor) {
    const absl::Status submitted = executor->Submit("blocker", [this] {
      started_.Notify();
      release_.WaitForNotificationWithTimeout(kWaitTimeout);
    });
    EXPECT_THAT(submitted, IsOk());
    EXPECT_TRUE(started_.WaitForNotificationWithTimeout(kWaitTimeout));
  }
  ~ThreadBlocker() { Release(); }
  void Release() {
    if (!release_.HasBeenNotified()) release_.Notify();
  }

 private:
  absl::Notification started_;
  absl::Notification release_;
};

// The order tasks ran in, by label. Thread-safe.
class RunOrder {
 public:
  absl::AnyInvocable<void() &&> Task(std::string label) {
    return [this, label = std::move(label)] {
      absl::MutexLock lock(&mu_);
      labels_.push_back(label);
    };
  }
  std::vector<std::string> labels() const {
    absl::MutexLock lock(&mu_);
    return labels_;
  }
  std::size_t size() const {
    absl::MutexLock lock(&mu_);
    return labels_.size();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> labels_;
};

TEST(BlockingExecutorTest, RunsEveryTask) {
  constexpr int kTasks = 200;
  BlockingExecutor executor(
      {/*threads=*/4, /*max_queued=*/kTasks, /*max_queued_per_key=*/kTasks});
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

// Round-robin: each key with queued tasks gets one task per turn, in the
// order the keys first queued something; a key that joins later takes its
// turn after each key already waiting had one. With one FIFO (the old
// queue) the order would be a1..a4 b1..b4 c1.
TEST(BlockingExecutorTest, ServesKeysRoundRobin) {
  BlockingExecutor executor({/*threads=*/1, /*max_queued=*/64});
  RunOrder order;
  {
    ThreadBlocker blocker(&executor);
    for (int i = 1; i <= 4; ++i) {
      ASSERT_THAT(executor.Submit("a", order.Task(absl::StrCat("a", i))),
                  IsOk());
    }
    for (int i = 1; i <= 4; ++i) {
      ASSERT_THAT(executor.Submit("b", order.Task(absl::StrCat("b", i))),
                  IsOk());
    }
    ASSERT_THAT(executor.Submit("c", order.Task("c1")), IsOk());
  }
  ASSERT_TRUE(Eventually([&] { return order.size() == 9; })) << order.size();
  EXPECT_THAT(order.labels(), ElementsAre("a1", "b1", "c1", "a2", "b2", "a3",
                                          "b3", "a4", "b4"));
}

// Finding 4's shape: several keys flood the queue, then a newcomer submits
// one task. It runs after at most one task of each flooding key, not after
// the whole flood.
TEST(BlockingExecutorTest, ANewKeyWaitsForOneTaskPerWaitingKeyOnly) {
  constexpr int kFloodKeys = 3;
  constexpr int kTasksPerKey = 50;
  BlockingExecutor executor({/*threads=*/1, /*max_queued=*/1024,
                             /*max_queued_per_key=*/kTasksPerKey});
  RunOrder order;
  {
    ThreadBlocker blocker(&executor);
    for (int key = 0; key < kFloodKeys; ++key) {
      for (int i = 0; i < kTasksPerKey; ++i) {
        ASSERT_THAT(executor.Submit(absl::StrCat("flood", key),
                                    order.Task(absl::StrCat("flood", key))),
                    IsOk());
      }
    }
    ASSERT_THAT(executor.Submit("fresh", order.Task("fresh")), IsOk());
  }
  constexpr std::size_t kAll = kFloodKeys * kTasksPerKey + 1;
  ASSERT_TRUE(Eventually([&] { return order.size() == kAll; }))
      << order.size();
  const std::vector<std::string> labels = order.labels();
  const auto fresh = std::find(labels.begin(), labels.end(), "fresh");
  ASSERT_NE(fresh, labels.end());
  EXPECT_EQ(fresh - labels.begin(), kFloodKeys)
      << "the newcomer waited for more than one task per flooding key";
}

// Each key holds at most max_queued_per_key tasks; the next is refused with
// the message the client sees, other keys still get room, and the key gets
// room again once its tasks have been taken.
TEST(BlockingExecutorTest, RefusesAKeyOverItsOwnBound) {
  BlockingExecutor executor({/*threads=*/1, /*max_queued=*/100,
                             /*max_queued_per_key=*/3});
  std::atomic<int> ran{0};
  auto count = [&] { ran.fetch_add(1); };
  {
    ThreadBlocker blocker(&executor);
    for (int i = 0; i < 3; ++i) {
      ASSERT_THAT(executor.Submit("a", count), IsOk()) << i;
    }
    EXPECT_THAT(
        executor.Submit("a", [&] { ran.fetch_add(100); }),
        StatusIs(absl::StatusCode::kResourceExhausted,
                 HasSubstr("too many queued blocking calls on this connection")));
    EXPECT_THAT(executor.Submit("b", count), IsOk());
    const BlockingExecutor::Stats stats = executor.GetStats();
    EXPECT_EQ(stats.queued, 4);
    EXPECT_EQ(stats.rejected_per_key_total, 1);
    EXPECT_EQ(stats.rejected_total, 0);
  }
  ASSERT_TRUE(Eventually([&] { return executor.queued() == 0; }));
  // "a"'s queue emptied (and was recycled): a fresh start, not a stale one.
  ThreadBlocker blocker(&executor);
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(executor.Submit("a", count), IsOk()) << i;
  }
  EXPECT_THAT(executor.Submit("a", count),
              StatusIs(absl::StatusCode::kResourceExhausted));
  blocker.Release();
  ASSERT_TRUE(Eventually([&] { return ran.load() == 7; })) << ran.load();
  EXPECT_EQ(executor.GetStats().rejected_per_key_total, 2);
}

// The global bound still holds when every key is under its own.
TEST(BlockingExecutorTest, TheWholeQueueBoundHoldsAcrossKeys) {
  BlockingExecutor executor({/*threads=*/1, /*max_queued=*/4,
                             /*max_queued_per_key=*/3});
  ThreadBlocker blocker(&executor);
  for (const char* key : {"a", "a", "b", "b"}) {
    ASSERT_THAT(executor.Submit(key, [] {}), IsOk()) << key;
  }
  EXPECT_THAT(executor.Submit("c", [] {}),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("blocking executor queue is full")));
  EXPECT_EQ(executor.GetStats().rejected_total, 1);
  EXPECT_EQ(executor.GetStats().rejected_per_key_total, 0);
}

// Many keys coming and going (queues recycled and new ones made, more keys
// than are kept spare), from several threads at once: every accepted task
// runs exactly once.
TEST(BlockingExecutorTest, RunsEveryTaskOfManyKeysFromManyThreads) {
  constexpr int kSubmitters = 4;
  constexpr int kKeys = 600;
  constexpr int kTasksPerKey = 3;
  BlockingExecutor executor({/*threads=*/3, /*max_queued=*/100000,
                             /*max_queued_per_key=*/kTasksPerKey});
  std::atomic<int> ran{0};
  std::atomic<int> accepted{0};
  std::vector<std::thread> submitters;
  for (int s = 0; s < kSubmitters; ++s) {
    submitters.emplace_back([&, s] {
      for (int key = 0; key < kKeys; ++key) {
        for (int i = 0; i < kTasksPerKey; ++i) {
          if (executor.Submit(absl::StrCat("peer-", s, "-", key),
                              [&] { ran.fetch_add(1); })
                  .ok()) {
            accepted.fetch_add(1);
          }
        }
      }
    });
  }
  for (std::thread& submitter : submitters) submitter.join();
  EXPECT_EQ(accepted.load(), kSubmitters * kKeys * kTasksPerKey);
  ASSERT_TRUE(Eventually([&] { return ran.load() == accepted.load(); }))
      << ran.load() << " of " << accepted.load();
  EXPECT_EQ(executor.queued(), 0u);
}

}  // namespace
}  // namespace dualrpc::base
