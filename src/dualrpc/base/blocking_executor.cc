#include "dualrpc/base/blocking_executor.h"

#include <algorithm>
#include <utility>

namespace dualrpc::base {
namespace {

// A pool without threads or without queue room could never run anything.
BlockingExecutor::Options AtLeastOne(BlockingExecutor::Options options) {
  options.threads = std::max(options.threads, 1);
  options.max_queued = std::max<std::size_t>(options.max_queued, 1);
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

absl::Status BlockingExecutor::Submit(absl::AnyInvocable<void() &&> task) {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    return absl::UnavailableError("blocking executor is shutting down");
  }
  if (queue_.size() >= options_.max_queued) {
    ++rejected_total_;
    return absl::ResourceExhaustedError("blocking executor queue is full");
  }
  queue_.push_back(std::move(task));
  return absl::OkStatus();
}

bool BlockingExecutor::HasWorkOrStopping() const {
  return !queue_.empty() || stopping_;
}

void BlockingExecutor::WorkerLoop() {
  while (true) {
    absl::AnyInvocable<void() &&> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &BlockingExecutor::HasWorkOrStopping));
      // Stopping with an empty queue: every accepted task has been taken.
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
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
    stats.queued = static_cast<std::int64_t>(queue_.size());
    stats.rejected_total = rejected_total_;
  }
  stats.busy_threads = busy_threads_.load(std::memory_order_relaxed);
  stats.completed_total = completed_total_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace dualrpc::base
