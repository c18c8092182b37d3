#include "capnp_contender.h"

#include <capnp/ez-rpc.h>
#include <kj/async-io.h>
#include <kj/async.h>
#include <kj/exception.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench_net.h"
#include "dualrpc/base/posix_error.h"
#include "dualrpc/base/scoped_fd.h"
#include "echo.capnp.h"

namespace dualrpc::bench {
namespace {

// Matches the server's: room for the 1 MiB payloads.
constexpr uint64_t kTraversalLimitWords = uint64_t{64} << 20;

// Intended start times handed from the pacer thread to the KJ loop.
class StartQueue {
 public:
  StartQueue() : wakeup_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  int wakeup_fd() const { return wakeup_fd_.get(); }

  // Pacer thread.
  void Push(int64_t intended) {
    bool was_empty;
    {
      absl::MutexLock lock(&mu_);
      was_empty = starts_.empty();
      starts_.push_back(intended);
    }
    if (was_empty) Wake();
  }
  // Pacer thread: no more starts will come.
  void Close() {
    {
      absl::MutexLock lock(&mu_);
      closed_ = true;
    }
    Wake();
  }
  // Loop thread. Sets *closed once Close() was called and nothing is left.
  std::vector<int64_t> TakeAll(bool* closed) {
    absl::MutexLock lock(&mu_);
    std::vector<int64_t> taken;
    taken.swap(starts_);
    *closed = closed_;
    return taken;
  }

 private:
  void Wake() {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wakeup_fd_.get(), &one, sizeof one);
  }

  base::ScopedFd wakeup_fd_;
  absl::Mutex mu_;
  std::vector<int64_t> starts_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

class ErrorCounter final : public kj::TaskSet::ErrorHandler {
 public:
  explicit ErrorCounter(RunControl* control) : control_(control) {}
  void taskFailed(kj::Exception&& exception) override {
    control_->RecordCall(0, false);
    control_->NoteError(exception.getDescription().cStr());
  }

 private:
  RunControl* const control_;
};

// Everything of one run; lives on the Run thread, which owns the KJ loop.
class CapnpRun {
 public:
  CapnpRun(const LoadShape& shape, RunControl* control, int payload_bytes)
      : shape_(shape), control_(control), payload_(payload_bytes, 'x') {}

  ~CapnpRun() {
    // The clients (and their event loop) go before the sockets they use.
    capabilities_.clear();
    clients_.clear();
  }

  absl::Status Connect(const std::string& address) {
    capnp::ReaderOptions reader_options;
    reader_options.traversalLimitInWords = kTraversalLimitWords;
    for (int i = 0; i < shape_.connections; ++i) {
      absl::StatusOr<base::ScopedFd> fd =
          ConnectTcp(address, /*non_blocking=*/true);
      if (!fd.ok()) return fd.status();
      clients_.push_back(
          std::make_unique<capnp::EzRpcClient>(fd->get(), reader_options));
      fds_.push_back(*std::move(fd));
      capabilities_.push_back(clients_.back()->getMain<EchoService>());
    }
    // One call per connection, so that every bootstrap is done.
    kj::WaitScope& wait_scope = clients_.front()->getWaitScope();
    for (EchoService::Client& capability : capabilities_) {
      try {
        capability.echoRequest().send().wait(wait_scope);
      } catch (const kj::Exception& exception) {
        return absl::UnavailableError(exception.getDescription().cStr());
      }
    }
    return absl::OkStatus();
  }

  void RunClosed() {
    auto callers = kj::heapArrayBuilder<kj::Promise<void>>(shape_.concurrency);
    control_->MarkStarted();
    for (int i = 0; i < shape_.concurrency; ++i) {
      callers.add(Caller(capabilities_[i % capabilities_.size()]));
    }
    kj::joinPromises(callers.finish()).wait(clients_.front()->getWaitScope());
  }

  void RunOpen() {
    StartQueue queue;
    OpenLoopPacer pacer(shape_.rate, kOpenLoopMaxInFlight);
    ErrorCounter errors(control_);
    kj::TaskSet calls(errors);
    kj::Own<kj::AsyncInputStream> wakeups =
        clients_.front()->getLowLevelIoProvider().wrapInputFd(
            queue.wakeup_fd(),
            kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK);
    std::thread pacer_thread([&]() {
      pacer.Run(*control_, [&](int64_t intended) { queue.Push(intended); });
      queue.Close();
    });
    control_->MarkStarted();
    std::size_t next = 0;
    kj::Function<void(int64_t)> start = [&](int64_t intended) {
      EchoService::Client& capability =
          capabilities_[next++ % capabilities_.size()];
      calls.add(Send(capability, intended).then([&pacer](bool) {
        pacer.CallEnded();
      }));
    };
    DrainStarts(*wakeups, queue, start).wait(clients_.front()->getWaitScope());
    calls.onEmpty().wait(clients_.front()->getWaitScope());
    pacer_thread.join();
  }

 private:
  // Sends one echo; resolves to whether it came back intact, after
  // recording its latency from `since`.
  kj::Promise<bool> Send(EchoService::Client& capability, int64_t since) {
    auto request = capability.echoRequest();
    request.setPayload(capnp::Data::Reader(
        reinterpret_cast<const capnp::byte*>(payload_.data()),
        payload_.size()));
    return request.send().then(
        [this, since](capnp::Response<EchoService::EchoResults>&& response) {
          const bool ok = response.getPayload().size() == payload_.size();
          control_->RecordCall(NowNanos() - since, ok);
          if (!ok)
            control_->NoteError("capnp echo came back with the wrong size");
          return ok;
        },
        [this](kj::Exception&& exception) {
          control_->RecordCall(0, false);
          control_->NoteError(exception.getDescription().cStr());
          return false;
        });
  }

  // One closed-loop caller: the next call from the previous response.
  kj::Promise<void> Caller(EchoService::Client& capability) {
    return Send(capability, NowNanos())
        .then([this, &capability](bool ok) -> kj::Promise<void> {
          if (!ok || !control_->running()) return kj::READY_NOW;
          return Caller(capability);
        });
  }

  kj::Promise<void> DrainStarts(kj::AsyncInputStream& wakeups,
                                StartQueue& queue,
                                kj::Function<void(int64_t)>& start) {
    return wakeups
        .tryRead(&wakeup_count_, sizeof wakeup_count_, sizeof wakeup_count_)
        .then([this, &wakeups, &queue, &start](size_t) -> kj::Promise<void> {
          bool closed = false;
          for (int64_t intended : queue.TakeAll(&closed)) start(intended);
          if (closed) return kj::READY_NOW;
          return DrainStarts(wakeups, queue, start);
        });
  }

  const LoadShape shape_;
  RunControl* const control_;
  const std::string payload_;
  std::vector<base::ScopedFd> fds_;
  std::vector<std::unique_ptr<capnp::EzRpcClient>> clients_;
  std::vector<EchoService::Client> capabilities_;
  uint64_t wakeup_count_ = 0;
};

}  // namespace

absl::Status CapnpContender::Run(const Workload& workload,
                                 const LoadShape& shape, RunControl* control) {
  CapnpRun run(shape, control, workload.payload_bytes);
  if (absl::Status connected = run.Connect(address_); !connected.ok())
    return connected;
  if (shape.mode == LoadShape::Mode::kOpen) {
    run.RunOpen();
  } else {
    run.RunClosed();
  }
  return absl::OkStatus();
}

}  // namespace dualrpc::bench
