#ifndef DUALRPC_TESTS_NET_LOOP_THREAD_H_
#define DUALRPC_TESTS_NET_LOOP_THREAD_H_

#include <memory>
#include <thread>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "dualrpc/net/event_loop.h"

namespace dualrpc::net {

// An EventLoop running on its own thread for the length of a test. The
// destructor quits and joins it; objects the test created on the loop must
// be destroyed (with RunOnLoop) before.
class LoopThread {
 public:
  LoopThread()
      : loop_(*EventLoop::Create()), thread_([this] { loop_->Run(); }) {}
  ~LoopThread() {
    loop_->Quit();
    thread_.join();
    loop_->CloseMailbox();
  }

  EventLoop* loop() { return loop_.get(); }

  // Runs `task` on the loop thread and waits for it. False if it did not
  // run within `timeout`.
  bool RunOnLoop(absl::AnyInvocable<void() &&> task,
                 absl::Duration timeout = absl::Seconds(10)) {
    auto done = std::make_shared<absl::Notification>();
    loop_->Post([task = std::move(task), done]() mutable {
      std::move(task)();
      done->Notify();
    });
    return done->WaitForNotificationWithTimeout(timeout);
  }

 private:
  std::unique_ptr<EventLoop> loop_;
  std::thread thread_;
};

}  // namespace dualrpc::net

#endif  // DUALRPC_TESTS_NET_LOOP_THREAD_H_
