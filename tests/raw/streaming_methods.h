#ifndef DUALRPC_TESTS_RAW_STREAMING_METHODS_H_
#define DUALRPC_TESTS_RAW_STREAMING_METHODS_H_

// Hand-written streaming methods for raw transport tests, built directly on
// rpc::ServerStreamReactor (the type-erased seam, no generated code). All
// take dualrpc.v1.EchoRequest and return dualrpc.v1.EchoResponse. Each
// reactor deletes itself in OnDone and reports what happened to a
// StreamProbe, which tests poll (with a timeout).

#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/rpc/stream.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/wait.h"

namespace dualrpc::raw {

// Server streaming. Request payload "N" or "N,SIZE": N responses; response
// i carries the decimal i, or with SIZE, SIZE bytes of the letter 'a' + i
// % 26. Then Finish(OK). A failed write finishes at once.
inline constexpr char kCount[] = "/dualrpc.test.Stream/Count";
// Client streaming: reads to the end; the response payload is "COUNT:BYTES"
// (requests read, their payload bytes in total).
inline constexpr char kSum[] = "/dualrpc.test.Stream/Sum";
// Bidi: writes back each request's payload, one at a time, then Finish(OK)
// with the trailer "echoed: COUNT" when the client half-closes.
inline constexpr char kBidiEcho[] = "/dualrpc.test.Stream/Echo";
// Bidi: echoes like kBidiEcho, but after two responses finishes with
// FAILED_PRECONDITION "failed after 2" without reading further.
inline constexpr char kFailAfterTwo[] = "/dualrpc.test.Stream/FailAfterTwo";
// Bidi: echoes like kBidiEcho, but starts every write and the Finish from a
// thread of its own, never the loop's (ServerStream is thread-safe).
inline constexpr char kOffLoopEcho[] = "/dualrpc.test.Stream/OffLoopEcho";
// Bidi: reads nothing, writes nothing and never finishes on its own: the
// test finishes it through StreamProbe::FinishParked (from its thread).
inline constexpr char kForever[] = "/dualrpc.test.Stream/Forever";

// What the reactors saw, across calls. Thread-safe.
class StreamProbe {
 public:
  void Record(std::string event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }
  void Park(rpc::ServerStream* stream) {
    absl::MutexLock lock(&mu_);
    parked_.push_back(stream);
  }
  // Finishes the oldest parked kForever call from the calling thread.
  bool FinishParked(absl::Status status) {
    rpc::ServerStream* stream = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (parked_.empty()) return false;
      stream = parked_.front();
      parked_.erase(parked_.begin());
    }
    stream->Finish(std::move(status));
    return true;
  }
  int Count(absl::string_view event) {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const std::string& e : events_) n += e == event;
    return n;
  }
  // True once `event` was recorded `n` times (polled up to kWaitTimeout).
  bool WaitFor(absl::string_view event, int n = 1) {
    return dualrpc_testing::Eventually([&] { return Count(event) >= n; });
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
  std::vector<rpc::ServerStream*> parked_ ABSL_GUARDED_BY(mu_);
};

namespace streaming_internal {

// Common bookkeeping: OnCancel and OnDone are recorded as "cancel <name>"
// and "done <name>"; OnDone deletes the reactor.
class ProbedReactor : public rpc::ServerStreamReactor {
 public:
  ProbedReactor(std::string name, rpc::ServerStream* stream,
                StreamProbe* probe)
      : name_(std::move(name)), stream_(stream), probe_(probe) {}
  void OnCancel() override { probe_->Record("cancel " + name_); }
  void OnDone() override {
    probe_->Record("done " + name_);
    delete this;
  }

 protected:
  const std::string name_;
  rpc::ServerStream* const stream_;
  StreamProbe* const probe_;
};

class CountReactor final : public ProbedReactor {
 public:
  CountReactor(rpc::ServerStream* stream, StreamProbe* probe,
               const v1::EchoRequest& request)
      : ProbedReactor("count", stream, probe) {
    std::vector<std::string> parts = absl::StrSplit(request.payload(), ',');
    if (!absl::SimpleAtoi(parts[0], &total_) ||
        (parts.size() > 1 && !absl::SimpleAtoi(parts[1], &size_))) {
      stream_->Finish(absl::InvalidArgumentError("want N or N,SIZE"));
      return;
    }
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      stream_->Finish(absl::OkStatus());  // Dropped: the call is over.
      return;
    }
    Next();
  }

 private:
  void Next() {
    if (sent_ == total_) {
      stream_->Finish(absl::OkStatus());
      return;
    }
    response_.set_payload(
        size_ == 0 ? absl::StrCat(sent_)
                   : std::string(size_, static_cast<char>('a' + sent_ % 26)));
    ++sent_;
    stream_->StartWrite(response_);
  }

  int total_ = 0;
  std::size_t size_ = 0;
  int sent_ = 0;
  v1::EchoResponse response_;
};

class SumReactor final : public ProbedReactor {
 public:
  SumReactor(rpc::ServerStream* stream, StreamProbe* probe,
             v1::EchoResponse* response)
      : ProbedReactor("sum", stream, probe), response_(response) {
    stream_->StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      response_->set_payload(absl::StrCat(count_, ":", bytes_));
      stream_->Finish(absl::OkStatus());
      return;
    }
    ++count_;
    bytes_ += request_.payload().size();
    stream_->StartRead(&request_);
  }

 private:
  v1::EchoResponse* const response_;
  v1::EchoRequest request_;
  int count_ = 0;
  std::size_t bytes_ = 0;
};

class EchoReactor final : public ProbedReactor {
 public:
  EchoReactor(rpc::ServerStream* stream, StreamProbe* probe, int fail_after)
      : ProbedReactor(fail_after < 0 ? "echo" : "fail", stream, probe),
        fail_after_(fail_after) {
    stream_->StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      stream_->AddResponseMetadata("echoed", absl::StrCat(echoed_));
      stream_->Finish(absl::OkStatus());
      return;
    }
    response_.set_payload(request_.payload());
    stream_->StartWrite(response_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      stream_->Finish(absl::OkStatus());
      return;
    }
    if (++echoed_ == fail_after_) {
      stream_->Finish(absl::FailedPreconditionError(
          absl::StrCat("failed after ", fail_after_)));
      return;
    }
    stream_->StartRead(&request_);
  }

 private:
  const int fail_after_;
  v1::EchoRequest request_;
  v1::EchoResponse response_;
  int echoed_ = 0;
};

class OffLoopEchoReactor final : public ProbedReactor {
 public:
  OffLoopEchoReactor(rpc::ServerStream* stream, StreamProbe* probe)
      : ProbedReactor("offloop", stream, probe) {
    stream_->StartRead(&request_);
  }
  ~OffLoopEchoReactor() override {
    if (worker_.joinable()) worker_.join();
  }
  void OnReadDone(bool ok) override {
    // The previous worker's StartWrite completed (its OnWriteDone led
    // here), so it is finishing or gone.
    if (worker_.joinable()) worker_.join();
    if (!ok) {
      worker_ = std::thread([this] { stream_->Finish(absl::OkStatus()); });
      return;
    }
    response_.set_payload(request_.payload());
    worker_ = std::thread([this] { stream_->StartWrite(response_); });
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      if (worker_.joinable()) worker_.join();
      worker_ = std::thread([this] { stream_->Finish(absl::OkStatus()); });
      return;
    }
    stream_->StartRead(&request_);
  }

 private:
  v1::EchoRequest request_;
  v1::EchoResponse response_;
  std::thread worker_;
};

class ForeverReactor final : public ProbedReactor {
 public:
  ForeverReactor(rpc::ServerStream* stream, StreamProbe* probe)
      : ProbedReactor("forever", stream, probe) {
    probe_->Park(stream);
  }
};

}  // namespace streaming_internal

// Registers every method above, reporting to `probe` (which must outlive
// the servers that serve them).
inline void AddStreamingMethods(StreamProbe* probe,
                                rpc::ServiceRegistry* registry) {
  using streaming_internal::CountReactor;
  using streaming_internal::EchoReactor;
  using streaming_internal::ForeverReactor;
  using streaming_internal::OffLoopEchoReactor;
  using streaming_internal::SumReactor;
  auto shell = [](std::string path, rpc::MethodKind kind) {
    return rpc::internal::StreamingMethodShell<v1::EchoRequest,
                                               v1::EchoResponse>(
        std::move(path), kind);
  };
  rpc::Method count = shell(kCount, rpc::MethodKind::kServerStreaming);
  count.start_stream = [probe](rpc::ServerStream* stream,
                               const google::protobuf::Message* request,
                               google::protobuf::Message*) {
    return new CountReactor(stream, probe,
                            static_cast<const v1::EchoRequest&>(*request));
  };
  rpc::Method sum = shell(kSum, rpc::MethodKind::kClientStreaming);
  sum.start_stream = [probe](rpc::ServerStream* stream,
                             const google::protobuf::Message*,
                             google::protobuf::Message* response) {
    return new SumReactor(stream, probe,
                          static_cast<v1::EchoResponse*>(response));
  };
  auto bidi = [&](std::string path, int fail_after) {
    rpc::Method method = shell(std::move(path), rpc::MethodKind::kBidiStreaming);
    method.start_stream = [probe, fail_after](
                              rpc::ServerStream* stream,
                              const google::protobuf::Message*,
                              google::protobuf::Message*) {
      return new EchoReactor(stream, probe, fail_after);
    };
    return method;
  };
  rpc::Method off_loop = shell(kOffLoopEcho, rpc::MethodKind::kBidiStreaming);
  off_loop.start_stream = [probe](rpc::ServerStream* stream,
                                  const google::protobuf::Message*,
                                  google::protobuf::Message*) {
    return new OffLoopEchoReactor(stream, probe);
  };
  rpc::Method forever = shell(kForever, rpc::MethodKind::kBidiStreaming);
  forever.start_stream = [probe](rpc::ServerStream* stream,
                                 const google::protobuf::Message*,
                                 google::protobuf::Message*) {
    return new ForeverReactor(stream, probe);
  };
  std::vector<rpc::Method> methods;
  methods.push_back(std::move(count));
  methods.push_back(std::move(sum));
  methods.push_back(bidi(kBidiEcho, -1));
  methods.push_back(bidi(kFailAfterTwo, 2));
  methods.push_back(std::move(off_loop));
  methods.push_back(std::move(forever));
  ASSERT_THAT(registry->AddMethods(std::move(methods)),
              dualrpc_testing::IsOk());
}

}  // namespace dualrpc::raw

#endif  // DUALRPC_TESTS_RAW_STREAMING_METHODS_H_
