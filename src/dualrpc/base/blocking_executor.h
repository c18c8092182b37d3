#ifndef DUALRPC_BASE_BLOCKING_EXECUTOR_H_
#define DUALRPC_BASE_BLOCKING_EXECUTOR_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace dualrpc::base {

// A fixed pool of threads for work that may block (filesystem calls), so that
// transport threads (gRPC's callback threads, raw event loops) never wait on
// a disk.
//
// Every task is submitted under a key: whoever the caller says shares a fate.
// FileServiceImpl passes the call's ServerCallContext::peer(), which names one
// TCP connection on either transport, so "key" means "connection" here and
// in the refusal's message. The queue is bounded twice, instead of growing on
// a peer's say-so: in all (max_queued) and per key (max_queued_per_key); a
// task over either bound is refused with RESOURCE_EXHAUSTED. And it is served
// round-robin across keys, one task per key per turn: a task submitted under
// a key with nothing queued waits for at most one task of each other key
// with queued tasks, however many those keys hold, so one client's flood
// queues behind itself, not in front of everyone.
//
// Submit and taking a task are O(1) (one hash lookup of the key): the keys
// with queued tasks form a ring, each with its own FIFO. A key's queue is
// recycled when it empties, so a steady load allocates nothing per task
// beyond the FIFO's storage.
class BlockingExecutor {
 public:
  struct Options {
    // Number of pool threads; values below 1 are treated as 1.
    int threads = 4;
    // Tasks accepted but not yet started, over all keys; values below 1 are
    // treated as 1.
    std::size_t max_queued = 1024;
    // Tasks accepted but not yet started under one key; values below 1 are
    // treated as 1 (a key with nothing queued always has room, unless the
    // whole queue is full).
    std::size_t max_queued_per_key = 64;
  };

  // What the pool is doing, for metrics (dualrpc_executor_*). Each field is
  // a snapshot on its own; the fields are not read at one instant.
  struct Stats {
    // Accepted tasks not yet taken by a thread.
    std::int64_t queued = 0;
    // Threads running a task now.
    std::int64_t busy_threads = 0;
    // Submit calls refused with RESOURCE_EXHAUSTED because the whole queue
    // was full (max_queued) since construction; refusals after the
    // destructor began are not counted.
    std::int64_t rejected_total = 0;
    // Submit calls refused with RESOURCE_EXHAUSTED because their key had
    // max_queued_per_key tasks queued (the whole queue was not full), since
    // construction.
    std::int64_t rejected_per_key_total = 0;
    // Tasks that have returned since construction.
    std::int64_t completed_total = 0;
  };

  explicit BlockingExecutor(Options options);
  // Runs every task already accepted, then joins the threads.
  ~BlockingExecutor();

  BlockingExecutor(const BlockingExecutor&) = delete;
  BlockingExecutor& operator=(const BlockingExecutor&) = delete;

  // Queues `task` under `key` to run on a pool thread. Thread-safe; `key` is
  // copied. Fails with UNAVAILABLE after the destructor has begun, with
  // RESOURCE_EXHAUSTED "blocking executor queue is full" when max_queued
  // tasks are queued, and with RESOURCE_EXHAUSTED "too many queued blocking
  // calls on this connection" when `key` has max_queued_per_key queued; the
  // task is then dropped without running (destroyed before Submit returns).
  absl::Status Submit(absl::string_view key,
                      absl::AnyInvocable<void() &&> task);
  // Submit under the empty key, which is one key like any other: every
  // keyless task shares its max_queued_per_key.
  absl::Status Submit(absl::AnyInvocable<void() &&> task) {
    return Submit(absl::string_view(), std::move(task));
  }

  // Accepted tasks not yet taken by a thread (a snapshot). Thread-safe.
  std::size_t queued() const {
    absl::MutexLock lock(&mu_);
    return queued_;
  }

  // Thread-safe, any thread; takes the queue's mutex once (for `queued`).
  // Keeping the figures costs Submit nothing it did not already pay (it
  // holds the mutex) and a worker two relaxed atomic increments per task.
  Stats GetStats() const;

 private:
  using Task = absl::AnyInvocable<void() &&>;

  // The tasks of one key, in submission order. Linked into the ring exactly
  // while `tasks` is non-empty; owned by active_ then, by spare_ (or freed)
  // once it empties.
  struct KeyQueue {
    std::string key;
    std::deque<Task> tasks;
    // The next key to serve after this one (the ring is circular).
    KeyQueue* next = nullptr;
  };

  void WorkerLoop();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The queue for a key that has nothing queued: a recycled one or a new
  // one, linked in last in the ring.
  KeyQueue* ActivateKey(absl::string_view key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the first task of the key whose turn it is and moves that key to
  // the back of the ring (or out of it, when it has no more). queued_ > 0.
  Task TakeNext() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  // Keys with queued tasks; each map key views its own KeyQueue::key.
  absl::flat_hash_map<absl::string_view, std::unique_ptr<KeyQueue>> active_
      ABSL_GUARDED_BY(mu_);
  // Emptied queues kept for reuse (their deque and key storage), at most
  // kMaxSpareQueues (blocking_executor.cc).
  std::vector<std::unique_ptr<KeyQueue>> spare_ ABSL_GUARDED_BY(mu_);
  // The ring's last key; ring_tail_->next is the one served next. Null when
  // nothing is queued.
  KeyQueue* ring_tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Tasks in all of active_'s queues.
  std::size_t queued_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::int64_t rejected_total_ ABSL_GUARDED_BY(mu_) = 0;
  std::int64_t rejected_per_key_total_ ABSL_GUARDED_BY(mu_) = 0;
  // Written by the workers outside mu_ (a task runs unlocked).
  std::atomic<std::int64_t> busy_threads_{0};
  std::atomic<std::int64_t> completed_total_{0};
  std::vector<std::thread> threads_;
};

}  // namespace dualrpc::base

#endif  // DUALRPC_BASE_BLOCKING_EXECUTOR_H_
