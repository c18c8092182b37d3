#include "dualrpc/net/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "dualrpc/base/posix_error.h"

namespace dualrpc::net {
namespace {

// epoll events taken per epoll_wait.
constexpr int kMaxEventsPerPoll = 128;

// The mailbox of the loop running on this thread, if any. Compared by
// address only: a Mailbox cannot be freed while a caller holds it.
thread_local const EventLoop::Mailbox* t_running_mailbox = nullptr;

void Wake(int eventfd) {
  const std::uint64_t one = 1;
  // Fails only with EAGAIN when the counter is saturated, which still
  // leaves the eventfd readable: the loop wakes either way.
  [[maybe_unused]] ssize_t n = ::write(eventfd, &one, sizeof one);
}

void ConsumeWakeups(int eventfd) {
  std::uint64_t count = 0;
  [[maybe_unused]] ssize_t n = ::read(eventfd, &count, sizeof count);
}

}  // namespace

bool EventLoop::Mailbox::Post(Task task) {
  bool accepted = false;
  bool was_empty = false;
  {
    absl::MutexLock lock(&mu_);
    if (!closed_) {
      was_empty = tasks_.empty();
      tasks_.push_back(std::move(task));
      accepted = true;
    }
  }
  // A refused task is destroyed on return, outside the lock (its destructor
  // may post again).
  if (!accepted) return false;
  // The loop takes every queued task per wakeup, so only the first post
  // into an empty queue needs to wake it.
  if (was_empty) Wake(wakeup_fd_.get());
  return true;
}

bool EventLoop::Mailbox::IsCurrentThread() const {
  return t_running_mailbox == this;
}

void EventLoop::Mailbox::TakeInto(std::vector<Task>* tasks) {
  absl::MutexLock lock(&mu_);
  tasks->swap(tasks_);
}

std::vector<EventLoop::Task> EventLoop::Mailbox::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  return std::exchange(tasks_, {});
}

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create() {
  base::ScopedFd epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd.valid()) return base::PosixError("epoll_create1", errno);
  base::ScopedFd wakeup_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wakeup_fd.valid()) return base::PosixError("eventfd", errno);
  // The wakeup fd is the one registration without a watcher.
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.ptr = nullptr;
  if (::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, wakeup_fd.get(), &event) !=
      0) {
    return base::PosixError("epoll_ctl(ADD eventfd)", errno);
  }
  auto mailbox = std::make_shared<Mailbox>(std::move(wakeup_fd));
  return std::unique_ptr<EventLoop>(
      new EventLoop(std::move(epoll_fd), std::move(mailbox)));
}

EventLoop::EventLoop(base::ScopedFd epoll_fd, std::shared_ptr<Mailbox> mailbox)
    : epoll_fd_(std::move(epoll_fd)),
      mailbox_(std::move(mailbox)),
      now_(Clock::now()) {}

EventLoop::~EventLoop() { CloseMailbox(); }

void EventLoop::Run() {
  loop_thread_ = std::this_thread::get_id();
  t_running_mailbox = mailbox_.get();
  epoll_event events[kMaxEventsPerPoll];
  while (!quit_.load(std::memory_order_acquire)) {
    const int ready = ::epoll_wait(epoll_fd_.get(), events, kMaxEventsPerPoll,
                                   PollTimeoutMillis());
    now_ = Clock::now();
    bool woken = false;
    // EINTR (ready < 0) just starts the next iteration; no other error is
    // possible with a valid epoll fd and buffer.
    for (int i = 0; i < ready; ++i) {
      auto* watcher = static_cast<IoWatcher*>(events[i].data.ptr);
      if (watcher == nullptr) {
        ConsumeWakeups(mailbox_->wakeup_fd_.get());
        woken = true;
      } else {
        watcher->OnIoEvents(events[i].events);
      }
    }
    RunDueTimers();
    if (woken) RunPostedTasks();
    RunDeferredTasks();
  }
  t_running_mailbox = nullptr;
}

void EventLoop::Quit() {
  quit_.store(true, std::memory_order_release);
  // Harmless on the loop thread too (one spare wakeup), and it keeps this
  // free of reads of loop-thread state.
  Wake(mailbox_->wakeup_fd_.get());
}

void EventLoop::CloseMailbox() {
  if (mailbox_closed_) return;
  mailbox_closed_ = true;
  // Destroyed here, after the mailbox's lock is released.
  std::vector<Task> abandoned = mailbox_->Close();
  abandoned.clear();
}

void EventLoop::AssertInLoopThread() const {
  if (!IsInLoopThread()) {
    std::fprintf(stderr, "dualrpc: EventLoop used off its thread\n");
    std::abort();
  }
}

absl::Status EventLoop::Watch(int fd, std::uint32_t events,
                              IoWatcher* watcher) {
  epoll_event event{};
  event.events = events;
  event.data.ptr = watcher;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
    return base::PosixError("epoll_ctl(ADD)", errno);
  }
  return absl::OkStatus();
}

absl::Status EventLoop::Rewatch(int fd, std::uint32_t events,
                                IoWatcher* watcher) {
  epoll_event event{};
  event.events = events;
  event.data.ptr = watcher;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd, &event) != 0) {
    return base::PosixError("epoll_ctl(MOD)", errno);
  }
  return absl::OkStatus();
}

void EventLoop::Unwatch(int fd) {
  // Fails only for an fd that is not registered, which is then a no-op.
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::Defer(Task task) { deferred_.push_back(std::move(task)); }

EventLoop::TimerId EventLoop::RunAt(Clock::time_point when, Task task) {
  const TimerId id{when, next_timer_sequence_++};
  timers_.emplace(id, std::move(task));
  return id;
}

void EventLoop::CancelTimer(TimerId id) {
  if (id.valid()) timers_.erase(id);
}

int EventLoop::PollTimeoutMillis() const {
  if (!deferred_.empty()) return 0;
  if (timers_.empty()) return -1;
  const Clock::duration wait = timers_.begin()->first.when - Clock::now();
  if (wait <= Clock::duration::zero()) return 0;
  // Rounded up: waking early would only spin one more iteration.
  const auto millis =
      std::chrono::ceil<std::chrono::milliseconds>(wait).count();
  return millis > INT32_MAX ? INT32_MAX : static_cast<int>(millis);
}

void EventLoop::RunDueTimers() {
  // Re-reads the front each time: a timer's task may cancel or add timers.
  while (!timers_.empty() && timers_.begin()->first.when <= now_) {
    auto node = timers_.extract(timers_.begin());
    std::move(node.mapped())();
  }
}

void EventLoop::RunPostedTasks() {
  // Swapping vectors keeps both allocations for the next iterations.
  mailbox_->TakeInto(&running_);
  for (Task& task : running_) std::move(task)();
  running_.clear();
}

void EventLoop::RunDeferredTasks() {
  // Deferred tasks may defer more (a flush that fails closes a connection,
  // which defers its destruction): run until none are left.
  while (!deferred_.empty()) {
    running_.swap(deferred_);
    for (Task& task : running_) std::move(task)();
    running_.clear();
  }
}

}  // namespace dualrpc::net
