#ifndef DUALRPC_TESTS_TESTING_FAKE_SERVER_STREAM_H_
#define DUALRPC_TESTS_TESTING_FAKE_SERVER_STREAM_H_

// A transport-free rpc::ServerStream for testing streaming implementations
// (reactors) on their own: the test plays the client (PushRequest,
// CloseRequests, Cancel), holds or releases writes (flow control), and reads
// what the implementation wrote and how it finished. Keeps rpc/stream.h's
// contracts: reactor callbacks run on the fake's own thread, one at a time,
// never inside the call that causes them and never before the start
// function returned; OnDone runs once, after Finish and after every
// operation completed.
//
//   FakeServerStream stream;
//   stream.Start(method);              // start_stream on the fake's thread
//   stream.PushRequest(request);
//   stream.CloseRequests();
//   ASSERT_TRUE(stream.WaitForDone());
//   EXPECT_THAT(stream.status(), IsOk());
//   auto responses = stream.Writes<EchoResponse>();

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/rpc/stream.h"
#include "google/protobuf/message.h"
#include "testing/wait.h"

namespace dualrpc_testing {

class FakeServerStream final : public dualrpc::rpc::ServerStream {
 public:
  explicit FakeServerStream(dualrpc::rpc::Metadata request_metadata = {},
                            absl::Time deadline = absl::InfiniteFuture())
      : request_metadata_(std::move(request_metadata)),
        deadline_(deadline),
        thread_([this] { Run(); }) {}

  // Waits for the callbacks queued so far; the reactor must be done (or
  // never started).
  ~FakeServerStream() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }

  // Runs `method.start_stream` on the fake's thread with `request` (server
  // streaming) and `response` (client streaming), which must outlive the
  // call; the messages are created here when null.
  void Start(const dualrpc::rpc::Method& method,
             const google::protobuf::Message* request = nullptr) {
    if (method.kind == dualrpc::rpc::MethodKind::kServerStreaming &&
        request == nullptr) {
      owned_request_ = method.new_request();
      request = owned_request_.get();
    }
    if (method.kind == dualrpc::rpc::MethodKind::kClientStreaming) {
      response_ = method.new_response();
    }
    Post([this, &method, request] {
      dualrpc::rpc::ServerStreamReactor* reactor =
          method.start_stream(this, request, response_.get());
      absl::MutexLock lock(&mu_);
      reactor_ = reactor;
    });
  }

  // ---- The client's side ----

  // One more request for StartRead.
  void PushRequest(const google::protobuf::Message& request) {
    absl::MutexLock lock(&mu_);
    requests_.push_back(request.SerializeAsString());
    ServeReadLocked();
  }
  // The client half-closes: reads past the last request complete with false.
  void CloseRequests() {
    absl::MutexLock lock(&mu_);
    requests_closed_ = true;
    ServeReadLocked();
  }
  // The client cancels (or the deadline passes): OnCancel, and operations
  // outstanding and later complete with false.
  void Cancel() {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return;
    cancelled_ = true;
    QueueLocked([this] { reactor()->OnCancel(); });
    ServeReadLocked();
    if (write_outstanding_) CompleteWriteLocked(false);
  }
  // While held, a StartWrite is recorded but its OnWriteDone waits for
  // ReleaseWrites (a client that does not read).
  void HoldWrites() {
    absl::MutexLock lock(&mu_);
    hold_writes_ = true;
  }
  void ReleaseWrites() {
    absl::MutexLock lock(&mu_);
    hold_writes_ = false;
    if (write_outstanding_) CompleteWriteLocked(!cancelled_);
  }

  // ---- What the implementation did ----

  bool WaitForDone(absl::Duration timeout = kWaitTimeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
  }
  // Waits until at least `count` writes were made.
  bool WaitForWrites(std::size_t count, absl::Duration timeout = kWaitTimeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return writes_.size() >= count || done_;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout) &&
           writes_.size() >= count;
  }
  // True once the implementation called Finish.
  bool finished() const {
    absl::MutexLock lock(&mu_);
    return status_.has_value();
  }
  // Finish's status; UNKNOWN before Finish.
  absl::Status status() const {
    absl::MutexLock lock(&mu_);
    return status_.value_or(absl::UnknownError("not finished"));
  }
  std::size_t write_count() const {
    absl::MutexLock lock(&mu_);
    return writes_.size();
  }
  // Every message written so far, parsed as `Response`.
  template <typename Response>
  std::vector<Response> Writes() const {
    absl::MutexLock lock(&mu_);
    std::vector<Response> out(writes_.size());
    for (std::size_t i = 0; i < writes_.size(); ++i) {
      out[i].ParseFromString(writes_[i]);
    }
    return out;
  }
  // Client streaming: the response given to Finish.
  const google::protobuf::Message* response() const { return response_.get(); }
  dualrpc::rpc::Metadata response_metadata() const {
    absl::MutexLock lock(&mu_);
    return response_metadata_;
  }
  // Protocol errors of the implementation (two reads outstanding, Finish
  // twice, ...): empty when it kept the contract.
  std::vector<std::string> misuses() const {
    absl::MutexLock lock(&mu_);
    return misuses_;
  }

  // ---- rpc::ServerStream ----

  absl::Time deadline() const override { return deadline_; }
  bool IsCancelled() const override {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }
  const dualrpc::rpc::Metadata& request_metadata() const override {
    return request_metadata_;
  }
  void AddResponseMetadata(std::string key, std::string value) override {
    absl::MutexLock lock(&mu_);
    response_metadata_.emplace_back(std::move(key), std::move(value));
  }
  std::string peer() const override { return "fake:test"; }

  void StartRead(google::protobuf::Message* request) override {
    absl::MutexLock lock(&mu_);
    if (read_target_ != nullptr) misuses_.push_back("two reads outstanding");
    if (status_.has_value()) misuses_.push_back("read after Finish");
    read_target_ = request;
    ServeReadLocked();
  }
  void StartWrite(const google::protobuf::Message& response) override {
    std::string bytes = response.SerializeAsString();
    absl::MutexLock lock(&mu_);
    if (write_outstanding_) misuses_.push_back("two writes outstanding");
    if (status_.has_value()) misuses_.push_back("write after Finish");
    write_outstanding_ = true;
    if (cancelled_) {
      CompleteWriteLocked(false);
      return;
    }
    writes_.push_back(std::move(bytes));
    if (!hold_writes_) CompleteWriteLocked(true);
  }
  void Finish(absl::Status status) override {
    absl::MutexLock lock(&mu_);
    if (status_.has_value()) {
      misuses_.push_back("Finish twice");
      return;
    }
    if (write_outstanding_)
      misuses_.push_back("Finish with a write outstanding");
    status_ = std::move(status);
    // An outstanding read ends with the call.
    if (read_target_ != nullptr) {
      read_target_ = nullptr;
      QueueLocked([this] { reactor()->OnReadDone(false); });
    }
    MaybeDoneLocked();
  }

 private:
  dualrpc::rpc::ServerStreamReactor* reactor() {
    absl::MutexLock lock(&mu_);
    return reactor_;
  }

  void ServeReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (read_target_ == nullptr) return;
    google::protobuf::Message* target = read_target_;
    if (!cancelled_ && !requests_.empty()) {
      std::string bytes = std::move(requests_.front());
      requests_.pop_front();
      read_target_ = nullptr;
      QueueLocked([this, target, bytes = std::move(bytes)] {
        const bool parsed = target->ParseFromString(bytes);
        reactor()->OnReadDone(parsed);
      });
    } else if (cancelled_ || requests_closed_) {
      read_target_ = nullptr;
      QueueLocked([this] { reactor()->OnReadDone(false); });
    }
  }

  void CompleteWriteLocked(bool ok) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    write_outstanding_ = false;
    QueueLocked([this, ok] { reactor()->OnWriteDone(ok); });
    MaybeDoneLocked();
  }

  void MaybeDoneLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!status_.has_value() || write_outstanding_ || read_target_ != nullptr ||
        done_queued_) {
      return;
    }
    done_queued_ = true;
    QueueLocked([this] {
      reactor()->OnDone();
      absl::MutexLock lock(&mu_);
      done_ = true;
    });
  }

  void Post(std::function<void()> task) {
    absl::MutexLock lock(&mu_);
    QueueLocked(std::move(task));
  }
  void QueueLocked(std::function<void()> task)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    tasks_.push_back(std::move(task));
  }

  // The fake's callback thread: runs queued callbacks one at a time, the
  // first being start_stream.
  void Run() {
    for (;;) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return !tasks_.empty() || stopping_;
        };
        mu_.Await(absl::Condition(&ready));
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  const dualrpc::rpc::Metadata request_metadata_;
  const absl::Time deadline_;
  std::unique_ptr<google::protobuf::Message> owned_request_;
  std::unique_ptr<google::protobuf::Message> response_;

  mutable absl::Mutex mu_;
  dualrpc::rpc::ServerStreamReactor* reactor_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::string> requests_ ABSL_GUARDED_BY(mu_);
  bool requests_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_writes_ ABSL_GUARDED_BY(mu_) = false;
  google::protobuf::Message* read_target_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool write_outstanding_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> writes_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> status_ ABSL_GUARDED_BY(mu_);
  dualrpc::rpc::Metadata response_metadata_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> misuses_ ABSL_GUARDED_BY(mu_);
  bool done_queued_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  // Last: starts after every other member is ready.
  std::thread thread_;
};

}  // namespace dualrpc_testing

#endif  // DUALRPC_TESTS_TESTING_FAKE_SERVER_STREAM_H_
