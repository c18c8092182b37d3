#ifndef DUALRPC_TESTS_CLI_SCRIPTED_STREAM_CHANNEL_H_
#define DUALRPC_TESTS_CLI_SCRIPTED_STREAM_CHANNEL_H_

// A fake rpc::Channel whose streaming calls are answered by a script, for
// the CLI's unit tests: each stream runs on its own thread, so that its
// callbacks come from a thread other than the caller's and never inside the
// Start* call that causes them (rpc/stream.h). Unary calls fail with
// UNIMPLEMENTED unless `unary` is set.

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/channel.h"
#include "dualrpc/rpc/stream.h"
#include "google/protobuf/message_lite.h"

namespace dualrpc::cli {

// How the fake server answers one streaming call. Messages are serialized.
struct StreamScript {
  // The responses sent for each request, in order (may be empty).
  std::function<std::vector<std::string>(const std::string& request)>
      on_request;
  // Sent at the half-close (for server streaming: after the one request),
  // before the call ends with `status`.
  std::vector<std::string> at_end;
  absl::Status status;
  rpc::Metadata headers;
  rpc::Metadata trailers;
  // >= 0: the call ends with `status` after this many requests, without
  // waiting for the half-close.
  int end_after_requests = -1;
  // The call never ends by itself: only Cancel or the deadline end it.
  bool hang = false;
};

// What one stream was created with and what it saw.
struct RecordedStream {
  std::string method;
  rpc::MethodKind kind;
  rpc::CallOptions options;
  std::vector<std::string> requests;  // serialized, in order
  bool half_closed = false;
  bool cancelled = false;
};

class ScriptedStreamChannel final : public rpc::Channel {
 public:
  // The script of every new stream, by method.
  explicit ScriptedStreamChannel(
      std::function<StreamScript(absl::string_view method)> script)
      : script_(std::move(script)) {}
  // Joins every stream's thread: each stream's OnDone has run.
  ~ScriptedStreamChannel() override {
    std::vector<std::unique_ptr<Stream>> streams;
    {
      absl::MutexLock lock(&mu_);
      streams.swap(streams_);
    }
    for (auto& stream : streams) stream->Join();
  }

  rpc::ClientStream* NewStream(absl::string_view method, rpc::MethodKind kind,
                               const rpc::CallOptions& options,
                               rpc::ClientStreamReactor* reactor) override {
    auto stream =
        std::make_unique<Stream>(this, streams_recorded(), method, kind,
                                 options, reactor, script_(method));
    Stream* raw = stream.get();
    absl::MutexLock lock(&mu_);
    streams_.push_back(std::move(stream));
    return raw;
  }

  void StartUnaryCall(absl::string_view method,
                      const google::protobuf::MessageLite& request,
                      google::protobuf::MessageLite* response,
                      const rpc::CallOptions& options,
                      rpc::UnaryDone done) override {
    if (!unary) {
      std::move(done)(absl::UnimplementedError("no unary calls here"));
      return;
    }
    unary(method, request, response, options, std::move(done));
  }

  // What the streams were created with, in order. Stable once the streams
  // have ended (after the commands under test returned).
  std::vector<RecordedStream> recorded() {
    absl::MutexLock lock(&mu_);
    return recorded_;
  }

  std::function<void(absl::string_view, const google::protobuf::MessageLite&,
                     google::protobuf::MessageLite*, const rpc::CallOptions&,
                     rpc::UnaryDone)>
      unary;

 private:
  class Stream final : public rpc::ClientStream {
   public:
    Stream(ScriptedStreamChannel* channel, size_t index,
           absl::string_view method, rpc::MethodKind kind,
           const rpc::CallOptions& options, rpc::ClientStreamReactor* reactor,
           StreamScript script)
        : channel_(channel),
          index_(index),
          kind_(kind),
          options_(options),
          reactor_(reactor),
          script_(std::move(script)),
          deadline_(options.timeout == absl::InfiniteDuration()
                        ? absl::InfiniteFuture()
                        : absl::Now() + options.timeout) {
      channel_->Record(index_, [&](RecordedStream& r) {
        r.method = std::string(method);
        r.kind = kind;
        r.options = options;
      });
      thread_ = std::thread([this] { Run(); });
    }
    void Join() { thread_.join(); }

    void Start() override {
      absl::MutexLock lock(&mu_);
      started_ = true;
    }
    void StartRead(google::protobuf::MessageLite* response) override {
      absl::MutexLock lock(&mu_);
      read_ = response;
    }
    void StartWrite(const google::protobuf::MessageLite& request) override {
      absl::MutexLock lock(&mu_);
      write_ = request.SerializeAsString();
      write_pending_ = true;
    }
    void StartWritesDone() override {
      absl::MutexLock lock(&mu_);
      writes_done_pending_ = true;
    }
    void Cancel() override {
      absl::MutexLock lock(&mu_);
      cancel_ = true;
    }

   private:
    bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      if (!started_) return false;
      return cancel_ || write_pending_ || writes_done_pending_ ||
             (read_ != nullptr && (!outbound_.empty() || ended_)) ||
             (ended_ && outbound_.empty() && read_ == nullptr) ||
             (half_closed_ && !ended_ && !script_.hang);
    }

    void End(absl::Status status, bool drop_outbound)
        ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      if (ended_) return;
      ended_ = true;
      status_ = std::move(status);
      if (drop_outbound) outbound_.clear();
    }

    void Run() {
      while (true) {
        mu_.LockWhenWithDeadline(absl::Condition(this, &Stream::HasWork),
                                 deadline_);
        if (!started_) {  // nothing started: the deadline
          mu_.Unlock();
          if (absl::Now() < deadline_) continue;
          mu_.Lock();
          mu_.Await(absl::Condition(&started_));
        }
        if (absl::Now() >= deadline_) {
          End(absl::DeadlineExceededError("deadline"), true);
        }
        if (cancel_) {
          cancel_ = false;
          channel_->Record(index_,
                           [](RecordedStream& r) { r.cancelled = true; });
          End(absl::CancelledError("cancelled"), true);
        }
        if (write_pending_) {
          write_pending_ = false;
          const bool ok = !ended_;
          if (ok) TakeRequest(write_);
          mu_.Unlock();
          reactor_->OnWriteDone(ok);
          continue;
        }
        if (writes_done_pending_) {
          writes_done_pending_ = false;
          const bool ok = !ended_;
          if (ok) HalfClose();
          mu_.Unlock();
          reactor_->OnWritesDoneDone(ok);
          continue;
        }
        if (half_closed_ && !ended_ && !script_.hang) {
          for (const std::string& m : script_.at_end) outbound_.push_back(m);
          End(script_.status, false);
        }
        if (read_ != nullptr && !outbound_.empty()) {
          google::protobuf::MessageLite* target = std::exchange(read_, nullptr);
          const bool ok = target->ParseFromString(outbound_.front());
          outbound_.pop_front();
          mu_.Unlock();
          reactor_->OnReadDone(ok);
          continue;
        }
        if (read_ != nullptr && ended_) {
          read_ = nullptr;
          mu_.Unlock();
          reactor_->OnReadDone(false);
          continue;
        }
        if (ended_ && outbound_.empty() && read_ == nullptr) {
          if (options_.response_headers != nullptr) {
            *options_.response_headers = script_.headers;
            if (options_.response_metadata != nullptr) {
              *options_.response_metadata = script_.trailers;
            }
          } else if (options_.response_metadata != nullptr) {
            *options_.response_metadata = script_.headers;
            options_.response_metadata->insert(
                options_.response_metadata->end(), script_.trailers.begin(),
                script_.trailers.end());
          }
          absl::Status status = status_;
          mu_.Unlock();
          reactor_->OnDone(status);
          return;
        }
        mu_.Unlock();
      }
    }

    void TakeRequest(const std::string& request)
        ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      ++requests_;
      channel_->Record(
          index_, [&](RecordedStream& r) { r.requests.push_back(request); });
      if (script_.on_request) {
        for (std::string& m : script_.on_request(request)) {
          outbound_.push_back(std::move(m));
        }
      }
      if (script_.end_after_requests >= 0 &&
          requests_ >= script_.end_after_requests) {
        End(script_.status, false);
      }
      // A server-streaming call's one write half-closes.
      if (!rpc::ClientStreams(kind_)) HalfClose();
    }

    void HalfClose() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      half_closed_ = true;
      channel_->Record(index_, [](RecordedStream& r) { r.half_closed = true; });
    }

    ScriptedStreamChannel* const channel_;
    const size_t index_;
    const rpc::MethodKind kind_;
    const rpc::CallOptions options_;
    rpc::ClientStreamReactor* const reactor_;
    const StreamScript script_;
    const absl::Time deadline_;
    std::thread thread_;

    absl::Mutex mu_;
    bool started_ ABSL_GUARDED_BY(mu_) = false;
    google::protobuf::MessageLite* read_ ABSL_GUARDED_BY(mu_) = nullptr;
    std::string write_ ABSL_GUARDED_BY(mu_);
    bool write_pending_ ABSL_GUARDED_BY(mu_) = false;
    bool writes_done_pending_ ABSL_GUARDED_BY(mu_) = false;
    bool cancel_ ABSL_GUARDED_BY(mu_) = false;
    bool half_closed_ ABSL_GUARDED_BY(mu_) = false;
    bool ended_ ABSL_GUARDED_BY(mu_) = false;
    absl::Status status_ ABSL_GUARDED_BY(mu_);
    std::deque<std::string> outbound_ ABSL_GUARDED_BY(mu_);
    int requests_ ABSL_GUARDED_BY(mu_) = 0;
  };

  // A new entry in recorded_; its index.
  size_t streams_recorded() {
    absl::MutexLock lock(&mu_);
    recorded_.emplace_back();
    return recorded_.size() - 1;
  }
  void Record(size_t index, const std::function<void(RecordedStream&)>& edit) {
    absl::MutexLock lock(&mu_);
    edit(recorded_[index]);
  }

  const std::function<StreamScript(absl::string_view)> script_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Stream>> streams_ ABSL_GUARDED_BY(mu_);
  std::vector<RecordedStream> recorded_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dualrpc::cli

#endif  // DUALRPC_TESTS_CLI_SCRIPTED_STREAM_CHANNEL_H_
