#ifndef DUALRPC_BASE_BLOCKING_EXECUTOR_H_
#define DUALRPC_BASE_BLOCKING_EXECUTOR_H_

#include <cstddef>
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

 private:
  void WorkerLoop();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace dualrpc::base

#endif  // DUALRPC_BASE_BLOCKING_EXECUTOR_H_
