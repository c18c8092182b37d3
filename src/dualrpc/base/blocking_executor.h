#ifndef DUALRPC_BASE_BLOCKING_EXECUTOR_H_
#define DUALRPC_BASE_BLOCKING_EXECUTOR_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace dualrpc::base {

// A fixed pool of threads for work that may block (filesystem calls), so that
// transport threads (gRPC's callback threads, raw event loops) never wait on
// a disk. The queue is bounded: when it is full, Submit refuses the task with
// RESOURCE_EXHAUSTED instead of growing on a peer's say-so.
class BlockingExecutor {
 public:
  struct Options {
    // Number of pool threads; values below 1 are treated as 1.
    int threads = 4;
    // Tasks accepted but not yet started; values below 1 are treated as 1.
    std::size_t max_queued = 1024;
  };

  // What the pool is doing, for metrics (dualrpc_executor_*). Each field is
  // a snapshot on its own; the fields are not read at one instant.
  struct Stats {
    // Accepted tasks not yet taken by a thread.
    std::int64_t queued = 0;
    // Threads running a task now.
    std::int64_t busy_threads = 0;
    // Submit calls refused with RESOURCE_EXHAUSTED (queue full) since
    // construction; refusals after the destructor began are not counted.
    std::int64_t rejected_total = 0;
    // Tasks that have returned since construction.
    std::int64_t completed_total = 0;
  };

  explicit BlockingExecutor(Options options);
  // Runs every task already accepted, then joins the threads.
  ~BlockingExecutor();

  BlockingExecutor(const BlockingExecutor&) = delete;
  BlockingExecutor& operator=(const BlockingExecutor&) = delete;

  // Queues `task` to run on a pool thread. Thread-safe. Fails with
  // RESOURCE_EXHAUSTED when the queue is full and UNAVAILABLE after the
  // destructor has begun; the task is then dropped without running.
  absl::Status Submit(absl::AnyInvocable<void() &&> task);

  // Accepted tasks not yet taken by a thread (a snapshot). Thread-safe.
  std::size_t queued() const {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

  // Thread-safe, any thread; takes the queue's mutex once (for `queued`).
  // Keeping the figures costs Submit nothing it did not already pay (it
  // holds the mutex) and a worker two relaxed atomic increments per task.
  Stats GetStats() const;

 private:
  void WorkerLoop();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::int64_t rejected_total_ ABSL_GUARDED_BY(mu_) = 0;
  // Written by the workers outside mu_ (a task runs unlocked).
  std::atomic<std::int64_t> busy_threads_{0};
  std::atomic<std::int64_t> completed_total_{0};
  std::vector<std::thread> threads_;
};

}  // namespace dualrpc::base

#endif  // DUALRPC_BASE_BLOCKING_EXECUTOR_H_
