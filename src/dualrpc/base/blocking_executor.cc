#include "dualrpc/base/blocking_executor.h"

#include <algorithm>
#include <utility>

namespace dualrpc::base {
namespace {

// Emptied key queues kept for reuse. Enough for the connections a busy
// server has queued work for at once; beyond it a key that comes back costs
// one KeyQueue allocation (a few hundred bytes with its deque).
constexpr std::size_t kMaxSpareQueues = 256;

// A pool without threads or without queue room could never run anything.
BlockingExecutor::Options AtLeastOne(BlockingExecutor::Options options) {
  options.threads = std::max(options.threads, 1);
  options.max_queued = std::max<std::size_t>(options.max_queued, 1);
  options.max_queued_per_key =
      std::max<std::size_t>(options.max_queued_per_key, 1);
  return options;
}

}  // namespace

BlockingExecutor::BlockingExecutor(Options options)
    : options_(AtLeastOne(options)) {
  threads_.reserve(options_.threads);
  for (int i = 0; i < options_.threads; ++i) {
    threads_.emplace_back([this] { WorkerLoop(); });
  }
}

BlockingExecutor::~BlockingExecutor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& thread : threads_) thread.join();
}

absl::Status BlockingExecutor::Submit(absl::string_view key, Task task) {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    return absl::UnavailableError("blocking executor is shutting down");
  }
  if (queued_ >= options_.max_queued) {
    ++rejected_total_;
    return absl::ResourceExhaustedError("blocking executor queue is full");
  }
  KeyQueue* queue;
  if (auto found = active_.find(key); found != active_.end()) {
    queue = found->second.get();
    if (queue->tasks.size() >= options_.max_queued_per_key) {
      ++rejected_per_key_total_;
      return absl::ResourceExhaustedError(
          "too many queued blocking calls on this connection");
    }
  } else {
    queue = ActivateKey(key);
  }
  queue->tasks.push_back(std::move(task));
  ++queued_;
  return absl::OkStatus();
}

BlockingExecutor::KeyQueue* BlockingExecutor::ActivateKey(
    absl::string_view key) {
  std::unique_ptr<KeyQueue> queue;
  if (spare_.empty()) {
    queue = std::make_unique<KeyQueue>();
  } else {
    queue = std::move(spare_.back());
    spare_.pop_back();
  }
  queue->key.assign(key.data(), key.size());
  KeyQueue* const added = queue.get();
  // Last in the ring: every key already waiting has its turn first.
  if (ring_tail_ == nullptr) {
    added->next = added;
  } else {
    added->next = ring_tail_->next;
    ring_tail_->next = added;
  }
  ring_tail_ = added;
  active_.emplace(added->key, std::move(queue));
  return added;
}

BlockingExecutor::Task BlockingExecutor::TakeNext() {
  KeyQueue* const head = ring_tail_->next;
  Task task = std::move(head->tasks.front());
  head->tasks.pop_front();
  --queued_;
  if (!head->tasks.empty()) {
    // Its turn is over: it moves to the back.
    ring_tail_ = head;
    return task;
  }
  // Out of the ring, and recycled.
  if (head == ring_tail_) {
    ring_tail_ = nullptr;
  } else {
    ring_tail_->next = head->next;
  }
  head->next = nullptr;
  auto node = active_.extract(absl::string_view(head->key));
  if (spare_.size() < kMaxSpareQueues) {
    spare_.push_back(std::move(node.mapped()));
  }
  return task;
}

bool BlockingExecutor::HasWorkOrStopping() const {
  return queued_ > 0 || stopping_;
}

void BlockingExecutor::WorkerLoop() {
  while (true) {
    Task task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &BlockingExecutor::HasWorkOrStopping));
      // Stopping with an empty queue: every accepted task has been taken.
      if (queued_ == 0) return;
      task = TakeNext();
      // Under mu_, so that a task is never seen neither queued nor busy.
      busy_threads_.fetch_add(1, std::memory_order_relaxed);
    }
    std::move(task)();
    // Destroyed before it counts as completed: what it captured is gone.
    task = nullptr;
    completed_total_.fetch_add(1, std::memory_order_relaxed);
    busy_threads_.fetch_sub(1, std::memory_order_relaxed);
  }
}

BlockingExecutor::Stats BlockingExecutor::GetStats() const {
  Stats stats;
  {
    absl::MutexLock lock(&mu_);
    stats.queued = static_cast<std::int64_t>(queued_);
    stats.rejected_total = rejected_total_;
    stats.rejected_per_key_total = rejected_per_key_total_;
  }
  stats.busy_threads = busy_threads_.load(std::memory_order_relaxed);
  stats.completed_total = completed_total_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace dualrpc::base
