#ifndef DUALRPC_NET_EVENT_LOOP_H_
#define DUALRPC_NET_EVENT_LOOP_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "dualrpc/base/scoped_fd.h"

namespace dualrpc::net {

// Receives the epoll events of one fd registered with an EventLoop. Does not
// own the fd (muduo's Channel, as an interface).
class IoWatcher {
 public:
  virtual void OnIoEvents(std::uint32_t events) = 0;

 protected:
  ~IoWatcher() = default;
};

// One reactor: an epoll set, a task queue woken through an eventfd, one-shot
// timers, and tasks deferred to the end of the current iteration. One loop
// per thread; everything except Quit() and the Mailbox is loop-thread-only.
//
// Each iteration: wait for I/O or the next timer; dispatch I/O events; run
// due timers; run tasks posted from other threads; run deferred tasks until
// none are left. Deferred tasks are how work is batched (one flush per
// connection per iteration) and how objects are destroyed outside their own
// callbacks.
class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using Task = absl::AnyInvocable<void() &&>;

  // The thread-safe face of a loop. Shared by whoever may need to reach the
  // loop later (an RPC's completion, running on some executor thread) and so
  // may outlive the loop: once the loop has stopped, Post refuses tasks.
  class Mailbox {
   public:
    explicit Mailbox(base::ScopedFd wakeup_fd)
        : wakeup_fd_(std::move(wakeup_fd)) {}

    // Queues `task` to run on the loop thread. Returns false, and destroys
    // the task on the calling thread, once the loop has stopped.
    bool Post(Task task);
    // True on the loop's thread while it runs (until Run() returns).
    bool IsCurrentThread() const;

   private:
    friend class EventLoop;
    // Swaps the queue with `*tasks`, which must be empty.
    void TakeInto(std::vector<Task>* tasks);
    std::vector<Task> Close();

    const base::ScopedFd wakeup_fd_;
    absl::Mutex mu_;
    std::vector<Task> tasks_ ABSL_GUARDED_BY(mu_);
    bool closed_ ABSL_GUARDED_BY(mu_) = false;
  };

  // Names a pending timer; ordered by due time, then creation.
  struct TimerId {
    Clock::time_point when;
    std::uint64_t sequence = 0;  // 0: no timer.

    bool valid() const { return sequence != 0; }
    bool operator<(const TimerId& other) const {
      return when != other.when ? when < other.when : sequence < other.sequence;
    }
  };

  static absl::StatusOr<std::unique_ptr<EventLoop>> Create();
  // Closes the mailbox if CloseMailbox() was not called.
  ~EventLoop();

  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs iterations on the calling thread, which becomes the loop thread,
  // until Quit(). Returns after finishing the iteration in progress.
  void Run();
  // Thread-safe.
  void Quit();

  // Thread-safe; see Mailbox::Post.
  bool Post(Task task) { return mailbox_->Post(std::move(task)); }
  const std::shared_ptr<Mailbox>& mailbox() const { return mailbox_; }

  // Refuses further posts and destroys queued tasks (on this thread). Call
  // after Run() has returned, once nothing queued tasks refer to needs them.
  void CloseMailbox();

  bool IsInLoopThread() const {
    return loop_thread_ == std::this_thread::get_id();
  }
  // Aborts when called off the loop thread: a broken invariant, never input.
  void AssertInLoopThread() const;

  // Loop thread only (or before Run() starts). `watcher` must stay valid
  // until Unwatch(fd).
  absl::Status Watch(int fd, std::uint32_t events, IoWatcher* watcher);
  absl::Status Rewatch(int fd, std::uint32_t events, IoWatcher* watcher);
  void Unwatch(int fd);

  // Loop thread only. Runs `task` at the end of this iteration (FIFO).
  void Defer(Task task);

  // Loop thread only. Runs `task` once at `when` (or soon after: epoll
  // waits in whole milliseconds, rounded up).
  TimerId RunAt(Clock::time_point when, Task task);
  // No-op for a timer that already ran or was cancelled.
  void CancelTimer(TimerId id);

  // When this iteration woke up; cheap, and what timers compare against.
  Clock::time_point now() const { return now_; }

 private:
  EventLoop(base::ScopedFd epoll_fd, std::shared_ptr<Mailbox> mailbox);

  int PollTimeoutMillis() const;
  void RunDueTimers();
  void RunPostedTasks();
  void RunDeferredTasks();

  const base::ScopedFd epoll_fd_;
  const std::shared_ptr<Mailbox> mailbox_;
  std::atomic<bool> quit_{false};
  std::thread::id loop_thread_;
  Clock::time_point now_;
  bool mailbox_closed_ = false;

  std::map<TimerId, Task> timers_;
  std::uint64_t next_timer_sequence_ = 1;
  std::vector<Task> deferred_;
  // The batch of posted or deferred tasks being run.
  std::vector<Task> running_;
};

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_EVENT_LOOP_H_
